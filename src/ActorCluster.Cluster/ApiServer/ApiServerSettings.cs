using ActorCluster.Core.ControlPlane;

namespace ActorCluster.Cluster.ApiServer;

/// <summary>The ApiServer's tunables (hocon: actorcluster.apiserver).</summary>
public sealed record ApiServerSettings(ControlPlaneConfig ControlPlane, int SnapshotEvery = 1000, int WatchHistory = 10000)
{
    /// <summary>etcd's default request limit (1.5 MiB): a bigger object is refused, nothing stored.</summary>
    public const int DefaultMaxObjectBytes = 1572864;

    public int MaxObjectBytes { get; init; } = DefaultMaxObjectBytes;

    /// <summary>Events are deleted this long after they were last recorded (kube-apiserver's --event-ttl).</summary>
    public TimeSpan EventTtl { get; init; } = TimeSpan.FromHours(1);

    /// <summary>How often expired Events are looked for.</summary>
    public TimeSpan EventSweepInterval { get; init; } = TimeSpan.FromMinutes(1);

    /// <summary>How often every Deployment and ReplicaSet is synced again (kube-controller-manager resyncs too).</summary>
    public TimeSpan ResyncInterval { get; init; } = TimeSpan.FromSeconds(10);
}
