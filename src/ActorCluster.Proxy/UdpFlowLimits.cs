namespace ActorCluster.Proxy;

/// <summary>
/// How long a UDP flow lives without traffic and how many one Service port keeps at once. conntrack bounds the
/// kernel's flows the same two ways: a UDP entry is forgotten after its timeout, and a full table drops the first
/// datagram of a new flow (the flows already open keep working).
/// </summary>
public sealed record UdpFlowLimits(TimeSpan IdleTimeout, int MaxFlows)
{
    public static readonly UdpFlowLimits Default = new(TimeSpan.FromSeconds(30), 4096);

    /// <summary>The clock idleness is measured on (the system's; a test's own to decide when time passes).</summary>
    public TimeProvider Clock { get; init; } = TimeProvider.System;
}
