using ActorCluster.Cluster.ApiServer;
using ActorCluster.Cluster.Node;
using ActorCluster.Cluster.Replica;
using ActorCluster.Core.ControlPlane;
using ActorCluster.Core.Objects;
using ActorCluster.Core.Store;
using Akka.Actor;
using Akka.TestKit.Xunit2;
using k8s;
using k8s.Models;

namespace ActorCluster.Cluster.Tests.NodeSpecs;

/// <summary>
/// The NodeAgent (kubelet) alone, with probes as the ApiServer and the replica and replica updates sent by hand:
/// it registers until acknowledged, runs a PodActor per pod bound to its node with an address from its range, stops
/// pods that are gone, and confirms at once a pod deleted before it ever ran.
/// </summary>
public sealed class NodeAgentSpecs() : TestKit("akka.loglevel = WARNING", "node-agent-spec-" + Guid.NewGuid().ToString("N"))
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan Retry = TimeSpan.FromMilliseconds(100);
    private ObjectStore _store = ObjectStore.Empty;
    private long _rv;

    private static V1Node Node() => new()
    {
        ApiVersion = "v1", Kind = "Node",
        Metadata = new V1ObjectMeta { Name = "k8s-worker1" },
        Spec = new V1NodeSpec { PodCIDR = "127.0.21.0/24" },
        Status = new V1NodeStatus { Conditions = [new V1NodeCondition { Type = "Ready", Status = "True" }] },
    };

    private static V1Pod Pod(string name, string node = "k8s-worker1", DateTime? deleting = null) => new()
    {
        ApiVersion = "v1", Kind = "Pod",
        Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = "default", Uid = "uid-" + name, DeletionTimestamp = deleting },
        Spec = new V1PodSpec { NodeName = node, Containers = [new V1Container { Name = "app", Image = "kubetm/app", Ports = [new V1ContainerPort { ContainerPort = 8080 }] }] },
    };

    private ReplicaUpdated Put(params IKubernetesObject<V1ObjectMeta>[] objects)
    {
        var changes = new List<StoreChange>();
        foreach (var o in objects)
        {
            var stored = new StoredObject(o is V1Node ? ResourceKind.Node : ResourceKind.Pod, o);
            _store = _store.Put(stored, ++_rv);
            changes.Add(new StoreChange(ChangeType.Added, stored));
        }
        return new ReplicaUpdated(_store, changes, false);
    }

    private ReplicaUpdated Remove(V1Pod pod)
    {
        var stored = new StoredObject(ResourceKind.Pod, pod);
        _store = _store.Remove(stored.Ref, ++_rv);
        return new ReplicaUpdated(_store, [new StoreChange(ChangeType.Deleted, stored)], false);
    }

    private IActorRef StartAgent(IActorRef apiServer, TimeSpan? leaseRenewInterval = null) =>
        Sys.ActorOf(NodeAgent.Props(new NodeAgentSettings("k8s-worker1", "127.0.21.1", "akka.tcp://actorcluster@127.0.21.1:4053")
        {
            RegisterInterval = Retry, StatusResendInterval = Retry, LeaseRenewInterval = leaseRenewInterval ?? TimeSpan.FromMinutes(1),
        }, apiServer, CreateTestProbe().Ref));

    private IReadOnlyDictionary<string, string> Running(IActorRef agent)
    {
        agent.Tell(GetRunningPods.Instance);
        return ExpectMsg<RunningPods>(Wait).IPsByPod;
    }

    [Fact]
    public void Registers_until_acknowledged()
    {
        var apiServer = CreateTestProbe();
        var agent = StartAgent(apiServer.Ref);
        var first = apiServer.ExpectMsg<RegisterNode>(Wait);
        Assert.Equal(("k8s-worker1", "127.0.21.1"), (first.Name, first.Address));
        apiServer.ExpectMsg<RegisterNode>(Wait); // no answer yet (the ApiServer may be moving): again
        agent.Tell(new Acknowledged(1), apiServer.Ref);
        apiServer.FishForMessage<RenewNodeLease>(_ => true, Wait); // registered: its first heartbeat
        apiServer.ExpectNoMsg(Retry * 3);
    }

    [Fact]
    public void Registers_again_when_its_Node_is_deleted_while_it_runs()
    {
        var apiServer = CreateTestProbe();
        var agent = StartAgent(apiServer.Ref);
        apiServer.ExpectMsg<RegisterNode>(Wait);
        agent.Tell(Put(Node()));
        agent.Tell(new Acknowledged(1), apiServer.Ref);
        apiServer.FishForMessage<RenewNodeLease>(_ => true, Wait);
        apiServer.ExpectNoMsg(Retry * 3);
        // kubectl delete node: as kubelet does, the agent registers its node again (until acknowledged).
        var stored = new StoredObject(ResourceKind.Node, Node());
        _store = _store.Remove(stored.Ref, ++_rv);
        agent.Tell(new ReplicaUpdated(_store, [new StoreChange(ChangeType.Deleted, stored)], false));
        Assert.Equal("k8s-worker1", apiServer.ExpectMsg<RegisterNode>(Wait).Name);
        apiServer.ExpectMsg<RegisterNode>(Wait);
    }

    [Fact]
    public void Heartbeats_through_its_Lease_once_registered_and_then_on_its_interval()
    {
        var apiServer = CreateTestProbe();
        var agent = StartAgent(apiServer.Ref, leaseRenewInterval: Retry);
        // Not registered yet (the lease timer runs as often as registration): registration only.
        for (var i = 0; i < 3; i++) apiServer.ExpectMsg<RegisterNode>(Wait);
        agent.Tell(new Acknowledged(1), apiServer.Ref);
        Assert.Equal("k8s-worker1", apiServer.FishForMessage<RenewNodeLease>(_ => true, Wait).Name);
        Assert.Equal("k8s-worker1", apiServer.ExpectMsg<RenewNodeLease>(Wait).Name);
        apiServer.ExpectMsg<RenewNodeLease>(Wait);
    }

    [Fact]
    public void Runs_the_pods_bound_to_its_node_and_stops_the_ones_that_are_gone()
    {
        var apiServer = CreateTestProbe();
        var agent = StartAgent(apiServer.Ref);
        agent.Tell(Put(Node(), Pod("pod-a"), Pod("elsewhere", node: "k8s-worker2")));
        // Only its own pod, at the first address of its range, reported by the pod's actor.
        var report = apiServer.FishForMessage<ReportPodStatus>(_ => true, Wait);
        Assert.Equal("pod-a", report.Name);
        Assert.Equal(new Dictionary<string, string> { ["pod-a"] = "127.0.21.2" }, Running(agent));

        agent.Tell(Remove(Pod("pod-a")));
        AwaitCondition(() => Running(agent).Count == 0, Wait);
        // The next pod gets a new address (a recreated pod is not given the old one at once).
        agent.Tell(Put(Pod("pod-b")));
        AwaitCondition(() => Running(agent).TryGetValue("pod-b", out var ip) && ip == "127.0.21.3", Wait);
    }

    [Fact]
    public void A_pod_deleted_before_it_ever_ran_here_is_confirmed_at_once()
    {
        var apiServer = CreateTestProbe();
        var agent = StartAgent(apiServer.Ref);
        agent.Tell(Put(Node(), Pod("gone", deleting: DateTime.UtcNow)));
        var confirm = apiServer.FishForMessage<ConfirmPodTerminated>(_ => true, Wait);
        Assert.Equal("uid-gone", confirm.Uid);
        Assert.Empty(Running(agent));
    }
}
