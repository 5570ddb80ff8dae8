namespace ActorCluster.Cluster.Hosting;

/// <summary>
/// How to start one node: the command-line flags (or ACTORCLUSTER_* environment variables) of
/// <c>actorcluster node</c>. Everything not given here comes from the HOCON files.
/// </summary>
public sealed record NodeOptions
{
    /// <summary>Kubernetes node name, e.g. k8s-worker1.</summary>
    public required string Name { get; init; }

    /// <summary>The node's address: remoting, the API and NodePorts bind here.</summary>
    public string Address { get; init; } = "127.0.1.1";

    /// <summary>Remoting port; 0 picks a free one (tests).</summary>
    public int Port { get; init; } = DefaultPorts.Remoting;

    /// <summary>Seed nodes as host:port; empty means this node starts the cluster.</summary>
    public IReadOnlyList<string> Seeds { get; init; } = [];

    public string DataDir { get; init; } = "./.actorcluster";

    /// <summary>
    /// The cluster CA's certificate and key (PEM). Unset: the data directory's ca.crt/ca.key, created by the first
    /// node of a local cluster. A Swarm hands every node the same pair from Docker secrets.
    /// </summary>
    public string? CaCertificateFile { get; init; }

    /// <inheritdoc cref="CaCertificateFile"/>
    public string? CaKeyFile { get; init; }

    /// <summary>local or swarm: which mode file is layered over the defaults.</summary>
    public string Mode { get; init; } = "local";

    /// <summary>sqlite (embedded, default) or postgres.</summary>
    public string Persistence { get; init; } = "sqlite";

    public string? PostgresConnectionString { get; init; }

    /// <summary>An optional user HOCON file layered over the shipped ones.</summary>
    public string? ConfigFile { get; init; }

    /// <summary>LoadBalancer pools (CIDR or first-last); overrides the HOCON list when not empty.</summary>
    public IReadOnlyList<string> LoadBalancerPools { get; init; } = [];

    /// <summary>Overrides actorcluster.proxy.mode: userspace, nftables or auto.</summary>
    public string? ProxyMode { get; init; }

    /// <summary>Overrides actorcluster.pod-network-prefix (tests use their own range).</summary>
    public string? PodNetworkPrefix { get; init; }

    /// <summary>Extra HOCON placed above everything else (tests tune timings with it).</summary>
    public string? ExtraHocon { get; init; }
}
