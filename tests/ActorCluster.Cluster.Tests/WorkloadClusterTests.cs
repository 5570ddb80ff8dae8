using ActorCluster.Core.Objects;
using k8s.Models;

namespace ActorCluster.Cluster.Tests;

/// <summary>
/// A Deployment on a real three-node cluster (in this process): its pods spread over the nodes, and when a node goes
/// away for longer than the pods tolerate, its pod is evicted and the ReplicaSet replaces it on a node still there.
/// </summary>
public sealed class WorkloadClusterTests : IAsyncLifetime
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(60);
    private TestCluster _cluster = null!;

    // Pods tolerate a lost node for 2 s; the controllers look every second.
    public async Task InitializeAsync() => _cluster = await TestCluster.StartAsync(3, extraHocon: """
        actorcluster.apiserver.default-toleration-seconds = 2
        actorcluster.apiserver.resync-interval = 1s
        """);

    public async Task DisposeAsync() => await _cluster.DisposeAsync();

    private async Task<List<V1Pod>> Pods(int via) =>
        (await TestCluster.ListAll(_cluster[via].ApiServer, "pods", "default")).Select(i => KubeObjects.FromJson<V1Pod>(i.Json))
        .Where(p => p.Metadata.Labels?.TryGetValue("app", out var app) == true && app == "web").ToList();

    private static bool Running(V1Pod p) =>
        p.Metadata.DeletionTimestamp is null && p.Status?.Conditions?.Any(c => c.Type == "Ready" && c.Status == "True") == true;

    [Fact]
    public async Task A_replica_sets_pod_on_a_node_that_is_gone_is_replaced_on_the_others()
    {
        await _cluster.Create<V1Deployment>(ResourceKind.Deployment, """
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: web}
            spec:
              replicas: 3
              selector: {matchLabels: {app: web}}
              template:
                metadata: {labels: {app: web}}
                spec: {containers: [{name: app, image: kubetm/app, ports: [{containerPort: 8080}]}]}
            """);
        List<V1Pod> pods = [];
        await TestCluster.Eventually(async () => (pods = await Pods(0)).Count(Running) == 3, Wait, "three running pods");
        Assert.Equal(["k8s-worker1", "k8s-worker2", "k8s-worker3"], pods.Select(p => p.Spec.NodeName).Order(StringComparer.Ordinal));
        var lost = pods.Single(p => p.Spec.NodeName == "k8s-worker3");

        await _cluster[2].System.Terminate();
        await TestCluster.Eventually(async () =>
        {
            pods = await Pods(0);
            return pods.All(p => p.Metadata.Uid != lost.Metadata.Uid) && pods.Count(Running) == 3 && pods.All(p => p.Spec.NodeName != "k8s-worker3");
        }, Wait, "the lost pod replaced on the nodes still there");
        var events = (await TestCluster.ListAll(_cluster[0].ApiServer, "events", "default")).Select(i => KubeObjects.FromJson<Corev1Event>(i.Json)).ToList();
        Assert.Contains(events, e => e.Reason == "TaintManagerEviction" && e.InvolvedObject.Name == lost.Metadata.Name);
        var node = await _cluster.TryGet<V1Node>(ResourceKind.Node, null, "k8s-worker3");
        Assert.Contains(node!.Spec.Taints, t => t.Key == "node.kubernetes.io/not-ready" && t.Effect == "NoExecute");
    }
}
