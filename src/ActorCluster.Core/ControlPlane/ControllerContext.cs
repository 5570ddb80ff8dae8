using ActorCluster.Core.Objects;
using ActorCluster.Core.Registry;
using k8s.Models;

namespace ActorCluster.Core.ControlPlane;

/// <summary>What every controller of the control plane shares: the clock, new uids, and how an Event is made.</summary>
internal sealed class ControllerContext(Func<DateTime> clock, Func<string> newUid)
{
    private long _eventCounter;

    public Func<string> NewUid { get; } = newUid;

    public DateTime Clock() => clock();

    /// <summary>Now, at the second (what Kubernetes timestamps hold).</summary>
    public DateTime Now() => ObjectMetaRules.Truncate(clock());

    public WriteContext Write(string ns) => new(ns, clock(), NewUid);

    /// <summary>What runs on every decision's changes before it is done (the workload controllers).</summary>
    public Action<DecisionBatch>? FollowUps { get; set; }

    /// <summary>A decision over <paramref name="store"/>, with the follow-ups every decision gets.</summary>
    public DecisionBatch NewBatch(Store.ObjectStore store) => new(store, FollowUps);

    /// <summary>An Event about an object, as the named component records it.</summary>
    public Corev1Event NewEvent(ResourceKind kind, V1ObjectMeta about, string type, string reason, string message, string component)
    {
        var now = Now();
        // A fixed-width counter: Events of one second list in the order they were recorded.
        var ev = ObjectEvents.About(kind, about, null, type, reason, message, component, null, $"{about.Name}.{now.Ticks:x}{++_eventCounter:x6}", now);
        // An Event about a cluster-scoped object (a Node) lives in the default namespace, as Kubernetes records it.
        ev.Metadata.NamespaceProperty ??= ControlPlane.DefaultNamespace;
        ObjectMetaRules.PrepareCreate(ev.Metadata, new WriteContext(ev.Metadata.NamespaceProperty, now, NewUid));
        return ev;
    }
}
