using System.Net.Http;
using ActorCluster.Cluster.ApiServer;
using ActorCluster.Cluster.Replica;
using ActorCluster.Core.Objects;
using Akka.Actor;
using k8s.Models;

namespace ActorCluster.Cluster.Tests;

/// <summary>Three ActorSystems joined in this process: the control plane end to end over real remoting and sockets.</summary>
public sealed class ControlPlaneClusterTests : IAsyncLifetime
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);
    private static readonly HttpClient Http = new() { Timeout = TimeSpan.FromSeconds(5) };
    private TestCluster _cluster = null!;

    public async Task InitializeAsync() => _cluster = await TestCluster.StartAsync(3);

    public async Task DisposeAsync()
    {
        await _cluster.DisposeAsync();
        _cluster.DeleteData();
    }


    private async Task<V1Pod> RunningPod(string name) 
    {
        V1Pod? pod = null;
        await TestCluster.Eventually(async () =>
        {
            pod = await _cluster.TryGet<V1Pod>(ResourceKind.Pod, "default", name);
            return pod?.Status?.Phase == "Running" && pod.Status.PodIP is not null;
        }, Wait, $"{name} Running");
        return pod!;
    }

    private async Task<IReadOnlyList<string>> ReadyAddresses(string service)
    {
        var ep = await _cluster.TryGet<V1Endpoints>(ResourceKind.Endpoints, "default", service);
        return ep?.Subsets?.SelectMany(s => s.Addresses ?? []).Select(a => a.Ip).Order().ToList() ?? [];
    }

    [Fact]
    public async Task Pods_are_scheduled_by_node_selector_run_on_their_ip_and_endpoints_follow_them()
    {
        var created = await _cluster.Create<V1Pod>(ResourceKind.Pod, TestCluster.Seed("pod-1.yaml"));
        Assert.Equal("k8s-worker1", created.Spec.NodeName);
        Assert.False(string.IsNullOrEmpty(created.Metadata.Uid));
        Assert.Equal("1", created.Metadata.Generation?.ToString(System.Globalization.CultureInfo.InvariantCulture));

        var pod1 = await RunningPod("pod-1");
        Assert.StartsWith(_cluster.PodPrefix + ".1.", pod1.Status.PodIP, StringComparison.Ordinal);
        Assert.Equal(["Initialized", "Ready", "ContainersReady"], pod1.Status.Conditions.Where(c => c.Type != "PodScheduled").Select(c => c.Type));
        Assert.True(pod1.Status.ContainerStatuses.Single().Ready);
        Assert.Equal("pod-1\n", await Http.GetStringAsync($"http://{pod1.Status.PodIP}:8080/hostname"));
        Assert.Contains("node: k8s-worker1", await Http.GetStringAsync($"http://{pod1.Status.PodIP}:8080/"), StringComparison.Ordinal);
        Assert.Equal("ok\n", await Http.GetStringAsync($"http://{pod1.Status.PodIP}:8080/health"));
        // /client shows the caller's own address and port as the pod sees them.
        var client = (await Http.GetStringAsync($"http://{pod1.Status.PodIP}:8080/client")).Trim();
        Assert.Matches(@"^127\.0\.0\.1:\d+$", client); // the test's own address

        await _cluster.Create<V1Service>(ResourceKind.Service, TestCluster.Seed("svc-1-clusterip.yaml"));
        await TestCluster.Eventually(async () => (await ReadyAddresses("svc-1")).SequenceEqual([pod1.Status.PodIP]), Wait, "svc-1 -> pod-1");

        await _cluster.Create<V1Pod>(ResourceKind.Pod, TestCluster.Seed("pod-2.yaml"));
        var pod2 = await RunningPod("pod-2");
        Assert.Equal("k8s-worker2", pod2.Spec.NodeName);
        await TestCluster.Eventually(async () => (await ReadyAddresses("svc-1")).Count == 2, Wait, "svc-1 -> both pods");

        // Every node's replica has the service and its slice; node 3 runs no pods.
        await TestCluster.Eventually(async () =>
        {
            var stats = await TestCluster.Ask<ReplicaStats>(_cluster[2].Replica, GetReplicaStats.Instance);
            return stats.Synced && stats.ChangesApplied > 0;
        }, Wait, "node 3 replica applying changes");

        // Delete: the endpoint goes, the workload stops, the object is removed.
        var deleted = await TestCluster.Ask<object>(_cluster[1].ApiServer, new DeleteObject("pods", "default", "pod-1", null));
        Assert.IsType<ObjectReply>(deleted);
        await TestCluster.Eventually(async () => await _cluster.TryGet<V1Pod>(ResourceKind.Pod, "default", "pod-1") is null, Wait, "pod-1 removed");
        Assert.Equal([pod2.Status.PodIP], await ReadyAddresses("svc-1"));
        await Assert.ThrowsAsync<HttpRequestException>(() => Http.GetStringAsync($"http://{pod1.Status.PodIP}:8080/hostname"));

        // Recreated, pod-1 comes back on a new address and the service follows.
        await _cluster.Create<V1Pod>(ResourceKind.Pod, TestCluster.Seed("pod-1.yaml"));
        var again = await RunningPod("pod-1");
        Assert.NotEqual(pod1.Status.PodIP, again.Status.PodIP);
        await TestCluster.Eventually(async () => (await ReadyAddresses("svc-1")).Contains(again.Status.PodIP), Wait, "svc-1 -> new pod-1");
    }

    [Fact]
    public async Task An_unschedulable_pod_stays_pending_with_kubernetes_reason()
    {
        var pod = TestCluster.Seed("pod-1.yaml").Replace("pod-1", "lost", StringComparison.Ordinal).Replace("k8s-worker1", "k8s-worker9", StringComparison.Ordinal);
        var created = await _cluster.Create<V1Pod>(ResourceKind.Pod, pod);
        Assert.Equal("Pending", created.Status.Phase);
        var scheduled = created.Status.Conditions.Single(c => c.Type == "PodScheduled");
        Assert.Equal("Unschedulable", scheduled.Reason);
        Assert.Equal("0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector.", scheduled.Message);
    }

    [Fact]
    public async Task An_unknown_image_fails_the_container_with_a_clear_reason()
    {
        var pod = TestCluster.Seed("pod-1.yaml").Replace("pod-1", "nginx", StringComparison.Ordinal).Replace("kubetm/app", "nginx:1.27", StringComparison.Ordinal);
        await _cluster.Create<V1Pod>(ResourceKind.Pod, pod);
        V1Pod? stored = null;
        await TestCluster.Eventually(async () =>
        {
            stored = await _cluster.TryGet<V1Pod>(ResourceKind.Pod, "default", "nginx");
            return stored?.Status?.ContainerStatuses is { Count: 1 };
        }, Wait, "nginx container status");
        var waiting = stored!.Status.ContainerStatuses[0].State.Waiting;
        Assert.Equal("ErrImagePull", waiting.Reason);
        Assert.Equal("image \"nginx:1.27\" is not available: ActorCluster runs the built-in image kubetm/app only", waiting.Message);
        Assert.Equal("Pending", stored.Status.Phase);
    }

    [Fact]
    public async Task A_node_leaving_removes_its_endpoints()
    {
        await _cluster.Create<V1Service>(ResourceKind.Service, TestCluster.Seed("svc-1-clusterip.yaml"));
        await _cluster.Create<V1Pod>(ResourceKind.Pod, TestCluster.Seed("pod-1.yaml"));
        await _cluster.Create<V1Pod>(ResourceKind.Pod, TestCluster.Seed("pod-2.yaml"));
        var pod1 = await RunningPod("pod-1");
        await RunningPod("pod-2");
        await TestCluster.Eventually(async () => (await ReadyAddresses("svc-1")).Count == 2, Wait, "two endpoints");

        await _cluster[1].StopAsync(); // k8s-worker2 leaves the cluster
        await TestCluster.Eventually(async () => (await ReadyAddresses("svc-1")).SequenceEqual([pod1.Status.PodIP]), Wait, "only pod-1 left");
        var node = await _cluster.TryGet<V1Node>(ResourceKind.Node, null, "k8s-worker2");
        Assert.Equal("False", node!.Status.Conditions.Single(c => c.Type == "Ready").Status);
    }
}
