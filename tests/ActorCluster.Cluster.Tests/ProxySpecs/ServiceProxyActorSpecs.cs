using System.Net;
using ActorCluster.Cluster.Proxy;
using ActorCluster.Cluster.Replica;
using ActorCluster.Core.ControlPlane;
using ActorCluster.Core.Objects;
using ActorCluster.Core.Store;
using ActorCluster.Proxy;
using Akka.Actor;
using Akka.TestKit.Xunit2;
using k8s;
using k8s.Models;

namespace ActorCluster.Cluster.Tests.ProxySpecs;

/// <summary>
/// The node's proxy as kube-proxy's change tracker, alone, with replica updates sent by hand: a burst of changes is
/// handed to the Service actors in one sync (min-sync-period), each Service gets its own actor (a deleted one closes
/// its addresses, a re-created one is a new actor), and Dispatch finds the Service by address.
/// </summary>
public sealed class ServiceProxyActorSpecs() : TestKit("akka.loglevel = WARNING", "service-proxy-spec-" + Guid.NewGuid().ToString("N"))
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);
    private static readonly IPAddress NodeIP = IPAddress.Parse("127.0.17.1");
    private long _rv;
    private ObjectStore _store = ObjectStore.Empty;

    private IActorRef StartProxy(TimeSpan minSyncPeriod) => Sys.ActorOf(ServiceProxyActor.Props(
        new ProxySettings("k8s-worker1", NodeIP, CrossNodeMode.Direct, 4054, UdpFlowLimits.Default) { MinSyncPeriod = minSyncPeriod },
        CreateTestProbe().Ref, CreateTestProbe().Ref));

    private static V1Service Service(string name, string clusterIP) => new()
    {
        ApiVersion = "v1", Kind = "Service",
        Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = "default", Uid = Guid.NewGuid().ToString() },
        Spec = new V1ServiceSpec { Type = "ClusterIP", ClusterIP = clusterIP, Ports = [new V1ServicePort { Port = 9000, Protocol = "TCP" }] },
    };

    private static V1Node Node() => new()
    {
        ApiVersion = "v1", Kind = "Node",
        Metadata = new V1ObjectMeta { Name = "k8s-worker1" },
        Status = new V1NodeStatus
        {
            Addresses = [new V1NodeAddress { Type = "InternalIP", Address = NodeIP.ToString() }],
            Conditions = [new V1NodeCondition { Type = "Ready", Status = "True" }],
        },
    };

    /// <summary>The replica's message for these changes, applied to the spec's running store.</summary>
    private ReplicaUpdated Changed(ChangeType type, IKubernetesObject<V1ObjectMeta> obj, bool relisted = false)
    {
        var kind = obj is V1Service ? ResourceKind.Service : ResourceKind.Node;
        var stored = new StoredObject(kind, obj);
        _store = type == ChangeType.Deleted ? _store.Remove(ObjectRef.Of(kind, obj.Metadata), ++_rv) : _store.Put(stored, ++_rv);
        return new ReplicaUpdated(_store, [new StoreChange(type, stored)], relisted);
    }

    private ProxyCounters Counters(IActorRef proxy)
    {
        proxy.Tell(GetProxyCounters.Instance);
        return ExpectMsg<ProxyCounters>(Wait);
    }

    private bool Bound(IActorRef proxy, string address) => Counters(proxy).Listeners.Any(l => l.Address == address);

    [Fact]
    public void A_burst_of_changes_is_handed_to_the_Service_actors_in_one_sync()
    {
        var proxy = StartProxy(TimeSpan.FromMilliseconds(500));
        proxy.Tell(Changed(ChangeType.Added, Node(), relisted: true));
        proxy.Tell(Changed(ChangeType.Added, Service("first", "127.0.17.100")));
        AwaitCondition(() => Bound(proxy, "127.0.17.100:9000"), Wait);
        Assert.Equal(1, Counters(proxy).Syncs); // the first change after a quiet spell goes at once

        // Twenty Services at once: the first may go at once (if the period has passed), the rest wait for one more
        // sync that carries them all; every one is bound.
        var before = Counters(proxy).Syncs;
        for (var i = 1; i <= 20; i++) proxy.Tell(Changed(ChangeType.Added, Service($"burst-{i}", $"127.0.17.{100 + i}")));
        AwaitCondition(() => Enumerable.Range(1, 20).All(i => Bound(proxy, $"127.0.17.{100 + i}:9000")), Wait);
        Assert.InRange(Counters(proxy).Syncs - before, 1, 2);
    }

    [Fact]
    public async Task A_deleted_Service_closes_its_addresses_and_a_recreated_one_gets_a_new_actor()
    {
        var proxy = StartProxy(TimeSpan.Zero);
        proxy.Tell(Changed(ChangeType.Added, Node(), relisted: true));
        var first = Service("web", "127.0.17.10");
        proxy.Tell(Changed(ChangeType.Added, first));
        AwaitCondition(() => Bound(proxy, "127.0.17.10:9000"), Wait);
        var firstActor = await Sys.ActorSelection(proxy.Path / ServiceActor.NameOf(first)).ResolveOne(Wait);
        Watch(firstActor);

        // Deleted and created again under the same name (a new uid), handed over together.
        proxy.Tell(Changed(ChangeType.Deleted, first));
        var second = Service("web", "127.0.17.11");
        proxy.Tell(Changed(ChangeType.Added, second));
        ExpectTerminated(firstActor, Wait);
        AwaitCondition(() => Bound(proxy, "127.0.17.11:9000") && !Bound(proxy, "127.0.17.10:9000"), Wait);
        Assert.NotNull(await Sys.ActorSelection(proxy.Path / ServiceActor.NameOf(second)).ResolveOne(Wait));

        // Dispatch finds the Service by its address; the old address is nobody's.
        proxy.Tell(new Dispatch("127.0.17.11:9000", "127.0.18.1"));
        Assert.Equal("NoEndpoints", ExpectMsg<DispatchRefused>(Wait).Reason);
        proxy.Tell(new Dispatch("127.0.17.10:9000", "127.0.18.1"));
        Assert.Equal("UnknownAddress", ExpectMsg<DispatchRefused>(Wait).Reason);

        proxy.Tell(Changed(ChangeType.Deleted, second));
        AwaitCondition(() => Counters(proxy).Listeners.Count == 0, Wait);
    }
}
