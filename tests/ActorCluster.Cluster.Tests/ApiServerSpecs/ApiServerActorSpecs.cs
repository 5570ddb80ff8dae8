using ActorCluster.Cluster.ApiServer;
using ActorCluster.Core.ControlPlane;
using ActorCluster.Core.Objects;
using Akka.Actor;
using Akka.Configuration;
using Akka.TestKit;
using Akka.TestKit.Xunit2;
using k8s.Models;

namespace ActorCluster.Cluster.Tests.ApiServerSpecs;

/// <summary>
/// The ApiServer alone, on an in-memory journal whose writes a spec can hold, fail or reject: versions, durable
/// reads, dry-run, journal failures and hand-over, each in milliseconds.
/// </summary>
public sealed class ApiServerActorSpecs : TestKit
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(5);

    private static Config SpecConfig() => SpecSystem.Config("""
        akka.persistence.journal.plugin = "akka.persistence.journal.controlled"
        akka.persistence.journal.controlled {
          class = "ActorCluster.Cluster.Tests.ApiServerSpecs.ControlledJournal, ActorCluster.Cluster.Tests"
          plugin-dispatcher = "akka.actor.default-dispatcher"
        }
        akka.persistence.snapshot-store.plugin = "akka.persistence.snapshot-store.inmem"
        """);

    private readonly JournalControl _journal;

    public ApiServerActorSpecs()
        : base(SpecConfig(), "apiserver-spec-" + Guid.NewGuid().ToString("N"))
    {
        _journal = JournalControl.For(Sys);
    }

    private IActorRef StartSupervised(ApiServerSettings? settings = null) =>
        Sys.ActorOf(ApiServerSupervisor.Props(settings ?? new ApiServerSettings(ControlPlaneConfig.Default)));

    private static CreateObject Service(string name, bool dryRun = false, string? clusterIP = null) => SpecSystem.Service(name, dryRun, clusterIP);

    /// <summary>One request and its answer, through a probe of its own.</summary>
    private object Ask(IActorRef apiServer, object message)
    {
        var probe = CreateTestProbe();
        apiServer.Tell(message, probe.Ref);
        return probe.ReceiveOne(Wait) ?? throw new TimeoutException($"no answer to {message.GetType().Name}");
    }

    /// <summary>Sends until the ApiServer answers something other than "restarting, retry" (it may be recovering).</summary>
    private object AskUntilServed(IActorRef apiServer, object message)
    {
        var deadline = DateTime.UtcNow + Wait;
        while (true)
        {
            var reply = Ask(apiServer, message);
            if (reply is not ApiErrorReply { Code: 503 } || DateTime.UtcNow > deadline) return reply;
            Thread.Sleep(20); // a bounded retry loop, as a client honouring Retry-After would do
        }
    }

    /// <summary>A watcher of the current ApiServer instance, and that instance (watched, so its end is seen).</summary>
    private (TestProbe Watcher, IActorRef Instance) WatchInstance(IActorRef apiServer)
    {
        var watcher = CreateTestProbe();
        apiServer.Tell(new StartWatch(watcher.Ref, "", 0, 1), watcher.Ref);
        watcher.ExpectMsg<WatchSnapshot>(s => s.Last, Wait);
        var instance = watcher.LastSender;
        watcher.Watch(instance);
        return (watcher, instance);
    }

    private ObjectReply Created(IActorRef apiServer, string name) =>
        Assert.IsType<ObjectReply>(AskUntilServed(apiServer, Service(name)));

    [Fact]
    public void Concurrent_writes_get_unique_versions_that_increase_in_commit_order_and_reads_wait_for_durability()
    {
        var apiServer = StartSupervised();
        var first = Created(apiServer, "warm-up");
        _journal.Close();
        var clients = Enumerable.Range(0, 4).Select(_ => CreateTestProbe()).ToList();
        for (var i = 0; i < 40; i++) apiServer.Tell(Service($"svc-{i}"), clients[i % 4].Ref);

        // Nothing is durable yet: reads do not show it, and no client has an answer.
        AwaitCondition(() => Volatile.Read(ref _journal.WritesStarted) >= 2, Wait);
        Assert.IsType<ApiErrorReply>(Ask(apiServer, new GetObject("services", "default", "svc-0")));
        var during = Assert.IsType<ObjectList>(Ask(apiServer, new ListObjects("services", "default", null, null, 0, null)));
        Assert.Equal(first.ResourceVersion, during.ResourceVersion);
        Assert.DoesNotContain(during.Items, i => i.Json.Contains("svc-", StringComparison.Ordinal));
        foreach (var c in clients) c.ExpectNoMsg(TimeSpan.FromMilliseconds(50));

        _journal.Open();
        var versions = new List<long>();
        for (var i = 0; i < 40; i++)
        {
            var reply = clients[i % 4].ExpectMsg<ObjectReply>(Wait);
            Assert.Contains($"\"svc-{i}\"", reply.Json, StringComparison.Ordinal);
            versions.Add(reply.ResourceVersion);
        }
        Assert.Equal(40, versions.Distinct().Count());
        Assert.Equal(versions.Order(), versions); // commit order = send order here
        Assert.True(versions[0] > first.ResourceVersion);

        // Every acknowledged write is listed with the version it was acknowledged with.
        var list = Assert.IsType<ObjectList>(Ask(apiServer, new ListObjects("services", "default", null, null, 0, null)));
        var listed = list.Items.Select(i => KubeObjects.FromJson<V1Service>(i.Json)).ToDictionary(s => s.Metadata.Name, s => long.Parse(s.Metadata.ResourceVersion, System.Globalization.CultureInfo.InvariantCulture));
        for (var i = 0; i < 40; i++) Assert.Equal(versions[i], listed[$"svc-{i}"]);
        Assert.Equal(versions[^1], list.ResourceVersion);
    }

    [Fact]
    public void An_update_naming_a_version_that_is_not_yet_durable_is_a_conflict()
    {
        var apiServer = StartSupervised();
        var created = Created(apiServer, "web");
        var svc = KubeObjects.FromJson<V1Service>(created.Json);
        _journal.Close();
        svc.Metadata.Labels = new Dictionary<string, string> { ["step"] = "1" };
        var writer = CreateTestProbe();
        apiServer.Tell(new UpdateObject("services", "default", "web", KubeObjects.ToJson(svc), false), writer.Ref);
        AwaitCondition(() => Volatile.Read(ref _journal.WritesStarted) >= 2, Wait);

        // The in-flight version is the next number; nobody could have read it, so naming it is a conflict.
        svc.Metadata.ResourceVersion = (created.ResourceVersion + 1).ToString(System.Globalization.CultureInfo.InvariantCulture);
        svc.Metadata.Labels["step"] = "2";
        var conflict = Assert.IsType<ApiErrorReply>(Ask(apiServer, new UpdateObject("services", "default", "web", KubeObjects.ToJson(svc), false)));
        Assert.Equal(409, conflict.Code);
        Assert.Contains("the object has been modified", conflict.StatusJson, StringComparison.Ordinal);

        _journal.Open();
        var updated = writer.ExpectMsg<ObjectReply>(Wait);
        Assert.Equal(created.ResourceVersion + 1, updated.ResourceVersion);
    }

    [Fact]
    public void A_dry_run_answers_with_the_object_and_stores_and_allocates_nothing()
    {
        var apiServer = StartSupervised();
        var dry = Assert.IsType<ObjectReply>(AskUntilServed(apiServer, Service("web", dryRun: true, clusterIP: "127.96.0.50")));
        Assert.Equal("127.96.0.50", KubeObjects.FromJson<V1Service>(dry.Json).Spec.ClusterIP);
        Assert.Equal(404, Assert.IsType<ApiErrorReply>(Ask(apiServer, new GetObject("services", "default", "web"))).Code);

        // The address was given back: a real create may take it.
        var real = Assert.IsType<ObjectReply>(Ask(apiServer, Service("web", clusterIP: "127.96.0.50")));
        Assert.Equal(real.ResourceVersion, Assert.IsType<ObjectList>(Ask(apiServer, new ListObjects("services", null, null, null, 0, null))).ResourceVersion);

        // A dry-run delete leaves it, and moves no version.
        Assert.IsType<ObjectReply>(Ask(apiServer, new DeleteObject("services", "default", "web", null, DryRun: true)));
        var still = Assert.IsType<ObjectReply>(Ask(apiServer, new GetObject("services", "default", "web")));
        Assert.Equal(real.ResourceVersion, still.ResourceVersion);

        // A dry-run update with a conflicting address is refused as the real one would be.
        var other = Created(apiServer, "other");
        var svc = KubeObjects.FromJson<V1Service>(other.Json);
        svc.Spec.Type = "NodePort";
        var dryUpdate = Assert.IsType<ObjectReply>(Ask(apiServer, new UpdateObject("services", "default", "other", KubeObjects.ToJson(svc), false, DryRun: true)));
        var port = KubeObjects.FromJson<V1Service>(dryUpdate.Json).Spec.Ports[0].NodePort;
        Assert.NotNull(port);
        Assert.Null(KubeObjects.FromJson<V1Service>(Assert.IsType<ObjectReply>(Ask(apiServer, new GetObject("services", "default", "other"))).Json).Spec.Ports[0].NodePort);
    }

    [Theory]
    [InlineData(JournalMode.Fail, "database or disk is full")]
    [InlineData(JournalMode.Reject, "the journal refused the event")]
    public void A_journal_that_cannot_write_is_reported_at_once_and_a_fresh_ApiServer_takes_over(JournalMode mode, string cause)
    {
        var apiServer = StartSupervised();
        var before = Created(apiServer, "before");
        var (watcher, source) = WatchInstance(apiServer);

        _journal.Mode = mode;
        var refused = Assert.IsType<ApiErrorReply>(Ask(apiServer, Service("lost")));
        Assert.Equal(500, refused.Code);
        Assert.Contains(cause, refused.StatusJson, StringComparison.Ordinal);

        // The instance that failed is gone (watchers see it), and a new one serves from what is durable.
        watcher.ExpectTerminated(source, Wait);
        _journal.Mode = JournalMode.Write;
        Assert.Equal(404, Assert.IsType<ApiErrorReply>(AskUntilServed(apiServer, new GetObject("services", "default", "lost"))).Code);
        var after = Created(apiServer, "after");
        Assert.True(after.ResourceVersion > before.ResourceVersion);
        apiServer.Tell(new StartWatch(watcher.Ref, "", before.ResourceVersion, 2), watcher.Ref);
        var change = watcher.FishForMessage(m => m is WatchChange, Wait);
        Assert.Contains("\"after\"", ((WatchChange)change).Json, StringComparison.Ordinal);
        Assert.NotEqual(source, watcher.LastSender);
    }

    [Fact]
    public void A_crash_with_writes_in_flight_never_reuses_a_version()
    {
        var settings = new ApiServerSettings(ControlPlaneConfig.Default);
        var first = Sys.ActorOf(ApiServerActor.Props(settings));
        var before = Created(first, "before");
        Watch(first);

        _journal.Close();
        var writer = CreateTestProbe();
        first.Tell(Service("in-flight"), writer.Ref);
        AwaitCondition(() => Volatile.Read(ref _journal.WritesStarted) >= 2, Wait);
        var stored = Volatile.Read(ref _journal.WritesStored);
        first.Tell(Kill.Instance); // the actor dies while its write is with the journal
        ExpectTerminated(first, Wait);
        _journal.Open(); // ... and the journal completes it afterwards
        AwaitCondition(() => Volatile.Read(ref _journal.WritesStored) > stored, Wait);
        writer.ExpectNoMsg(TimeSpan.FromMilliseconds(50)); // nobody acknowledged it

        // The next instance recovers it at the version it was given; new writes go above it.
        var second = Sys.ActorOf(ApiServerActor.Props(settings));
        var recovered = Assert.IsType<ObjectReply>(Ask(second, new GetObject("services", "default", "in-flight")));
        Assert.Equal(before.ResourceVersion + 1, recovered.ResourceVersion);
        var after = Created(second, "after");
        Assert.Equal(recovered.ResourceVersion + 1, after.ResourceVersion);
    }

    [Fact]
    public void A_hand_over_answers_every_write_in_flight_before_the_ApiServer_stops()
    {
        var apiServer = StartSupervised();
        Created(apiServer, "warm-up");
        Watch(apiServer);
        _journal.Close();
        var writer = CreateTestProbe();
        for (var i = 0; i < 10; i++) apiServer.Tell(Service($"svc-{i}"), writer.Ref);
        AwaitCondition(() => Volatile.Read(ref _journal.WritesStarted) >= 2, Wait);
        apiServer.Tell(HandOver.Instance);

        // New writes are turned away at once, with a hint to retry.
        var late = Assert.IsType<ApiErrorReply>(Ask(apiServer, Service("late")));
        Assert.Equal(503, late.Code);
        Assert.Equal(1, late.RetryAfterSeconds);

        _journal.Open();
        var versions = Enumerable.Range(0, 10).Select(_ => writer.ExpectMsg<ObjectReply>(Wait).ResourceVersion).ToList();
        Assert.Equal(10, versions.Distinct().Count());
        ExpectTerminated(apiServer, Wait);
    }

    [Fact]
    public void Requests_that_reach_an_ApiServer_as_it_stops_are_answered_503_not_lost()
    {
        // A stand-in ApiServer that stops on cue: the requests forwarded behind the cue wait in its mailbox when it
        // ends, before the supervisor's Terminated, and go to its dead letters. Each must still get an answer.
        var supervisor = Sys.ActorOf(ApiServerSupervisor.Props(Props.Create(() => new StopsOnCue())));
        supervisor.Tell(StopsOnCue.Cue);
        for (var i = 0; i < 50; i++) supervisor.Tell(new GetObject("pods", "default", $"pod-{i}"));
        var replies = Enumerable.Range(0, 50).Select(_ => ExpectMsg<ApiErrorReply>(Wait)).ToList();
        Assert.All(replies, r => Assert.Equal(503, r.Code));
        ExpectNoMsg(TimeSpan.FromMilliseconds(200)); // one answer each
    }

    /// <summary>Stops when told <see cref="Cue"/> and answers no request: every answer the test sees is the supervisor's.</summary>
    private sealed class StopsOnCue : ReceiveActor
    {
        public const string Cue = "stop";

        public StopsOnCue() => Receive<string>(_ => Context.Stop(Self));
    }

    [Fact]
    public void An_object_over_the_size_limit_is_refused_and_nothing_is_stored()
    {
        var apiServer = StartSupervised(new ApiServerSettings(ControlPlaneConfig.Default) { MaxObjectBytes = 4096 });
        var svc = new V1Service
        {
            ApiVersion = "v1", Kind = "Service",
            Metadata = new V1ObjectMeta { Name = "big", Annotations = new Dictionary<string, string> { ["x"] = new string('a', 5000) } },
            Spec = new V1ServiceSpec { Ports = [new V1ServicePort { Port = 80 }] },
        };
        var refused = Assert.IsType<ApiErrorReply>(AskUntilServed(apiServer, new CreateObject("services", "default", KubeObjects.ToJson(svc))));
        Assert.Equal(413, refused.Code);
        Assert.Contains("etcdserver: request is too large", refused.StatusJson, StringComparison.Ordinal);
        Assert.Equal(404, Assert.IsType<ApiErrorReply>(Ask(apiServer, new GetObject("services", "default", "big"))).Code);
        // Its ClusterIP went back too: the smallest service still fits and the allocator was not left holding one.
        Created(apiServer, "small");
    }

    [Fact]
    public void Events_expire_after_their_ttl()
    {
        var settings = new ApiServerSettings(new ControlPlaneConfig(ControlPlaneConfig.Default.ServiceNetwork, []))
        {
            EventTtl = TimeSpan.FromMilliseconds(300), EventSweepInterval = TimeSpan.FromMilliseconds(100),
        };
        var apiServer = StartSupervised(settings);
        // Watched from before the write: the Event's creation and its expiry are both seen, however long each step
        // takes on a busy machine (a list right after the write could already find it expired).
        var (watcher, _) = WatchInstance(apiServer);
        // A LoadBalancer without a pool records an AllocationFailed Event.
        var lb = Service("lb");
        lb = lb with { Json = lb.Json.Replace("\"ports\"", "\"type\":\"LoadBalancer\",\"ports\"", StringComparison.Ordinal) };
        Assert.IsType<ObjectReply>(AskUntilServed(apiServer, lb));
        watcher.FishForMessage(m => m is WatchChange { Type: "Added", Resource: "events" } c && c.Json.Contains("AllocationFailed", StringComparison.Ordinal), Wait);
        watcher.FishForMessage(m => m is WatchChange { Type: "Deleted", Resource: "events" } c && c.Json.Contains("AllocationFailed", StringComparison.Ordinal), Wait);
        AwaitCondition(() =>
            Assert.IsType<ObjectList>(Ask(apiServer, new ListObjects("events", "default", null, null, 0, null))).Items.Count == 0, Wait);
    }
}
