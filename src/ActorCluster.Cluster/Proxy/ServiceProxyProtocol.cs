namespace ActorCluster.Cluster.Proxy;

// The node's service proxy (local to one node process). It also takes Dispatch (ServiceActorProtocol.cs) and
// forwards it to the Service's actor.

/// <summary>Ask which addresses this node's proxy listens on; answered with <see cref="ProxyListeners"/>.</summary>
public sealed record GetProxyListeners
{
    public static readonly GetProxyListeners Instance = new();
}

/// <summary>
/// "ip:port -> namespace/service" for every bound TCP listener ("ip:port/UDP" for UDP ones) and, in nftables mode,
/// every address the node's table serves; the endpoints that
/// could not bind, and the node tunnel's address (null when it is not bound).
/// </summary>
public sealed record ProxyListeners(IReadOnlyDictionary<string, string> Bound, IReadOnlyList<string> Failed, string? Tunnel = null);

/// <summary>Ask for the listeners' counters; answered with <see cref="ProxyCounters"/>.</summary>
public sealed record GetProxyCounters
{
    public static readonly GetProxyCounters Instance = new();
}

/// <summary>
/// One listener's counters (Active: connections or UDP flows open now). Kind is ClusterIP, NodePort, ExternalIP,
/// LoadBalancer or TunnelEntry; refusals are split by kube-proxy's reason (RefusedSourceRange: a LoadBalancer IP's
/// client outside loadBalancerSourceRanges); DroppedFlowLimit: UDP flows not opened because the port held its maximum.
/// </summary>
public sealed record ListenerCounters(
    string Service, string Address, string Protocol, string Kind, long Active, long Connections, long RefusedNoEndpoints, long RefusedNoLocalEndpoints,
    long DroppedFlowLimit, long DialRetries, long Failed, long BytesIn, long BytesOut, long RefusedSourceRange = 0);

/// <summary>The node tunnel's counters: connections carried to local pods, peers turned away, pod dials that failed, bytes.</summary>
public sealed record TunnelCounters(long Connections, long Rejected, long DialFailures, long BytesIn, long BytesOut);

/// <summary>
/// Every listener's counters, the tunnel's, how many syncs handed changed Services to their actors, the data path in
/// use ("userspace" or "nftables") and, in nftables mode, how many transactions wrote the node's table and how long
/// the newest took.
/// </summary>
public sealed record ProxyCounters(
    IReadOnlyList<ListenerCounters> Listeners, TunnelCounters? Tunnel, long Syncs = 0, string Mode = "userspace", long KernelTransactions = 0,
    double KernelLastTransactionMs = 0);

/// <summary>
/// Ask a node's proxy what its data plane did, for the dashboard (asked of every node, so it crosses the wire);
/// answered with <see cref="NodeTraffic"/>.
/// </summary>
public sealed record GetTraffic : Serialization.IClusterMessage
{
    public static readonly GetTraffic Instance = new();
}

/// <summary>One node's listeners, each endpoint's counters (connections given, bytes carried) and its last routing decisions.</summary>
public sealed record NodeTraffic(
    string Node, IReadOnlyList<ListenerCounters> Listeners, IReadOnlyList<ActorCluster.Proxy.EndpointTrafficCounts> Endpoints,
    IReadOnlyList<ActorCluster.Proxy.RouteRecord> Decisions) : Serialization.IClusterMessage;
