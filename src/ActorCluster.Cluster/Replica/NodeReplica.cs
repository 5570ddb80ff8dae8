using ActorCluster.Cluster.ApiServer;
using ActorCluster.Core.ControlPlane;
using ActorCluster.Core.Store;
using Akka.Actor;
using Akka.Event;

namespace ActorCluster.Cluster.Replica;

/// <summary>
/// A node's read-only copy of what it needs (services, endpoint slices, nodes, namespaces, its own pods), kept
/// the informer way: list once, then apply changes in resourceVersion order. Each change names the version of
/// the one before it, so a gap (a lost message, a new ApiServer) is noticed and answered with a fresh list.
/// Commit-to-applied latency is recorded per change.
/// </summary>
public sealed class NodeReplica : ReceiveActor, IWithTimers
{
    private const int LatencySamples = 20000;

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly string _nodeName;
    private readonly IActorRef _apiServer;
    private readonly HashSet<IActorRef> _subscribers = [];
    private readonly List<WatchedObject> _snapshotParts = [];
    /// <summary>The StartWatch whose snapshot this replica is collecting (0: none outstanding).</summary>
    private long _requestId;
    private long _lastRequestId;
    private DateTime _requestedAt;
    private int _nextPart;
    private readonly Queue<double> _latencies = new();
    private ObjectStore _store = ObjectStore.Empty;
    private bool _synced;
    private IActorRef? _source;
    private int _relists;
    private long _applied;

    private readonly Prometheus.Histogram? _latency;

    // A watch the ApiServer dropped without this replica knowing (its death watch on this node's address fired for
    // an earlier incarnation of the same node: Akka ends watches per address) would leave it silently stale. After
    // this long without a word from the ApiServer, the replica resumes its watch at its version: a confirmation when
    // nothing was lost, a repair when it was.
    private readonly TimeSpan _confirmAfter;
    private DateTime _lastHeard = DateTime.UtcNow;

    public NodeReplica(string nodeName, IActorRef apiServer, Prometheus.Histogram? latency = null, TimeSpan? confirmAfter = null)
    {
        _latency = latency;
        _confirmAfter = confirmAfter ?? TimeSpan.FromSeconds(5);
        _nodeName = nodeName;
        _apiServer = apiServer;

        Receive<WatchSnapshot>(OnSnapshot);
        Receive<WatchChange>(OnChange);
        Receive<WatchExpired>(_ => Relist("watch expired"));
        Receive<WatchResumed>(r =>
        {
            if (!_synced) return; // an answer to an older request; the snapshot under way covers it
            if (r.ResourceVersion != _store.ResourceVersion)
            {
                Relist($"gap: resumed at {r.ResourceVersion}, have {_store.ResourceVersion}");
                return;
            }
            _lastHeard = DateTime.UtcNow;
            Follow(Sender);
        });
        Receive<Retry>(_ =>
        {
            // Until synced, or (after the ApiServer moved) until a new one answers: the singleton may be moving.
            // A snapshot being received is not interrupted unless it stalled (nothing came for a while: the request
            // was lost while the ApiServer moved, or its sender died mid-way).
            if (_requestId != 0 && DateTime.UtcNow - _requestedAt < StalledAfter) return;
            if (!_synced) Request(0);
            else if (_source is null || DateTime.UtcNow - _lastHeard >= _confirmAfter)
            {
                _lastHeard = DateTime.UtcNow;
                Request(_store.ResourceVersion);
            }
        });
        Receive<Terminated>(t =>
        {
            if (!t.ActorRef.Equals(_source)) return;
            _log.Info("replica {0}: ApiServer {1} stopped; resuming the watch at {2}", _nodeName, t.ActorRef.Path, _store.ResourceVersion);
            // The store stays valid (and served) at its version; the next ApiServer sends what came after it.
            _source = null;
            Request(_synced ? _store.ResourceVersion : 0);
        });
        Receive<SubscribeReplica>(s =>
        {
            _subscribers.Add(s.Subscriber);
            Context.Watch(s.Subscriber);
            if (_synced) s.Subscriber.Tell(new ReplicaUpdated(_store, [], true));
        });
        Receive<GetReplicaStats>(_ => Sender.Tell(Stats()));
        Receive<ResetReplicaStats>(_ =>
        {
            _latencies.Clear();
            _applied = 0;
            Sender.Tell(Stats());
        });
    }

    public ITimerScheduler Timers { get; set; } = null!;

    /// <param name="latency">where commit -> applied is recorded for /metrics (null: kept only for <see cref="GetReplicaStats"/>)</param>
    /// <param name="confirmAfter">quiet time after which the watch is resumed to confirm it (default 5 s)</param>
    public static Props Props(string nodeName, IActorRef apiServer, Prometheus.Histogram? latency = null, TimeSpan? confirmAfter = null) =>
        Akka.Actor.Props.Create(() => new NodeReplica(nodeName, apiServer, latency, confirmAfter));

    private sealed record Retry
    {
        public static readonly Retry Instance = new();
    }

    protected override void PreStart()
    {
        Request(0);
        // Until synced, ask again now and then: the singleton may not be up yet, or may be moving.
        Timers.StartPeriodicTimer("retry", Retry.Instance, TimeSpan.FromSeconds(1));
    }

    private static readonly TimeSpan StalledAfter = TimeSpan.FromSeconds(3);

    private void Request(long fromResourceVersion)
    {
        _requestId = 0;
        _snapshotParts.Clear();
        _nextPart = 0;
        var id = ++_lastRequestId;
        // Only a list is collected in parts; a resume answers with changes and WatchResumed.
        if (fromResourceVersion == 0)
        {
            _requestId = id;
            _requestedAt = DateTime.UtcNow;
        }
        _apiServer.Tell(new StartWatch(Self, _nodeName, fromResourceVersion, id));
    }

    private void Relist(string why)
    {
        _log.Info("replica {0}: listing again ({1})", _nodeName, why);
        _relists++;
        _synced = false;
        if (_source is not null) _source.Tell(new StopWatch(Self));
        Request(0);
    }

    private void Follow(IActorRef source)
    {
        if (source.Equals(_source)) return;
        if (_source is not null) Context.Unwatch(_source);
        _source = source;
        Context.Watch(source);
    }

    private void OnSnapshot(WatchSnapshot part)
    {
        // Parts of an older request (a retry or relist superseded it) are dropped; parts arrive in order.
        if (part.RequestId != _requestId || part.Part != _nextPart) return;
        _nextPart++;
        _requestedAt = DateTime.UtcNow;
        _snapshotParts.AddRange(part.Objects);
        if (!part.Last) return;
        _requestId = 0;
        _lastHeard = DateTime.UtcNow;
        Follow(Sender);
        var store = ObjectStore.Empty;
        foreach (var o in _snapshotParts) store = store.Put(StoredObject.FromJson(o.Resource, o.Json), part.ResourceVersion);
        _snapshotParts.Clear();
        _store = store.AtVersion(part.ResourceVersion);
        _synced = true;
        Notify(new ReplicaUpdated(_store, [], true));
    }

    private void OnChange(WatchChange c)
    {
        if (!_synced) return; // a change racing a relist; the snapshot will cover it
        if (c.PreviousResourceVersion != _store.ResourceVersion)
        {
            Relist($"gap: expected a change after {_store.ResourceVersion}, got one after {c.PreviousResourceVersion}");
            return;
        }
        _lastHeard = DateTime.UtcNow;
        Follow(Sender);
        var change = new StoreChange(Enum.Parse<ChangeType>(c.Type), StoredObject.FromJson(c.Resource, c.Json));
        _store = change.Type == ChangeType.Deleted ? _store.Remove(change.Object.Ref, c.ResourceVersion) : _store.Put(change.Object, c.ResourceVersion);
        _applied++;
        var latencyMs = Math.Max(0, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - c.CommittedUnixMs);
        _latencies.Enqueue(latencyMs);
        _latency?.Observe(latencyMs / 1000.0);
        if (_latencies.Count > LatencySamples) _latencies.Dequeue();
        Notify(new ReplicaUpdated(_store, [change], false));
    }

    private void Notify(ReplicaUpdated update)
    {
        foreach (var s in _subscribers) s.Tell(update);
    }

    private ReplicaStats Stats()
    {
        var sorted = _latencies.Order().ToArray();
        double P(double q) => sorted.Length == 0 ? 0 : sorted[Math.Min(sorted.Length - 1, (int)Math.Ceiling(q * sorted.Length) - 1)];
        return new ReplicaStats(_synced, _store.ResourceVersion, _store.Count, _relists, _applied, P(0.5), P(0.99), sorted.Length == 0 ? 0 : sorted[^1]);
    }
}
