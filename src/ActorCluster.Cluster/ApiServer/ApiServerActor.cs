// Over 350 lines on purpose: one persistent actor's whole write protocol (decide, persist, acknowledge, snapshot,
// hand over) reads best in one place; the watch fan-out (WatchHub) and list paging (ListPager) live elsewhere.
using ActorCluster.Core.Api;
using ActorCluster.Core.ControlPlane;
using ActorCluster.Core.Objects;
using ActorCluster.Core.Store;
using Akka.Actor;
using Akka.Cluster;
using Akka.Event;
using Akka.Persistence;
using k8s;
using k8s.Models;

namespace ActorCluster.Cluster.ApiServer;

/// <summary>
/// kube-apiserver + etcd as one event-sourced actor, run as a cluster singleton under <see cref="ApiServerSupervisor"/>.
/// Every write is decided by <see cref="ControlPlane"/> (admission, scheduler, endpoints and LoadBalancer
/// controllers), persisted as one <see cref="ObjectsChanged"/> event, and only then acknowledged and streamed to
/// watchers. Writes use PersistAsync, so while one batch is being written the next commands are decided (against
/// the decided store, which includes writes in flight) and the journal writes them together: durability without
/// one fsync per object.
/// <para>
/// Versions, as etcd gives them: each decision takes the next number after every version handed out so far,
/// in flight included (<see cref="_lastAssigned"/>); journal writes complete in the order they were made, so
/// versions are unique and increase in commit order. The version is stored in the event, so recovery restores it
/// exactly, and the counter resumes above the newest recovered one: a version is never reused.
/// Reads (GET, LIST, the first state of a watch) are served from the durable store, which only moves when the
/// journal confirms a write; an update naming a version that is not yet durable is a conflict.
/// Watches fan out through the <see cref="WatchHub"/>; lists are cut into pages by Core's <see cref="ListPager"/>.
/// </para>
/// </summary>
public sealed class ApiServerActor : ReceivePersistentActor, IWithTimers
{
    public const string PersistenceIdValue = "actorcluster-apiserver";

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly ApiServerSettings _settings;
    private readonly ControlPlane _controlPlane;
    private readonly WatchHub _watches;
    /// <summary>Writes sent to the journal and not yet confirmed, oldest first: who is owed a reply if the journal fails.</summary>
    private readonly Queue<IActorRef> _inFlight = new();
    private long _eventsSinceSnapshot;
    private bool _snapshotInProgress;
    /// <summary>The newest resourceVersion handed to a decision (in flight included).</summary>
    private long _lastAssigned;
    /// <summary>The store as of the newest version the journal has confirmed: what every read sees.</summary>
    private ObjectStore _durable = ObjectStore.Empty;
    private bool _handingOver;

    public ApiServerActor(ApiServerSettings settings)
    {
        _settings = settings;
        _controlPlane = new ControlPlane(settings.ControlPlane);
        _watches = new WatchHub(settings.WatchHistory);

        Recover<SnapshotOffer>(offer =>
        {
            var snapshot = (StoreSnapshot)offer.Snapshot;
            foreach (var o in snapshot.Objects)
                _controlPlane.Apply(new StoreChange(ChangeType.Added, StoredObject.FromJson(o.Resource, o.Json)), snapshot.ResourceVersion);
        });
        Recover<ObjectsChanged>(e =>
        {
            var rv = e.ResourceVersion > 0 ? e.ResourceVersion : LastSequenceNr;
            foreach (var c in e.Changes) _controlPlane.Apply(ToChange(c), rv);
        });
        Recover<RecoveryCompleted>(_ => OnRecovered());

        Command<CreateObject>(c => Write(() => _controlPlane.Create(Kind(c.Resource), c.Namespace, Parse(c.Resource, c.Json)), Sender, dryRun: c.DryRun));
        Command<UpdateObject>(c => Write(() => _controlPlane.Update(Kind(c.Resource), c.Namespace, c.Name, ParseUpdate(c), c.Status), Sender, dryRun: c.DryRun));
        Command<DeleteObject>(c => Write(() => _controlPlane.Delete(Kind(c.Resource), c.Namespace, c.Name, c.GracePeriodSeconds, DeletePropagations.Parse(c.PropagationPolicy)), Sender, dryRun: c.DryRun));
        Command<GetObject>(c =>
        {
            var kind = ResourceKind.All.FirstOrDefault(k => k.Resource == c.Resource);
            var obj = kind is null ? null : _durable.Get(new ObjectRef(c.Resource, kind.Namespaced ? c.Namespace ?? "default" : "", c.Name));
            Sender.Tell(obj is null
                ? ErrorReply(kind is null ? ApiError.BadRequest($"unknown resource {c.Resource}") : ApiError.NotFound(kind, c.Name))
                : new ObjectReply(c.Resource, obj.ToJson(), obj.ResourceVersion));
        });
        Command<ListObjects>(c => Sender.Tell(List(c)));
        Command<RegisterNode>(c => Write(() => _controlPlane.RegisterNode(c.Name, c.Address, c.KernelVersion, c.OsImage, c.AkkaAddress, c.Capacity), Sender, ack: true));
        Command<RenewNodeLease>(c => Write(() => _controlPlane.RenewNodeLease(c.Name), ActorRefs.Nobody));
        Command<ReportPodStatus>(c => Write(() => _controlPlane.ReportPodStatus(c.Namespace, c.Name, c.Uid, KubeObjects.FromJson<V1PodStatus>(c.StatusJson)), Sender, ack: true));
        Command<ConfirmPodTerminated>(c => Write(() => _controlPlane.PodTerminated(c.Namespace, c.Name, c.Uid), Sender, ack: true));
        Command<StartWatch>(w =>
        {
            if (_watches.Start(w, _durable)) Context.Watch(w.Subscriber);
        });
        // Block bodies: a Func<T, bool> handler returning false would mark the message unhandled.
        Command<StopWatch>(c =>
        {
            _watches.Stop(c.Subscriber);
            Context.Unwatch(c.Subscriber);
        });
        Command<Terminated>(t =>
        {
            _watches.Stop(t.ActorRef);
        });

        Command<ClusterEvent.CurrentClusterState>(OnClusterState);
        Command<ClusterEvent.UnreachableMember>(m => SetNodeReady(m.Member, "Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status."));
        Command<ClusterEvent.ReachableMember>(m => SetNodeReady(m.Member, "True", "KubeletReady", "kubelet is posting ready status"));
        Command<ClusterEvent.MemberRemoved>(m => SetNodeReady(m.Member, "False", "NodeLeft", "node left the cluster"));
        Command<ClusterEvent.IMemberEvent>(_ => { });
        Command<HandOver>(_ =>
        {
            _handingOver = true;
            StopWhenDrained();
        });
        Command<ExpireEvents>(_ => Write(() => _controlPlane.ExpireEvents(DateTime.UtcNow - _settings.EventTtl), ActorRefs.Nobody));
        Command<Resync>(_ => Write(_controlPlane.Resync, ActorRefs.Nobody));

        Command<SaveSnapshotSuccess>(s =>
        {
            _snapshotInProgress = false;
            // The snapshot holds everything up to its sequence number: older snapshots and events are no longer needed.
            DeleteSnapshots(new SnapshotSelectionCriteria(s.Metadata.SequenceNr - 1));
            DeleteMessages(s.Metadata.SequenceNr);
        });
        Command<SaveSnapshotFailure>(f =>
        {
            _snapshotInProgress = false;
            _log.Warning(f.Cause, "snapshot at {0} failed", f.Metadata.SequenceNr);
        });
        Command<DeleteSnapshotsSuccess>(_ => { });
        Command<DeleteSnapshotsFailure>(f => _log.Warning(f.Cause, "deleting old snapshots failed"));
        Command<DeleteMessagesSuccess>(_ => { });
        Command<DeleteMessagesFailure>(f => _log.Warning(f.Cause, "trimming the journal up to {0} failed", f.ToSequenceNr));
    }

    public ITimerScheduler Timers { get; set; } = null!;

    private sealed record ExpireEvents
    {
        public static readonly ExpireEvents Instance = new();
    }

    /// <summary>The controllers' periodic resync (what time alone changes: evictions from lost nodes, minReadySeconds, progress deadlines).</summary>
    private sealed record Resync
    {
        public static readonly Resync Instance = new();
    }

    public override string PersistenceId => PersistenceIdValue;

    public static Props Props(ApiServerSettings settings) => Akka.Actor.Props.Create(() => new ApiServerActor(settings));

    protected override void PostStop()
    {
        Akka.Cluster.Cluster.Get(Context.System).Unsubscribe(Self);
        base.PostStop();
    }

    private void OnRecovered()
    {
        foreach (var problem in _controlPlane.RebuildDerived()) _log.Warning("repair: {0}", problem);
        _lastAssigned = Math.Max(LastSequenceNr, _controlPlane.Store.ResourceVersion);
        _durable = _controlPlane.Store.AtVersion(_lastAssigned);
        _log.Info("ApiServer recovered {0} objects at resourceVersion {1}", _controlPlane.Store.Count, _lastAssigned);
        Timers.StartPeriodicTimer("expire-events", ExpireEvents.Instance, _settings.EventSweepInterval);
        Write(_controlPlane.Bootstrap, ActorRefs.Nobody);
        // Resync derived objects (a crash between a change and its controllers' follow-ups cannot leave them stale).
        Write(_controlPlane.ResyncEndpoints, ActorRefs.Nobody);
        Write(_controlPlane.ReconcileLoadBalancers, ActorRefs.Nobody);
        Write(_controlPlane.Resync, ActorRefs.Nobody);
        Timers.StartPeriodicTimer("resync", Resync.Instance, _settings.ResyncInterval);
        Akka.Cluster.Cluster.Get(Context.System).Subscribe(Self, ClusterEvent.SubscriptionInitialStateMode.InitialStateAsSnapshot,
            typeof(ClusterEvent.IMemberEvent), typeof(ClusterEvent.IReachabilityEvent));
    }

    /// <summary>A page of a list, from the durable store (<see cref="ListPager"/>).</summary>
    private object List(ListObjects c)
    {
        var kind = ResourceKind.All.FirstOrDefault(k => k.Resource == c.Resource);
        if (kind is null) return ErrorReply(ApiError.NotFound(ResourceKind.Namespace, c.Resource) with { Message = "the server could not find the requested resource" });
        try
        {
            var page = ListPager.List(_durable, kind, c.Namespace, c.LabelSelector, c.FieldSelector, c.Limit, c.Continue);
            return new ObjectList(c.Resource, page.Items.Select(json => new RawObject(json)).ToList(), page.ResourceVersion, page.Continue);
        }
        catch (ApiErrorException e)
        {
            return ErrorReply(e.Error);
        }
    }

    private static ResourceKind Kind(string resource) =>
        ResourceKind.All.FirstOrDefault(k => k.Resource == resource)
        ?? throw new ApiErrorException(ApiError.NotFound(ResourceKind.Namespace, resource) with { Message = "the server could not find the requested resource" });

    private static IKubernetesObject<V1ObjectMeta> Parse(string resource, string json)
    {
        try
        {
            return StoredObject.FromJson(resource, json).Object;
        }
        catch (Exception e) when (e is FormatException or InvalidOperationException or OverflowException or ArgumentException)
        {
            var kind = Kind(resource);
            throw new ApiErrorException(ApiError.BadRequest($"{kind.Kind} in version \"{kind.Version}\" cannot be handled as a {kind.Kind}: {e.Message}"));
        }
    }

    /// <summary>An update may only name a version a client could have read: one the journal has confirmed.</summary>
    private IKubernetesObject<V1ObjectMeta> ParseUpdate(UpdateObject c)
    {
        var obj = Parse(c.Resource, c.Json);
        if (obj.Metadata?.ResourceVersion is { Length: > 0 } text
            && long.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var rv)
            && rv > _durable.ResourceVersion)
            throw new ApiErrorException(ApiError.StaleResourceVersion(Kind(c.Resource), c.Name));
        return obj;
    }

    private static ApiErrorReply ErrorReply(ApiError error) => ApiErrorReply.From(error);

    private static StoreChange ToChange(PersistedChange c) =>
        new(Enum.Parse<ChangeType>(c.Type), StoredObject.FromJson(c.Resource, c.Json));

    /// <summary>
    /// Decide, stamp the next resourceVersion, apply to the decided store at once (later commands see it), persist,
    /// then (durable) move the read store, reply and publish. A dry run stops after the decision and gives back
    /// every allocation it made.
    /// </summary>
    private void Write(Func<Decision> decide, IActorRef replyTo, bool ack = false, bool dryRun = false)
    {
        if (_handingOver)
        {
            // Nothing new is started while handing over; the next ApiServer reconciles the controllers' work itself.
            if (!replyTo.IsNobody()) replyTo.Tell(ErrorReply(ApiError.ServiceUnavailable("the ApiServer is moving to another node; try again")));
            return;
        }
        Decision decision;
        try
        {
            decision = decide();
        }
        catch (ApiErrorException e)
        {
            replyTo.Tell(ErrorReply(e.Error));
            return;
        }
        catch (Exception e)
        {
            // A bug, not bad input: the caller hears it now, and this instance stops (its derived state may be
            // half-changed); the supervisor starts a fresh one from the journal.
            _log.Error(e, "unexpected error while deciding a write");
            replyTo.Tell(ErrorReply(ApiError.InternalError(e.Message)));
            throw;
        }
        if (!decision.Ok)
        {
            replyTo.Tell(ErrorReply(decision.Error!));
            return;
        }
        if (dryRun)
        {
            decision.Transaction.Revert();
            replyTo.Tell(Reply(decision, ack));
            return;
        }
        if (decision.Changes.Count == 0)
        {
            decision.Transaction.Commit();
            // The reply may show a version still in flight: answer only after every earlier write is durable.
            if (_inFlight.Count == 0) replyTo.Tell(Reply(decision, ack));
            else DeferAsync(decision, d => replyTo.Tell(Reply(d, ack)));
            return;
        }
        // The decision's objects are its own new copies: stamping them is safe even if the write is refused below.
        var rv = _lastAssigned + 1;
        var rvText = rv.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var persisted = new List<PersistedChange>(decision.Changes.Count);
        var podNodes = new List<string?>(decision.Changes.Count);
        foreach (var change in decision.Changes)
        {
            change.Object.Object.Metadata.ResourceVersion = rvText;
            var json = KubeObjects.ToJson(change.Object.Object);
            if (json.Length > _settings.MaxObjectBytes)
            {
                decision.Transaction.Revert();
                replyTo.Tell(ErrorReply(ApiError.ObjectTooLarge()));
                return;
            }
            persisted.Add(new PersistedChange(change.Type.ToString(), change.Object.Kind.Resource, json));
            podNodes.Add(change.Object.Object is V1Pod pod ? pod.Spec?.NodeName : null);
        }
        _lastAssigned = rv;
        // From here the objects are stored and frozen: their journaled text serves every later read and the snapshot.
        for (var i = 0; i < decision.Changes.Count; i++) decision.Changes[i].Object.WithKnownJson(persisted[i].Json);
        foreach (var change in decision.Changes) _controlPlane.Apply(change, rv);
        var storeAfter = _controlPlane.Store;
        var evt = new ObjectsChanged(persisted, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), rv);
        _inFlight.Enqueue(replyTo);
        PersistAsync(evt, e =>
        {
            _inFlight.Dequeue();
            _durable = storeAfter;
            decision.Transaction.Commit();
            var replyIndex = decision.Reply is null ? -1 : decision.Changes.ToList().FindIndex(c => ReferenceEquals(c.Object.Object, decision.Reply.Object));
            replyTo.Tell(ack || replyIndex < 0 ? Reply(decision, ack) : new ObjectReply(decision.Reply!.Kind.Resource, e.Changes[replyIndex].Json, rv));
            _watches.Publish(e, rv, podNodes);
            MaybeSnapshot();
            StopWhenDrained();
        });
    }

    /// <summary>During a hand-over: stop once every write sent to the journal has been confirmed and answered.</summary>
    private void StopWhenDrained()
    {
        if (_handingOver && _inFlight.Count == 0) Context.Stop(Self);
    }

    /// <summary>
    /// The journal could not write (disk full, database gone): everyone waiting is told the cause now, and this
    /// instance stops (Akka's default after a persist failure); the supervisor starts a fresh one that recovers
    /// from what is durable, and watchers see the old one terminate.
    /// </summary>
    protected override void OnPersistFailure(Exception cause, object @event, long sequenceNr)
    {
        FailInFlight(cause, "failed");
        base.OnPersistFailure(cause, @event, sequenceNr);
    }

    /// <summary>The journal refused the event (e.g. too large for it): as a failure, but this instance must stop itself.</summary>
    protected override void OnPersistRejected(Exception cause, object @event, long sequenceNr)
    {
        FailInFlight(cause, "was rejected");
        base.OnPersistRejected(cause, @event, sequenceNr);
        Context.Stop(Self);
    }

    private void FailInFlight(Exception cause, string what)
    {
        var reason = cause.GetBaseException().Message;
        _log.Error(cause, "journal write {0}: {1}; stopping so a fresh ApiServer recovers from the journal", what, reason);
        var error = ErrorReply(ApiError.InternalError($"storage write {what}: {reason}; the change was not acknowledged"));
        while (_inFlight.Count > 0) _inFlight.Dequeue().Tell(error);
    }

    /// <summary>
    /// Snapshots keep recovery short. The store is immutable, so the snapshot is built off the actor (it costs
    /// seconds for a large store) and written at the version it was taken at; the interval grows with the
    /// store, so snapshotting stays a constant cost per write.
    /// </summary>
    private void MaybeSnapshot()
    {
        if (++_eventsSinceSnapshot < Math.Max(_settings.SnapshotEvery, _controlPlane.Store.Count / 4) || _snapshotInProgress) return;
        _eventsSinceSnapshot = 0;
        _snapshotInProgress = true;
        // The durable store is exactly the journal up to LastSequenceNr (this runs in a persist callback).
        var store = _durable;
        var metadata = new SnapshotMetadata(PersistenceId, LastSequenceNr, DateTime.UtcNow);
        var snapshotStore = SnapshotStore;
        var self = Self;
        Task.Run(() =>
        {
            var snapshot = new StoreSnapshot(store.All().Select(o => new WatchedObject(o.Kind.Resource, o.ToJson())).ToList(), store.ResourceVersion);
            snapshotStore.Tell(new SaveSnapshot(metadata, snapshot), self);
        });
    }

    private static object Reply(Decision decision, bool ack) =>
        ack || decision.Reply is null
            ? new Acknowledged(decision.Reply?.ResourceVersion ?? 0)
            : new ObjectReply(decision.Reply.Kind.Resource, decision.Reply.ToJson(), decision.Reply.ResourceVersion);

    // ------------------------------------------------------------------ node readiness from membership

    private string? NodeAt(Address address) => NodeDirectory.Of(_controlPlane.Store).AtAkkaAddress(address.ToString())?.Name;

    private void SetNodeReady(Member member, string status, string reason, string message)
    {
        // A node restarted at the same address may already be a member again when its old incarnation's event
        // arrives: that event says nothing about the node any more.
        if (Akka.Cluster.Cluster.Get(Context.System).State.Members.Any(m => m.Address == member.Address && m.UniqueAddress != member.UniqueAddress)) return;
        if (NodeAt(member.Address) is { } node)
            Write(() => _controlPlane.SetNodeReady(node, status, reason, message), ActorRefs.Nobody);
    }

    private void OnClusterState(ClusterEvent.CurrentClusterState state)
    {
        var up = state.Members.Where(m => m.Status is MemberStatus.Up or MemberStatus.WeaklyUp or MemberStatus.Joining)
            .Select(m => m.Address.ToString()).ToHashSet();
        var unreachable = state.Unreachable.Select(m => m.Address.ToString()).ToHashSet();
        foreach (var node in NodeDirectory.Of(_controlPlane.Store).All)
        {
            if (node.AkkaAddress is not { } address) continue;
            var name = node.Name;
            if (unreachable.Contains(address))
                Write(() => _controlPlane.SetNodeReady(name, "Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status."), ActorRefs.Nobody);
            else if (!up.Contains(address))
                Write(() => _controlPlane.SetNodeReady(name, "False", "NodeLeft", "node left the cluster"), ActorRefs.Nobody);
        }
    }
}
