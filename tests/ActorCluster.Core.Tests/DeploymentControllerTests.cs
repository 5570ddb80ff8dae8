using ActorCluster.Core.Allocation;
using ActorCluster.Core.ControlPlane;
using ActorCluster.Core.Objects;
using ActorCluster.Core.Store;
using ActorCluster.Core.Workloads;
using k8s.Models;

namespace ActorCluster.Core.Tests;

/// <summary>
/// Deployments and ReplicaSets through the control plane's decisions, as the ApiServer drives them: a write, the
/// controllers that follow it in the same decision, and the nodes' reports (pods becoming Ready) that move a rollout.
/// </summary>
public class DeploymentControllerTests
{
    private DateTime _now = new(2026, 12, 6, 12, 0, 0, DateTimeKind.Utc);
    private int _uid;
    private long _rv;
    private readonly ControlPlane.ControlPlane _cp;

    public DeploymentControllerTests()
    {
        _cp = new ControlPlane.ControlPlane(new ControlPlaneConfig(ServiceNetworkConfig.Default, [], DefaultTolerationSeconds: 30), () => _now, () => "uid-" + ++_uid);
        Commit(_cp.Bootstrap());
        foreach (var i in new[] { 1, 2, 3 }) Commit(_cp.RegisterNode($"k8s-worker{i}", $"127.0.1.{i}"));
    }

    private Decision Commit(Decision d)
    {
        Assert.True(d.Ok, d.Error?.KubectlMessage());
        _rv++;
        foreach (var change in d.Changes)
        {
            change.Object.Object.Metadata.ResourceVersion = _rv.ToString(System.Globalization.CultureInfo.InvariantCulture);
            _cp.Apply(change, _rv);
        }
        d.Transaction.Commit();
        return d;
    }

    private const string Manifest = """
        apiVersion: apps/v1
        kind: Deployment
        metadata: {name: web}
        spec:
          replicas: 3
          selector: {matchLabels: {app: web}}
          template:
            metadata: {labels: {app: web}}
            spec:
              containers: [{name: app, image: kubetm/app, ports: [{containerPort: 8080}]}]
        """;

    private static V1Deployment Parse(string yaml) => (V1Deployment)KubeObjects.LoadAll(yaml).Single();

    /// <summary>A copy of the stored Deployment (stored objects are never changed in place).</summary>
    private V1Deployment Deployment() => KubeObjects.Clone(_cp.Store.Get<V1Deployment>(ResourceKind.Deployment, "default", "web")!);

    private List<V1ReplicaSet> ReplicaSets() => _cp.Store.All<V1ReplicaSet>(ResourceKind.ReplicaSet).OrderBy(r => r.Metadata.CreationTimestamp).ThenBy(r => DeploymentController.Revision(r)).ToList();

    private List<V1Pod> Pods() => _cp.Store.All<V1Pod>(ResourceKind.Pod).Where(p => p.Metadata.Name.StartsWith("web-", StringComparison.Ordinal)).ToList();

    /// <summary>Every pod's node reports it Running and Ready, as a kubelet does.</summary>
    private void PodsBecomeReady(int max = int.MaxValue)
    {
        foreach (var pod in Pods().Where(p => p.Metadata.DeletionTimestamp is null && !ControllerRefs.IsReady(p)).Take(max).ToList())
        {
            Commit(_cp.ReportPodStatus("default", pod.Metadata.Name, pod.Metadata.Uid, new V1PodStatus
            {
                Phase = "Running", PodIP = "127.244.1.9", PodIPs = [new V1PodIP { Ip = "127.244.1.9" }],
                Conditions = [new V1PodCondition { Type = "Ready", Status = "True", LastTransitionTime = _now }],
            }));
        }
    }

    /// <summary>Every pod marked for deletion is confirmed stopped by its node.</summary>
    private void TerminatingPodsStop()
    {
        foreach (var pod in Pods().Where(p => p.Metadata.DeletionTimestamp is not null).ToList())
            Commit(_cp.PodTerminated("default", pod.Metadata.Name, pod.Metadata.Uid));
    }

    [Fact]
    public void A_deployment_creates_its_replica_set_and_pods_in_the_same_write()
    {
        var d = Commit(_cp.Create(ResourceKind.Deployment, "default", Parse(Manifest)));
        Assert.Equal(ResourceKind.Deployment, d.Reply!.Kind);
        var rs = Assert.Single(ReplicaSets());
        var hash = rs.Metadata.Labels[PodTemplateHash.Label];
        Assert.Equal($"web-{hash}", rs.Metadata.Name);
        Assert.Equal("web", rs.Metadata.OwnerReferences.Single(o => o.Controller == true).Name);
        Assert.Equal(3, rs.Spec.Replicas);
        Assert.Equal(new Dictionary<string, string> { ["app"] = "web", [PodTemplateHash.Label] = hash }, rs.Spec.Selector.MatchLabels);
        Assert.Equal("1", rs.Metadata.Annotations[DeploymentController.RevisionAnnotation]);
        Assert.Equal(("3", "4"), (rs.Metadata.Annotations[DeploymentController.DesiredReplicasAnnotation], rs.Metadata.Annotations[DeploymentController.MaxReplicasAnnotation]));
        var pods = Pods();
        Assert.Equal(3, pods.Count);
        Assert.All(pods, p =>
        {
            Assert.StartsWith($"web-{hash}-", p.Metadata.Name, StringComparison.Ordinal);
            Assert.Equal(hash, p.Metadata.Labels[PodTemplateHash.Label]);
            Assert.Equal(rs.Metadata.Uid, p.Metadata.OwnerReferences.Single().Uid);
            Assert.False(string.IsNullOrEmpty(p.Spec.NodeName));
        });
        Assert.Equal(3, pods.Select(p => p.Spec.NodeName).Distinct().Count());
        var deployment = Deployment();
        Assert.Equal("1", deployment.Metadata.Annotations[DeploymentController.RevisionAnnotation]);
        Assert.Equal(3, deployment.Status.Replicas);
        Assert.Null(deployment.Status.AvailableReplicas);
        Assert.Equal(("False", "MinimumReplicasUnavailable"), Condition(deployment, "Available"));
        var events = _cp.Store.All<Corev1Event>(ResourceKind.Event).Select(e => (e.Reason, e.Message)).ToList();
        Assert.Contains(("ScalingReplicaSet", $"Scaled up replica set web-{hash} from 0 to 3"), events);
        Assert.Equal(3, events.Count(e => e.Reason == "SuccessfulCreate"));

        PodsBecomeReady();
        deployment = Deployment();
        Assert.Equal((3, 3, 3), (deployment.Status.ReadyReplicas, deployment.Status.AvailableReplicas, deployment.Status.UpdatedReplicas));
        Assert.Equal(("True", "MinimumReplicasAvailable"), Condition(deployment, "Available"));
        Assert.Equal(("True", "NewReplicaSetAvailable"), Condition(deployment, "Progressing"));
        Assert.Equal($"ReplicaSet \"web-{hash}\" has successfully progressed.", deployment.Status.Conditions.Single(c => c.Type == "Progressing").Message);
    }

    private static (string, string) Condition(V1Deployment d, string type) =>
        d.Status.Conditions.Where(c => c.Type == type).Select(c => (c.Status, c.Reason)).Single();

    [Fact]
    public void A_rolling_update_stays_within_surge_and_availability_at_every_step_and_keeps_history()
    {
        Commit(_cp.Create(ResourceKind.Deployment, "default", Parse(Manifest)));
        PodsBecomeReady();
        var first = Assert.Single(ReplicaSets());

        var changed = Deployment();
        changed.Spec.Template.Spec.Containers[0].Image = "kubetm/app:v2";
        Commit(_cp.Update(ResourceKind.Deployment, "default", "web", changed));
        Assert.Equal(2, Deployment().Metadata.Generation);
        // 25% of 3: one pod over, none under. Each step: the new pod becomes Ready, its node stops the old one.
        for (var step = 0; step < 10; step++)
        {
            var active = Pods().Where(p => p.Metadata.DeletionTimestamp is null).ToList();
            Assert.True(ReplicaSets().Sum(r => r.Spec.Replicas ?? 0) <= 4, $"step {step}: more than replicas + maxSurge");
            Assert.True(active.Count(ControllerRefs.IsReady) >= 3, $"step {step}: fewer than replicas - maxUnavailable ready");
            PodsBecomeReady(max: 1);
            TerminatingPodsStop();
        }
        var sets = ReplicaSets();
        Assert.Equal(2, sets.Count);
        var second = sets.Single(r => r.Metadata.Uid != first.Metadata.Uid);
        Assert.Equal((0, 3), (sets.Single(r => r.Metadata.Uid == first.Metadata.Uid).Spec.Replicas, second.Spec.Replicas));
        Assert.Equal("2", second.Metadata.Annotations[DeploymentController.RevisionAnnotation]);
        Assert.All(Pods(), p => Assert.Equal("kubetm/app:v2", p.Spec.Containers[0].Image));
        Assert.Equal(("True", "NewReplicaSetAvailable"), Condition(Deployment(), "Progressing"));

        // Back to the first template (what kubectl rollout undo writes): the old ReplicaSet is the new one again,
        // with the next revision and its old one in the history.
        var undo = Deployment();
        undo.Spec.Template.Spec.Containers[0].Image = "kubetm/app";
        Commit(_cp.Update(ResourceKind.Deployment, "default", "web", undo));
        var reused = ReplicaSets().Single(r => r.Metadata.Uid == first.Metadata.Uid);
        Assert.Equal("3", reused.Metadata.Annotations[DeploymentController.RevisionAnnotation]);
        Assert.Equal("1", reused.Metadata.Annotations[DeploymentController.RevisionHistoryAnnotation]);
        Assert.Equal(2, ReplicaSets().Count);
    }

    [Fact]
    public void Recreate_removes_every_old_pod_before_the_first_new_one()
    {
        Commit(_cp.Create(ResourceKind.Deployment, "default", Parse(Manifest.Replace("replicas: 3", "replicas: 2\n  strategy: {type: Recreate}", StringComparison.Ordinal))));
        PodsBecomeReady();
        var changed = Deployment();
        changed.Spec.Template.Spec.Containers[0].Image = "kubetm/app:v2";
        Commit(_cp.Update(ResourceKind.Deployment, "default", "web", changed));
        Assert.Single(ReplicaSets());
        Assert.All(Pods(), p => Assert.NotNull(p.Metadata.DeletionTimestamp));
        TerminatingPodsStop();
        Assert.Equal(2, ReplicaSets().Count);
        Assert.Equal(2, Pods().Count(p => p.Spec.Containers[0].Image == "kubetm/app:v2"));
        Assert.Equal(("False", "MinimumReplicasUnavailable"), Condition(Deployment(), "Available"));
    }

    [Fact]
    public void A_deleted_pod_is_replaced_at_once_and_scaling_down_removes_pods_that_are_not_ready_first()
    {
        Commit(_cp.Create(ResourceKind.Deployment, "default", Parse(Manifest)));
        PodsBecomeReady(max: 2);
        var ready = Pods().Where(ControllerRefs.IsReady).ToList();
        Commit(_cp.Delete(ResourceKind.Pod, "default", ready[0].Metadata.Name));
        Assert.Equal(3, Pods().Count(p => p.Metadata.DeletionTimestamp is null));

        var scaled = Deployment();
        scaled.Spec.Replicas = 1;
        Commit(_cp.Update(ResourceKind.Deployment, "default", "web", scaled));
        var remaining = Assert.Single(Pods(), p => p.Metadata.DeletionTimestamp is null);
        Assert.Equal(ready[1].Metadata.Name, remaining.Metadata.Name);
        Assert.Equal(1, ReplicaSets().Single().Spec.Replicas);
        Assert.Equal("1", ReplicaSets().Single().Metadata.Annotations[DeploymentController.DesiredReplicasAnnotation]);
    }

    [Fact]
    public void Deleting_a_deployment_takes_its_replica_sets_and_pods_unless_they_are_orphaned()
    {
        Commit(_cp.Create(ResourceKind.Deployment, "default", Parse(Manifest)));
        Commit(_cp.Delete(ResourceKind.Deployment, "default", "web", propagation: DeletePropagation.Orphan));
        var orphan = Assert.Single(ReplicaSets());
        Assert.Null(orphan.Metadata.OwnerReferences);
        Assert.Equal(3, Pods().Count(p => p.Metadata.DeletionTimestamp is null));

        // A new Deployment with the same selector adopts it.
        Commit(_cp.Create(ResourceKind.Deployment, "default", Parse(Manifest)));
        Assert.Equal(Deployment().Metadata.Uid, Assert.Single(ReplicaSets()).Metadata.OwnerReferences.Single().Uid);

        Commit(_cp.Delete(ResourceKind.Deployment, "default", "web"));
        Assert.Empty(ReplicaSets());
        Assert.All(Pods(), p => Assert.NotNull(p.Metadata.DeletionTimestamp));
        TerminatingPodsStop();
        Assert.Empty(Pods());
    }

    [Fact]
    public void A_replica_set_adopts_orphan_pods_its_selector_matches_instead_of_creating_more()
    {
        var pod = Yaml.Pod("""
            apiVersion: v1
            kind: Pod
            metadata: {name: lone, labels: {app: rs}}
            spec: {containers: [{name: app, image: kubetm/app}]}
            """);
        Commit(_cp.Create(ResourceKind.Pod, "default", pod));
        var rs = (V1ReplicaSet)KubeObjects.LoadAll("""
            apiVersion: apps/v1
            kind: ReplicaSet
            metadata: {name: rs}
            spec:
              replicas: 2
              selector: {matchLabels: {app: rs}}
              template:
                metadata: {labels: {app: rs}}
                spec: {containers: [{name: app, image: kubetm/app}]}
            """).Single();
        Commit(_cp.Create(ResourceKind.ReplicaSet, "default", rs));
        var pods = _cp.Store.All<V1Pod>(ResourceKind.Pod).Where(p => p.Metadata.Labels?.TryGetValue("app", out var app) == true && app == "rs").ToList();
        Assert.Equal(2, pods.Count);
        Assert.Equal("rs", pods.Single(p => p.Metadata.Name == "lone").Metadata.OwnerReferences.Single().Name);
        Assert.Equal(2, _cp.Store.Get<V1ReplicaSet>(ResourceKind.ReplicaSet, "default", "rs")!.Status.Replicas);
    }

    [Fact]
    public void Pods_on_a_lost_node_are_evicted_after_their_toleration_and_replaced_on_the_others()
    {
        Commit(_cp.Create(ResourceKind.Deployment, "default", Parse(Manifest)));
        PodsBecomeReady();
        var before = Pods().Select(p => p.Metadata.Uid).ToHashSet();
        var lost = Pods().Single(p => p.Spec.NodeName == "k8s-worker3");
        Assert.Contains(lost.Spec.Tolerations, t => t.Key == "node.kubernetes.io/unreachable" && t.Effect == "NoExecute" && t.TolerationSeconds == 30);

        Commit(_cp.SetNodeReady("k8s-worker3", "Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status."));
        var node = _cp.Store.Get<V1Node>(ResourceKind.Node, "", "k8s-worker3")!;
        Assert.Equal([("node.kubernetes.io/unreachable", "NoSchedule"), ("node.kubernetes.io/unreachable", "NoExecute")], node.Spec.Taints.Select(t => (t.Key, t.Effect)));
        Assert.Equal(_now, node.Spec.Taints.Single(t => t.Effect == "NoExecute").TimeAdded);

        // Still tolerated 29 s later: the pod stays (not ready), nothing is replaced.
        _now = _now.AddSeconds(29);
        Commit(_cp.Resync());
        Assert.Contains(Pods(), p => p.Metadata.Uid == lost.Metadata.Uid);
        Assert.Equal(3, Pods().Count);

        _now = _now.AddSeconds(1);
        Commit(_cp.Resync());
        Assert.DoesNotContain(Pods(), p => p.Metadata.Uid == lost.Metadata.Uid);
        var replacement = Assert.Single(Pods(), p => !before.Contains(p.Metadata.Uid));
        Assert.NotEqual("k8s-worker3", replacement.Spec.NodeName);
        Assert.Equal(3, Pods().Count);
        Assert.Contains(_cp.Store.All<Corev1Event>(ResourceKind.Event), e => e.Reason == "TaintManagerEviction" && e.Message == $"Marking for deletion Pod default/{lost.Metadata.Name}");

        // Back: the taints go.
        Commit(_cp.RegisterNode("k8s-worker3", "127.0.1.3"));
        Assert.Null(_cp.Store.Get<V1Node>(ResourceKind.Node, "", "k8s-worker3")!.Spec.Taints);
    }

    [Fact]
    public void A_replica_set_that_cannot_be_created_is_reported_and_the_write_still_succeeds()
    {
        // A valid Deployment name so long that "<name>-<hash>" is no valid ReplicaSet name.
        var name = string.Join(".", Enumerable.Repeat(new string('a', 62), 4)) + ".b";
        var d = Commit(_cp.Create(ResourceKind.Deployment, "default", Parse(Manifest.Replace("name: web", $"name: {name}", StringComparison.Ordinal))));
        Assert.Empty(_cp.Store.All<V1ReplicaSet>(ResourceKind.ReplicaSet));
        Assert.Contains(_cp.Store.All<Corev1Event>(ResourceKind.Event), e => e.Reason == "FailedCreate" && e.Message.Contains("ReplicaSet.apps", StringComparison.Ordinal));
        Assert.Equal(1, _cp.Store.Get<V1Deployment>(ResourceKind.Deployment, "default", name)!.Status.ObservedGeneration);
        Assert.NotNull(d.Reply);
        // And the periodic resync does not fail on it either.
        Commit(_cp.Resync());
    }

    [Theory]
    [InlineData("replicas: 3", "replicas: -1", "spec.replicas: Invalid value: -1: must be greater than or equal to 0")]
    [InlineData("{app: web}}\n  template", "{app: other}}\n  template", "spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"web\"}: `selector` does not match template `labels`")]
    [InlineData("replicas: 3", "replicas: 3\n  strategy: {type: Recreate, rollingUpdate: {maxSurge: 1}}", "spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'")]
    [InlineData("replicas: 3", "replicas: 3\n  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: 0, maxUnavailable: 0}}", "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: 0: may not be 0 when `maxSurge` is 0")]
    [InlineData("replicas: 3", "replicas: 3\n  strategy: {type: RollingUpdate, rollingUpdate: {maxUnavailable: \"120%\"}}", "spec.strategy.rollingUpdate.maxUnavailable: Invalid value: \"120%\": must not be greater than 100%")]
    [InlineData("replicas: 3", "replicas: 3\n  strategy: {type: RollingUpdate, rollingUpdate: {maxSurge: \"x\"}}", "spec.strategy.rollingUpdate.maxSurge: Invalid value: \"x\": must be an integer or percentage (e.g '5%')")]
    [InlineData("replicas: 3", "replicas: 3\n  strategy: {type: Blue}", "spec.strategy.type: Unsupported value: \"Blue\": supported values: \"Recreate\", \"RollingUpdate\"")]
    [InlineData("replicas: 3", "replicas: 3\n  progressDeadlineSeconds: 5\n  minReadySeconds: 5", "spec.progressDeadlineSeconds: Invalid value: 5: must be greater than minReadySeconds")]
    [InlineData("    spec:\n", "    spec:\n      restartPolicy: OnFailure\n", "spec.template.spec.restartPolicy: Unsupported value: \"OnFailure\": supported values: \"Always\"")]
    [InlineData("image: kubetm/app", "image: \"\"", "spec.template.spec.containers[0].image: Required value")]
    public void Invalid_deployments_are_refused_in_kubernetes_words(string find, string replace, string error)
    {
        var d = _cp.Create(ResourceKind.Deployment, "default", Parse(Manifest.Replace(find, replace, StringComparison.Ordinal)));
        Assert.False(d.Ok);
        Assert.Contains(error, d.Error!.Message, StringComparison.Ordinal);
        Assert.StartsWith("Deployment.apps \"web\" is invalid: ", d.Error.Message, StringComparison.Ordinal);
        Assert.Empty(d.Changes);
    }

    [Fact]
    public void The_selector_of_a_deployment_never_changes()
    {
        Commit(_cp.Create(ResourceKind.Deployment, "default", Parse(Manifest)));
        var changed = Deployment();
        changed.Spec.Selector.MatchLabels["tier"] = "x";
        changed.Spec.Template.Metadata.Labels["tier"] = "x";
        var d = _cp.Update(ResourceKind.Deployment, "default", "web", changed);
        Assert.False(d.Ok);
        Assert.Contains("spec.selector: Invalid value: &v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"web\", \"tier\":\"x\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable", d.Error!.Message, StringComparison.Ordinal);
    }
}
