namespace ActorCluster.Core.Allocation;

public enum AllocationErrorKind
{
    Full,
    Allocated,
    NotInRange,
}

/// <summary>The allocator errors of kube-apiserver, verbatim (portallocator and ipallocator interfaces.go).</summary>
public sealed record AllocationError(AllocationErrorKind Kind, string Message)
{
    public static readonly AllocationError RangeFull = new(AllocationErrorKind.Full, "range is full");
    public static readonly AllocationError PortAllocated = new(AllocationErrorKind.Allocated, "provided port is already allocated");
    public static readonly AllocationError IPAllocated = new(AllocationErrorKind.Allocated, "provided IP is already allocated");

    public static AllocationError PortNotInRange(PortRange range) =>
        new(AllocationErrorKind.NotInRange, $"provided port is not in the valid range. The range of valid ports is {range}");

    public static AllocationError IPNotInRange(string ip, string validRange) =>
        new(AllocationErrorKind.NotInRange, $"the provided IP ({ip}) is not in the valid range. The range of valid IPs is {validRange}");

    public override string ToString() => Message;
}
