using Prometheus;

namespace ActorCluster.Cluster.Hosting;

/// <summary>
/// One node's Prometheus metrics (prometheus-net, a registry per node, so several nodes in one process stay apart;
/// every series carries <c>node</c>). Latencies are real histograms recorded where they happen; the counters the data
/// plane keeps in its listeners are copied in when <c>/metrics</c> is scraped.
/// </summary>
public sealed class NodeMetrics
{
    private static readonly string[] ListenerLabels = ["service", "protocol", "listener", "address"];
    private static readonly string[] MemberLabels = ["member", "status", "reachable"];

    public NodeMetrics(string node)
    {
        var factory = Metrics.WithCustomRegistry(Registry).WithLabels(new Dictionary<string, string> { ["node"] = node });
        ReplicaApplyLatency = factory.CreateHistogram("actorcluster_replica_apply_latency_seconds",
            "Time from a change's commit on the ApiServer to its application on this node's replica.",
            configuration: new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(0.0005, 2, 16) });
        ReplicaRelists = factory.CreateCounter("actorcluster_replica_relists_total", "Times this node's replica listed again after a gap or a lost watch.");
        ReplicaResourceVersion = factory.CreateGauge("actorcluster_replica_resource_version", "The newest resourceVersion this node's replica has applied.");
        ReplicaObjects = factory.CreateGauge("actorcluster_replica_objects", "Objects this node's replica holds (every kind; pods only of this node).");
        ReplicaSynced = factory.CreateGauge("actorcluster_replica_synced", "1 when this node's replica follows the ApiServer's stream without a gap.");
        ApiServerHost = factory.CreateGauge("actorcluster_apiserver_host", "1 when this node hosts the ApiServer (it is the oldest member), else 0.");
        ProxyMode = factory.CreateGauge("actorcluster_proxy_mode", "1 for the data path carrying Service traffic on this node (kube-proxy's --proxy-mode): userspace or nftables.", ["mode"]);
        KernelTransactions = factory.CreateCounter("actorcluster_proxy_nftables_transactions_total", "nft transactions that wrote this node's table (nftables mode; a burst of changes goes in one).");
        ProxySyncs = factory.CreateCounter("actorcluster_proxy_syncs_total", "Times the service proxy handed changed Services to their actors (changes within min-sync-period go together).");
        Connections = factory.CreateCounter("actorcluster_proxy_connections_total", "Connections accepted (TCP) or client flows opened (UDP) by a service listener.", ListenerLabels);
        DialRetries = factory.CreateCounter("actorcluster_proxy_dial_retries_total", "Dials to an endpoint that failed and were retried on another.", ListenerLabels);
        Failed = factory.CreateCounter("actorcluster_proxy_failed_total", "Connections closed after every endpoint failed.", ListenerLabels);
        Active = factory.CreateGauge("actorcluster_proxy_active", "Connections (TCP) or client flows (UDP) a service listener has open now.", ListenerLabels);
        Refused = factory.CreateCounter("actorcluster_proxy_refused_total", "Connections reset (or datagrams dropped) at once, by kube-proxy's reason.", [.. ListenerLabels, "reason"]);
        Bytes = factory.CreateCounter("actorcluster_proxy_bytes_total", "Bytes relayed by a service listener, by direction (in: client to pod).", [.. ListenerLabels, "direction"]);
        RemotingPeersRefused = factory.CreateCounter("actorcluster_remoting_peers_refused_total", "TLS handshakes on Akka remoting refused: the peer had no node certificate from the cluster CA.");
        TunnelConnections = factory.CreateCounter("actorcluster_tunnel_connections_total", "Connections from other nodes carried by this node's tunnel to its pods.");
        TunnelRejected = factory.CreateCounter("actorcluster_tunnel_rejected_total", "Tunnel connections turned away: not from a cluster member, or not to this node's pods.");
        TunnelDialFailures = factory.CreateCounter("actorcluster_tunnel_dial_failures_total", "Tunnel connections whose pod could not be dialed.");
        TunnelBytes = factory.CreateCounter("actorcluster_tunnel_bytes_total", "Bytes carried by this node's tunnel, by direction (in: towards the pod).", ["direction"]);
        ClusterMembers = factory.CreateGauge("actorcluster_cluster_members",
            "The cluster's members as this node sees them: 1 per member, by Akka address, member status and reachability.", MemberLabels);
    }

    public CollectorRegistry Registry { get; } = Metrics.NewCustomRegistry();

    public Histogram ReplicaApplyLatency { get; }

    public Counter ReplicaRelists { get; }

    public Gauge ReplicaResourceVersion { get; }

    public Gauge ReplicaObjects { get; }

    public Gauge ReplicaSynced { get; }

    public Gauge ApiServerHost { get; }

    public Counter ProxySyncs { get; }

    public Gauge ProxyMode { get; }

    public Counter KernelTransactions { get; }

    public Counter RemotingPeersRefused { get; }

    public Counter Connections { get; }

    public Counter DialRetries { get; }

    public Counter Failed { get; }

    public Gauge Active { get; }

    public Counter Refused { get; }

    public Counter Bytes { get; }

    public Counter TunnelConnections { get; }

    public Counter TunnelRejected { get; }

    public Counter TunnelDialFailures { get; }

    public Counter TunnelBytes { get; }

    public Gauge ClusterMembers { get; }

    private readonly HashSet<string[]> _members = new(LabelsComparer.Instance);

    /// <summary>Sets the members' series (at scrape time); members that are gone, or changed status, lose theirs.</summary>
    public void SetMembers(IEnumerable<(string Address, string Status, bool Reachable)> members)
    {
        var seen = members.Select(m => new[] { m.Address, m.Status, m.Reachable ? "true" : "false" }).ToHashSet(LabelsComparer.Instance);
        lock (_members)
        {
            foreach (var gone in _members.Where(m => !seen.Contains(m)).ToList())
            {
                ClusterMembers.RemoveLabelled(gone);
                _members.Remove(gone);
            }
            foreach (var labels in seen) ClusterMembers.WithLabels(labels).Set(1);
            _members.UnionWith(seen);
        }
    }

    private readonly HashSet<string[]> _listeners = new(LabelsComparer.Instance);

    /// <summary>Copies the listeners' counters in (at scrape time); series of listeners that are gone are removed.</summary>
    public void SetListeners(IEnumerable<(string[] Labels, ListenerValues Values)> listeners)
    {
        var seen = new HashSet<string[]>(LabelsComparer.Instance);
        foreach (var (labels, v) in listeners)
        {
            seen.Add(labels);
            Connections.WithLabels(labels).IncTo(v.Connections);
            DialRetries.WithLabels(labels).IncTo(v.DialRetries);
            Failed.WithLabels(labels).IncTo(v.Failed);
            Active.WithLabels(labels).Set(v.Active);
            Refused.WithLabels([.. labels, "no_endpoints"]).IncTo(v.RefusedNoEndpoints);
            Refused.WithLabels([.. labels, "no_local_endpoints"]).IncTo(v.RefusedNoLocalEndpoints);
            if (labels[1] == "UDP") Refused.WithLabels([.. labels, "flow_limit"]).IncTo(v.DroppedFlowLimit);
            if (labels[2] == "LoadBalancer") Refused.WithLabels([.. labels, "source_range"]).IncTo(v.RefusedSourceRange);
            Bytes.WithLabels([.. labels, "in"]).IncTo(v.BytesIn);
            Bytes.WithLabels([.. labels, "out"]).IncTo(v.BytesOut);
        }
        lock (_listeners)
        {
            foreach (var gone in _listeners.Where(l => !seen.Contains(l)).ToList())
            {
                Connections.RemoveLabelled(gone);
                DialRetries.RemoveLabelled(gone);
                Failed.RemoveLabelled(gone);
                Active.RemoveLabelled(gone);
                foreach (var reason in new[] { "no_endpoints", "no_local_endpoints", "flow_limit", "source_range" }) Refused.RemoveLabelled([.. gone, reason]);
                foreach (var direction in new[] { "in", "out" }) Bytes.RemoveLabelled([.. gone, direction]);
                _listeners.Remove(gone);
            }
            _listeners.UnionWith(seen);
        }
    }

    /// <summary>A listener's counters as the data plane keeps them.</summary>
    public sealed record ListenerValues(long Active, long Connections, long RefusedNoEndpoints, long RefusedNoLocalEndpoints, long DroppedFlowLimit,
        long DialRetries, long Failed, long BytesIn, long BytesOut, long RefusedSourceRange = 0);

    private sealed class LabelsComparer : IEqualityComparer<string[]>
    {
        public static readonly LabelsComparer Instance = new();

        public bool Equals(string[]? x, string[]? y) => x is not null && y is not null && x.AsSpan().SequenceEqual(y);

        public int GetHashCode(string[] obj) => string.Join('\u0001', obj).GetHashCode(StringComparison.Ordinal);
    }
}
