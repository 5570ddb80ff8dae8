using System.Collections.Concurrent;
using System.Net;
using ActorCluster.Core.Routing;

namespace ActorCluster.Proxy;

/// <summary>
/// What this node's data plane did, for the dashboard: per endpoint of each service port, the connections it was
/// given and the bytes carried; and the last <see cref="Capacity"/> routing decisions (who came in where, which pod
/// was chosen, or kube-proxy's reason for refusing). Written by the relay loops without locks (a ring slot per
/// decision, counters with Interlocked), read as copies.
/// </summary>
public sealed class TrafficLog
{
    public const int Capacity = 256;

    // Per Service ("namespace/name"), its endpoints' counters: a Service's entries are dropped with the endpoints that
    // left it (Retain), so pods that come and go do not make the log grow.
    private readonly ConcurrentDictionary<string, ConcurrentDictionary<(string ServicePort, string Endpoint), EndpointTraffic>> _endpoints = new();
    private readonly Entry?[] _ring = new Entry?[Capacity];
    private long _next;

    /// <summary>The counters of one endpoint of one service port (created on its first connection).</summary>
    public EndpointTraffic For(RoutingTable table, ServiceEndpoint endpoint) =>
        _endpoints.GetOrAdd(table.ServiceKey, static _ => new())
            .GetOrAdd((table.DisplayName, endpoint.Address), static (key, e) => new EndpointTraffic(key.ServicePort, key.Endpoint, e.PodNamespace, e.PodName, e.NodeName), endpoint);

    /// <summary>
    /// Keeps the counters of <paramref name="service"/>'s endpoints that are still in <paramref name="tables"/> (its
    /// routing tables now; none: the Service is gone) and drops the others.
    /// </summary>
    public void Retain(string service, IReadOnlyList<RoutingTable> tables)
    {
        if (!_endpoints.TryGetValue(service, out var counters)) return;
        if (tables.Count == 0)
        {
            _endpoints.TryRemove(service, out _);
            return;
        }
        var current = tables.SelectMany(t => t.Endpoints.Select(e => (t.DisplayName, e.Address))).ToHashSet();
        foreach (var key in counters.Keys)
        {
            if (!current.Contains(key)) counters.TryRemove(key, out _);
        }
    }

    /// <summary>
    /// Records one decision: <paramref name="endpoint"/> chosen, or refused for <paramref name="refusal"/>. One small
    /// object per connection on the relay's path; the text is made only when someone reads the log.
    /// </summary>
    public void Record(RoutingTable table, IServiceListener listener, IPAddress client, int clientPort, ServiceEndpoint? endpoint, NoRouteReason? refusal)
    {
        var slot = Interlocked.Increment(ref _next) - 1;
        Volatile.Write(ref _ring[slot % Capacity], new Entry(DateTime.UtcNow, table, listener, client, clientPort, endpoint, refusal));
    }

    private sealed record Entry(DateTime Time, RoutingTable Table, IServiceListener Listener, IPAddress Client, int ClientPort, ServiceEndpoint? Endpoint, NoRouteReason? Refusal)
    {
        public RouteRecord ToRecord()
        {
            return new RouteRecord(Time, Table.DisplayName, Listener.Protocol, Listener.Kind, Listener.EndPoint.ToString(), Table.ReceivingNode,
                new IPEndPoint(Client, ClientPort).ToString(), Endpoint?.Address, Endpoint?.PodName, Endpoint?.NodeName,
                Refusal is { } reason ? new RouteDecision(null, reason, null).Describe(Table) : null);
        }
    }

    /// <summary>The decisions still held, oldest first.</summary>
    public IReadOnlyList<RouteRecord> Recent()
    {
        var next = Interlocked.Read(ref _next);
        var list = new List<RouteRecord>(Capacity);
        for (var i = Math.Max(0, next - Capacity); i < next; i++)
        {
            if (Volatile.Read(ref _ring[i % Capacity]) is { } entry) list.Add(entry.ToRecord());
        }
        return list.OrderBy(r => r.Time).ToList();
    }

    /// <summary>Every endpoint's counters as they are now.</summary>
    public IReadOnlyList<EndpointTrafficCounts> Endpoints() =>
        _endpoints.Values.SelectMany(c => c.Values).Select(e => new EndpointTrafficCounts(e.ServicePort, e.Endpoint, e.PodNamespace, e.PodName, e.NodeName,
            Interlocked.Read(ref e.Connections), Interlocked.Read(ref e.BytesIn), Interlocked.Read(ref e.BytesOut))).ToList();
}

/// <summary>The live counters of one endpoint of one service port ("namespace/name:port").</summary>
public sealed class EndpointTraffic(string servicePort, string endpoint, string? podNamespace, string? podName, string? nodeName)
{
    public string ServicePort { get; } = servicePort;

    public string Endpoint { get; } = endpoint;

    public string? PodNamespace { get; } = podNamespace;

    public string? PodName { get; } = podName;

    public string? NodeName { get; } = nodeName;

    public long Connections;

    /// <summary>Bytes from clients to the endpoint.</summary>
    public long BytesIn;

    /// <summary>Bytes from the endpoint back to clients.</summary>
    public long BytesOut;
}

/// <summary>A copy of one endpoint's counters.</summary>
public sealed record EndpointTrafficCounts(string ServicePort, string Endpoint, string? PodNamespace, string? PodName, string? NodeName, long Connections, long BytesIn, long BytesOut);

/// <summary>
/// One routing decision: when, the service port, the address it came in on (Kind: ClusterIP, NodePort or
/// LoadBalancer) and the node that received it, the client, then the endpoint and its pod and node, or the refusal
/// in kube-proxy's words.
/// </summary>
public sealed record RouteRecord(DateTime Time, string ServicePort, string Protocol, string Kind, string Address, string ReceivingNode, string Client,
    string? Endpoint, string? Pod, string? PodNode, string? Refusal);
