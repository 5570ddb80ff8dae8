using ActorCluster.Core.ControlPlane;
using ActorCluster.Core.Store;
using Akka.Actor;

namespace ActorCluster.Cluster.Replica;

// The node replica's local protocol (never leaves the process).

/// <summary>Register for the replica's updates; the subscriber gets <see cref="ReplicaUpdated"/> at once if synced.</summary>
public sealed record SubscribeReplica(IActorRef Subscriber);

/// <summary>The replica changed: the whole current store (immutable, cheap to share) and what changed.</summary>
public sealed record ReplicaUpdated(ObjectStore Store, IReadOnlyList<StoreChange> Changes, bool Relisted);

/// <summary>Ask for <see cref="ReplicaStats"/>.</summary>
public sealed record GetReplicaStats
{
    public static readonly GetReplicaStats Instance = new();
}

/// <summary>Forget the latency samples gathered so far (benchmarks measure one phase at a time).</summary>
public sealed record ResetReplicaStats
{
    public static readonly ResetReplicaStats Instance = new();
}

/// <summary>How current the replica is and how long changes took from commit to applied here.</summary>
public sealed record ReplicaStats(bool Synced, long ResourceVersion, int Objects, int Relists, long ChangesApplied, double P50Ms, double P99Ms, double MaxMs);
