using ActorCluster.Core.Allocation;
using ActorCluster.Core.Api;
using ActorCluster.Core.Store;

namespace ActorCluster.Core.ControlPlane;

public enum ChangeType
{
    Added,
    Modified,
    Deleted,
}

/// <summary>One change to the store: the event the ApiServer persists (as JSON) and every watcher sees.</summary>
public sealed record StoreChange(ChangeType Type, StoredObject Object);

/// <summary>
/// What a command decided: the changes to persist (primary object first, then what the controllers derive
/// from it), the object to answer with, or an error; and the allocation transaction to commit once durable.
/// </summary>
public sealed record Decision(IReadOnlyList<StoreChange> Changes, StoredObject? Reply, ApiError? Error, AllocationTransaction Transaction)
{
    public static Decision Fail(ApiError error) => new([], null, error, new AllocationTransaction());

    public bool Ok => Error is null;
}

/// <summary>
/// The control plane's configuration: service addresses, LoadBalancer pools, pod ranges, and how long a pod stays
/// bound to a node that is unreachable or not ready before it is evicted (the tolerationSeconds the
/// DefaultTolerationSeconds admission plugin gives pods that do not say; Kubernetes' default is 300).
/// </summary>
public sealed record ControlPlaneConfig(ServiceNetworkConfig ServiceNetwork, IReadOnlyList<IPAddressPool> LoadBalancerPools, string PodNetworkPrefix = "127.244", long DefaultTolerationSeconds = Defaulting.PodDefaults.DefaultTolerationSeconds)
{
    public static readonly ControlPlaneConfig Default = new(ServiceNetworkConfig.Default, []);
}
