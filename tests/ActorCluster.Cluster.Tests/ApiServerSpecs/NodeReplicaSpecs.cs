using ActorCluster.Cluster.ApiServer;
using ActorCluster.Cluster.Replica;
using ActorCluster.Core.ControlPlane;
using Akka.Actor;
using Akka.Configuration;
using Akka.TestKit.Xunit2;

namespace ActorCluster.Cluster.Tests.ApiServerSpecs;

/// <summary>
/// A node's replica against a real ApiServer on the in-memory journal: relists forced while writers keep
/// writing converge on the ApiServer's store (no relist loop), and agree with a replica that listed afterwards.
/// </summary>
public sealed class NodeReplicaSpecs(Xunit.Abstractions.ITestOutputHelper output) : TestKit(Config(), "replica-spec-" + Guid.NewGuid().ToString("N"))
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);

    private static Config Config() => SpecSystem.Config("""
        akka.persistence.journal.plugin = "akka.persistence.journal.inmem"
        akka.persistence.snapshot-store.plugin = "akka.persistence.snapshot-store.inmem"
        """);

    private static CreateObject Service(string name) => SpecSystem.Service(name);

    private ReplicaStats Stats(IActorRef replica)
    {
        var probe = CreateTestProbe();
        replica.Tell(GetReplicaStats.Instance, probe.Ref);
        return probe.ExpectMsg<ReplicaStats>(Wait);
    }

    [Fact]
    public async Task A_watch_the_ApiServer_dropped_silently_is_resumed_after_a_quiet_spell_and_catches_up()
    {
        var apiServer = Sys.ActorOf(ApiServerSupervisor.Props(new ApiServerSettings(ControlPlaneConfig.Default)));
        var replica = Sys.ActorOf(NodeReplica.Props("k8s-worker3", apiServer, confirmAfter: TimeSpan.FromMilliseconds(300)));
        AwaitCondition(() => Stats(replica).Synced, Wait);
        // The ApiServer forgets this watcher without the replica knowing, as when its death watch on the node's address
        // fires for an earlier incarnation of the node.
        apiServer.Tell(new StopWatch(replica));
        Assert.IsType<ObjectReply>(await apiServer.Ask<object>(Service("after-drop"), Wait));
        var target = ((ObjectReply)await apiServer.Ask<object>(Service("after-drop-2"), Wait)).ResourceVersion;
        // Within a few quiet periods the replica resumes its watch and has both Services.
        AwaitCondition(() => Stats(replica).ResourceVersion == target, Wait);
        Assert.Equal(0, Stats(replica).Relists);
    }

    [Fact]
    public async Task Relists_under_steady_writes_converge_without_looping()
    {
        // A short watch history, so resuming after a gap is rarely possible and relisting is the rule.
        var apiServer = Sys.ActorOf(ApiServerSupervisor.Props(new ApiServerSettings(ControlPlaneConfig.Default, WatchHistory: 20)));
        var replica = Sys.ActorOf(NodeReplica.Props("k8s-worker1", apiServer));
        AwaitCondition(() => Stats(replica).Synced, Wait);
        var relistsBefore = Stats(replica).Relists;

        // 4 writers keep creating, in flight together, until the replica has been told to list again 10 times, as an
        // expired watch would tell it (each relist's snapshot is taken while writes keep committing).
        using var stop = new CancellationTokenSource();
        var created = 0;
        var writers = Enumerable.Range(0, 4).Select(w => Task.Run(async () =>
        {
            for (var i = 0; !stop.IsCancellationRequested; i++)
            {
                Assert.IsType<ObjectReply>(await apiServer.Ask<object>(Service($"w{w}-{i}"), Wait));
                Interlocked.Increment(ref created);
                await Task.Delay(1); // steady, not flat out: a store of thousands, not hundreds of thousands
            }
        })).ToList();
        const int forced = 10;
        for (var n = 0; n < forced; n++)
        {
            var t0 = DateTime.UtcNow;
            AwaitCondition(() => Stats(replica).Synced, Wait, TimeSpan.FromMilliseconds(5)); // the previous relist has finished
            output.WriteLine($"relist {n}: synced after {(DateTime.UtcNow - t0).TotalMilliseconds:0} ms, {Volatile.Read(ref created)} created");
            var before = Volatile.Read(ref created);
            replica.Tell(new WatchExpired(0));
            AwaitCondition(() => Volatile.Read(ref created) >= before + 10, Wait, TimeSpan.FromMilliseconds(5)); // writes went on meanwhile
        }
        await stop.CancelAsync();
        await Task.WhenAll(writers).WaitAsync(Wait);

        // A replica that lists after the writes is the reference; the relisted one must reach exactly its state.
        var reference = Sys.ActorOf(NodeReplica.Props("k8s-worker1", apiServer));
        AwaitAssert(() =>
        {
            var a = Stats(replica);
            var b = Stats(reference);
            Assert.True(a.Synced && b.Synced);
            Assert.Equal(b.ResourceVersion, a.ResourceVersion);
            Assert.Equal(b.Objects, a.Objects);
        }, Wait);
        Assert.True(Stats(replica).Objects >= created, "every Service created is held");
        // No loop: one relist per forced expiry (plus at most one for a gap met while catching up).
        Assert.InRange(Stats(replica).Relists - relistsBefore, forced, forced + 1);
    }
}
