namespace ActorCluster.Cluster.Proxy;

// The node's service proxy (local to one node process).

/// <summary>Ask which addresses this node's proxy listens on; answered with <see cref="ProxyListeners"/>.</summary>
public sealed record GetProxyListeners
{
    public static readonly GetProxyListeners Instance = new();
}

/// <summary>"ip:port -> namespace/service" for every bound listener, and the endpoints that could not bind.</summary>
public sealed record ProxyListeners(IReadOnlyDictionary<string, string> Bound, IReadOnlyList<string> Failed);

/// <summary>Ask for the listeners' counters; answered with a list of <see cref="ListenerCounters"/>.</summary>
public sealed record GetProxyCounters
{
    public static readonly GetProxyCounters Instance = new();
}

/// <summary>One listener's counters: connections, refusals (no endpoint, no local endpoint), dial retries, failures.</summary>
public sealed record ListenerCounters(string Service, string Address, string Kind, long Connections, long Refused, long DialRetries, long Failed);
