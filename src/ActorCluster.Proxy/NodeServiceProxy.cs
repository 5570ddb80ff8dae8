using System.Net;
using System.Net.Sockets;
using ActorCluster.Core.Objects;
using ActorCluster.Core.Routing;
using k8s.Models;

namespace ActorCluster.Proxy;

/// <summary>A listener that could not bind, and why (reported once per failure as an Event and in the log).</summary>
public sealed record BindFailure(string Namespace, string Service, IPEndPoint EndPoint, string Protocol, string Reason);

/// <summary>
/// kube-proxy's job on one node: for every service port, a listener on its ClusterIP (shared by all nodes through
/// SO_REUSEPORT), one on this node's NodePort, and its LoadBalancer IPs where this node announces them. Listeners are
/// added, updated (a new routing table) and removed as services change; a port held by another program is reported
/// and tried again until it frees. A UDP port is bound only while it has an endpoint to send to, so a datagram to a
/// port without endpoints gets the kernel's ICMP port-unreachable: the refusal kube-proxy's REJECT rule gives.
/// Called from one actor; the listeners themselves run on their own.
/// </summary>
public sealed class NodeServiceProxy(string nodeName, IPAddress nodeAddress, UdpFlowLimits udpLimits, AddressAnnouncer? announcer = null) : IAsyncDisposable
{
    /// <param name="LoadBalancer">a LoadBalancer IP this node announces (added to the host when it is not already there)</param>
    private sealed record Wanted(IPEndPoint EndPoint, string Protocol, RoutingTable Table, TrafficSource Source, bool ReusePort, bool LoadBalancer = false)
    {
        public (IPEndPoint, string) Key => (EndPoint, Protocol);
    }

    private readonly Dictionary<(IPEndPoint EndPoint, string Protocol), IServiceListener> _listeners = new();
    private readonly Dictionary<string, List<Wanted>> _wanted = new();
    private readonly HashSet<(IPEndPoint EndPoint, string Protocol)> _failed = [];
    private readonly Dictionary<string, HealthCheckServer> _health = new();
    private int _nodes = 1;

    public string NodeName { get; } = nodeName;

    public IPAddress NodeAddress { get; } = nodeAddress;

    public IReadOnlyCollection<IServiceListener> Listeners => _listeners.Values;

    /// <summary>
    /// Sets the listeners of one Service (null: the Service is gone): ClusterIP and NodePort listeners, its
    /// LoadBalancer IPs when this node is the one elected to announce them, and the healthCheckNodePort server of a
    /// LoadBalancer with externalTrafficPolicy Local. Returns new bind failures.
    /// </summary>
    public async Task<IReadOnlyList<BindFailure>> Apply(string key, V1Service? service, IReadOnlyList<RoutingTable> tables, bool announceLoadBalancer = false)
    {
        var wanted = new List<Wanted>();
        if (service is not null)
        {
            foreach (var table in tables.Where(t => t.Protocol is ServiceTypes.TCP or ServiceTypes.UDP))
            {
                void Want(IPEndPoint endPoint, TrafficSource source, bool reuse, bool loadBalancer = false)
                {
                    if (table.Protocol == ServiceTypes.UDP && !Router.HasCandidates(table, source)) return;
                    wanted.Add(new Wanted(endPoint, table.Protocol, table, source, reuse, loadBalancer));
                }
                if (service.Spec?.ClusterIP is { } ip && ip != ServiceTypes.None && IPAddress.TryParse(ip, out var clusterIP))
                    Want(new IPEndPoint(clusterIP, table.Port), TrafficSource.Internal, true);
                if (table.NodePort > 0)
                    Want(new IPEndPoint(NodeAddress, table.NodePort), TrafficSource.External, false);
                if (announceLoadBalancer && service.Spec?.Type == ServiceTypes.LoadBalancer)
                {
                    foreach (var ingress in service.Status?.LoadBalancer?.Ingress ?? [])
                    {
                        if (IPAddress.TryParse(ingress.Ip, out var lbIP)) Want(new IPEndPoint(lbIP, table.Port), TrafficSource.External, false, loadBalancer: true);
                    }
                }
            }
        }
        await UpdateHealthCheck(key, service, tables);
        var previous = _wanted.TryGetValue(key, out var p) ? p : [];
        if (wanted.Count == 0) _wanted.Remove(key);
        else _wanted[key] = wanted;

        foreach (var gone in previous.Where(old => !wanted.Any(w => w.Key.Equals(old.Key))))
        {
            if (_listeners.Remove(gone.Key, out var listener)) await listener.DisposeAsync().ConfigureAwait(false);
            _failed.Remove(gone.Key);
        }
        // An address no longer served by any listener here is given back (MetalLB: another node announces it now).
        foreach (var ip in previous.Where(w => w.LoadBalancer).Select(w => w.EndPoint.Address).Distinct())
        {
            if (!_wanted.Values.SelectMany(w => w).Any(w => w.LoadBalancer && w.EndPoint.Address.Equals(ip))) announcer?.Withdraw(ip);
        }
        var failures = new List<BindFailure>();
        foreach (var w in wanted)
        {
            if (_listeners.TryGetValue(w.Key, out var listener))
            {
                listener.Update(w.Table);
                continue;
            }
            if (TryBind(w) is { } failure) failures.Add(failure);
        }
        return failures;
    }

    private async Task UpdateHealthCheck(string key, V1Service? service, IReadOnlyList<RoutingTable> tables)
    {
        var port = service is not null && ServiceTypes.NeedsHealthCheck(service) ? service.Spec.HealthCheckNodePort ?? 0 : 0;
        var table = tables.FirstOrDefault();
        _health.TryGetValue(key, out var current);
        if (port == 0 || table is null)
        {
            if (current is not null)
            {
                _health.Remove(key);
                await current.DisposeAsync().ConfigureAwait(false);
            }
            return;
        }
        if (current is not null && current.EndPoint.Port == port)
        {
            current.Update(table);
            return;
        }
        if (current is not null) await current.DisposeAsync().ConfigureAwait(false);
        try
        {
            _health[key] = HealthCheckServer.Start(new IPEndPoint(NodeAddress, port), table);
        }
        catch (SocketException)
        {
            _health.Remove(key); // tried again on the next change of the service
        }
    }

    /// <summary>Tries the listeners that could not bind again (a port that was taken may be free now).</summary>
    public IReadOnlyList<BindFailure> RetryFailed()
    {
        var failures = new List<BindFailure>();
        foreach (var w in _wanted.Values.SelectMany(w => w).Where(w => _failed.Contains(w.Key)).ToList())
        {
            if (TryBind(w) is { } failure) failures.Add(failure);
        }
        return failures;
    }

    /// <summary>Addresses wanted but not bound (held by another program), retried every time <see cref="RetryFailed"/> runs.</summary>
    public IEnumerable<string> FailedEndPoints => _failed.Select(f => f.Protocol == ServiceTypes.TCP ? f.EndPoint.ToString() : $"{f.EndPoint}/{f.Protocol}");

    private BindFailure? TryBind(Wanted w)
    {
        try
        {
            if (w.LoadBalancer) announcer?.Announce(w.EndPoint.Address);
            IServiceListener listener = w.Protocol == ServiceTypes.UDP
                ? UdpServiceListener.Start(w.EndPoint, w.Table, w.Source, NodeAddress, w.ReusePort, udpLimits)
                : ServiceListener.Start(w.EndPoint, w.Table, w.Source, NodeAddress, w.ReusePort);
            if (w.ReusePort) Steer(listener);
            _listeners[w.Key] = listener;
            _failed.Remove(w.Key);
            return null;
        }
        catch (SocketException e)
        {
            // Reported once per failure, then quietly retried.
            var reason = $"listen {w.Protocol.ToLowerInvariant()} {w.EndPoint}: bind: {e.Message.ToLowerInvariant()}";
            return _failed.Add(w.Key) ? new BindFailure(w.Table.Namespace, w.Table.ServiceName, w.EndPoint, w.Protocol, reason) : null;
        }
    }

    /// <summary>
    /// The number of nodes that bind every ClusterIP: each ClusterIP group then sends a client to the same node every
    /// time (by its address), so ClientIP affinity, kept per node, holds. Re-applied to every ClusterIP when it changes.
    /// </summary>
    public void SetClusterSize(int nodes)
    {
        if (nodes < 1 || nodes == _nodes) return;
        _nodes = nodes;
        foreach (var w in _wanted.Values.SelectMany(x => x).Where(w => w.ReusePort))
        {
            if (_listeners.TryGetValue(w.Key, out var listener)) Steer(listener);
        }
    }

    private void Steer(IServiceListener listener)
    {
        switch (listener)
        {
            case ServiceListener tcp:
                tcp.SteerBySourceAddress(_nodes);
                break;
            case UdpServiceListener udp:
                udp.SteerBySourceAddress(_nodes);
                break;
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var l in _listeners.Values) await l.DisposeAsync().ConfigureAwait(false);
        foreach (var h in _health.Values) await h.DisposeAsync().ConfigureAwait(false);
        _listeners.Clear();
        _health.Clear();
        announcer?.WithdrawAll();
    }
}
