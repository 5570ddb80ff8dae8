using System.Net;
using System.Net.Sockets;
using ActorCluster.Core.Objects;
using ActorCluster.Core.Routing;
using k8s.Models;

namespace ActorCluster.Proxy;

/// <summary>A listener that could not bind, and why (reported once per failure as an Event and in the log).</summary>
public sealed record BindFailure(string Namespace, string Service, IPEndPoint EndPoint, string Protocol, string Reason);

/// <summary>
/// One Service's virtual addresses on one node, what kube-proxy programs for it: per service port a listener on
/// its ClusterIP and on each of its externalIPs (shared by all nodes through SO_REUSEPORT, steered by client address), one on this node's NodePort,
/// its LoadBalancer IPs where this node announces them, and the healthCheckNodePort server of a Local LoadBalancer.
/// Each port has one ClientIP affinity memory, shared by all its addresses and by request-level dispatch. A UDP port
/// is bound only while it has an endpoint to send to, so a datagram to a port without endpoints gets the kernel's
/// ICMP port-unreachable: the refusal kube-proxy's REJECT rule gives. Used by one actor (the Service's); the
/// listeners run on their own and read the routing tables it publishes.
/// </summary>
/// <param name="tunnel">this node's proof for other nodes' tunnels (endpoints behind one cannot be dialed without it)</param>
/// <param name="kernel">
/// the node's nftables proxier when the proxy runs in nftables mode: TCP and UDP ports are carried by the kernel's rules
/// instead of listeners (endpoints behind another host's tunnel through local stand-ins, <see cref="TunnelEntries"/>),
/// except a port whose Service asks for the PROXY protocol, which only the relay can write
/// </param>
public sealed class ServiceAddresses(
    IPAddress nodeAddress, UdpFlowLimits udpLimits, ListenerRegistry registry, AddressAnnouncer? announcer = null, TunnelCredentials? tunnel = null,
    Linux.NftablesProxier? kernel = null) : IAsyncDisposable
{
    /// <param name="LoadBalancer">a LoadBalancer IP this node announces (added to the host when it is not already there)</param>
    private sealed record Wanted(IPEndPoint EndPoint, string Protocol, RoutingTable Table, TrafficSource Source, bool ReusePort, bool LoadBalancer = false)
    {
        public (IPEndPoint, string) Key => (EndPoint, Protocol);
    }

    private readonly Dictionary<(IPEndPoint EndPoint, string Protocol), IServiceListener> _listeners = new();
    private readonly HashSet<(IPEndPoint EndPoint, string Protocol)> _failed = [];
    private readonly Dictionary<(int Port, string Protocol), AffinityMemory> _affinity = new();
    private readonly HashSet<IPAddress> _announced = [];
    private readonly TunnelEntries? _entries = kernel is null ? null : new TunnelEntries(nodeAddress, udpLimits, registry, tunnel);
    private List<Wanted> _wanted = [];
    private HealthCheckServer? _health;
    private int _nodes = 1;
    private string? _serviceKey; // "namespace/name", known from the first Service applied

    public IPAddress NodeAddress { get; } = nodeAddress;

    public IReadOnlyCollection<IServiceListener> Listeners => _listeners.Values;

    /// <summary>The ClientIP affinity memory of one service port (the listeners' own, so dispatch and sockets agree).</summary>
    public AffinityMemory AffinityOf(RoutingTable table)
    {
        var key = (table.Port, table.Protocol);
        if (!_affinity.TryGetValue(key, out var memory)) _affinity[key] = memory = new AffinityMemory();
        return memory;
    }

    /// <summary>
    /// Opens, updates (a new routing table) and closes this Service's listeners to match <paramref name="tables"/>
    /// (empty: the Service is gone). <paramref name="nodes"/> is how many nodes bind each ClusterIP, so the group
    /// sends a client to the same node every time. Returns new bind failures.
    /// </summary>
    public async Task<IReadOnlyList<BindFailure>> Apply(V1Service? service, IReadOnlyList<RoutingTable> tables, bool announceLoadBalancer, int nodes)
    {
        var wanted = new List<Wanted>();
        if (service?.Metadata is { } meta) _serviceKey = meta.NamespaceProperty + "/" + meta.Name;
        // The dashboard's counters follow the endpoints: those that left the Service (or the whole Service) go.
        if (_serviceKey is not null) registry.Traffic.Retain(_serviceKey, service is null ? [] : tables);
        var inKernel = service is null || kernel is null ? [] : tables.Where(InKernel).ToList();
        var kernelLoadBalancerIPs = announceLoadBalancer && inKernel.Count > 0 && service?.Spec?.Type == ServiceTypes.LoadBalancer
            ? (service.Status?.LoadBalancer?.Ingress ?? []).Select(i => i.Ip).Where(ip => IPAddress.TryParse(ip, out _)).ToList()
            : [];
        if (service is not null)
        {
            foreach (var table in tables.Where(t => t.Protocol is ServiceTypes.TCP or ServiceTypes.UDP && !inKernel.Contains(t)))
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
                // Every node takes its externalIPs (kube-proxy's rules match them on every node): shared and steered by
                // client address as a ClusterIP is, external traffic as far as the policy goes.
                foreach (var externalIP in table.ExternalIPs) Want(new IPEndPoint(externalIP, table.Port), TrafficSource.External, true);
                if (announceLoadBalancer && service.Spec?.Type == ServiceTypes.LoadBalancer)
                {
                    foreach (var ingress in service.Status?.LoadBalancer?.Ingress ?? [])
                    {
                        if (IPAddress.TryParse(ingress.Ip, out var lbIP)) Want(new IPEndPoint(lbIP, table.Port), TrafficSource.External, false, loadBalancer: true);
                    }
                }
            }
        }
        await UpdateHealthCheck(service, tables).ConfigureAwait(false);
        var previous = _wanted;
        _wanted = wanted;
        foreach (var gone in previous.Where(old => !wanted.Any(w => w.Key.Equals(old.Key))))
        {
            if (_listeners.Remove(gone.Key, out var listener))
            {
                registry.Unbound(listener);
                await listener.DisposeAsync().ConfigureAwait(false);
            }
            if (_failed.Remove(gone.Key)) registry.NotWanted(gone.EndPoint, gone.Protocol);
        }
        if (kernel is not null && _serviceKey is not null)
        {
            foreach (var ip in kernelLoadBalancerIPs.Select(IPAddress.Parse).Where(ip => !_announced.Contains(ip)))
            {
                if (announcer?.Announce(ip) != false) _announced.Add(ip);
            }
            var rules = service is null ? null : NftablesRules.Render(kernel.Node, inKernel.Select(_entries!.Map).ToList(), service.Spec?.ClusterIP, kernelLoadBalancerIPs);
            await kernel.Update(_serviceKey, rules).ConfigureAwait(false);
            registry.ServedByKernel(_serviceKey, rules is null ? [] : rules.Addresses);
            await _entries!.Close(_entries.TakeUnused()).ConfigureAwait(false);
        }
        // An address no longer served here is given back (MetalLB: another node announces it now).
        var lbWanted = wanted.Where(w => w.LoadBalancer).Select(w => w.EndPoint.Address).Concat(kernelLoadBalancerIPs.Select(IPAddress.Parse)).ToHashSet();
        foreach (var ip in _announced.Where(ip => !lbWanted.Contains(ip)).ToList())
        {
            _announced.Remove(ip);
            announcer?.Withdraw(ip);
        }
        foreach (var key in _affinity.Keys.Where(k => !tables.Any(t => t.Port == k.Port && t.Protocol == k.Protocol)).ToList()) _affinity.Remove(key);
        var resteer = nodes >= 1 && nodes != _nodes;
        if (nodes >= 1) _nodes = nodes;
        var failures = new List<BindFailure>();
        foreach (var w in wanted)
        {
            if (_listeners.TryGetValue(w.Key, out var listener))
            {
                listener.Update(w.Table);
                if (resteer && w.ReusePort) Steer(listener);
                continue;
            }
            if (TryBind(w) is { } failure) failures.Add(failure);
        }
        return failures;
    }

    /// <summary>A TCP or UDP port the kernel can carry: all but those that start each connection with a PROXY protocol header.</summary>
    private static bool InKernel(RoutingTable table) => table.Protocol is ServiceTypes.TCP or ServiceTypes.UDP && !table.ProxyProtocol;

    /// <summary>Tries the listeners that could not bind again (a port that was taken may be free now).</summary>
    public IReadOnlyList<BindFailure> RetryFailed()
    {
        var failures = new List<BindFailure>();
        foreach (var w in _wanted.Where(w => _failed.Contains(w.Key)).ToList())
        {
            if (TryBind(w) is { } failure) failures.Add(failure);
        }
        return failures;
    }

    /// <summary>Whether some wanted address is not bound (then <see cref="RetryFailed"/> has work).</summary>
    public bool HasFailed => _failed.Count > 0;

    /// <summary>Whether the address is wanted and could not be bound (at the last try).</summary>
    public bool IsFailed(IPEndPoint endPoint, string protocol) => _failed.Contains((endPoint, protocol));

    private BindFailure? TryBind(Wanted w)
    {
        try
        {
            if (w.LoadBalancer && !_announced.Contains(w.EndPoint.Address) && announcer?.Announce(w.EndPoint.Address) != false) _announced.Add(w.EndPoint.Address);
            var affinity = AffinityOf(w.Table);
            IServiceListener listener = w.Protocol == ServiceTypes.UDP
                ? UdpServiceListener.Start(w.EndPoint, w.Table, w.Source, NodeAddress, w.ReusePort, udpLimits, affinity, tunnel, registry.Traffic, w.LoadBalancer)
                : ServiceListener.Start(w.EndPoint, w.Table, w.Source, NodeAddress, w.ReusePort, affinity, tunnel, registry.Traffic, w.LoadBalancer);
            if (w.ReusePort) Steer(listener);
            _listeners[w.Key] = listener;
            _failed.Remove(w.Key);
            registry.Bound(listener);
            return null;
        }
        catch (SocketException e)
        {
            registry.Failed(w.EndPoint, w.Protocol);
            // Reported once per failure, then quietly retried.
            var reason = $"listen {w.Protocol.ToLowerInvariant()} {w.EndPoint}: bind: {e.Message.ToLowerInvariant()}";
            return _failed.Add(w.Key) ? new BindFailure(w.Table.Namespace, w.Table.ServiceName, w.EndPoint, w.Protocol, reason) : null;
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

    private async Task UpdateHealthCheck(V1Service? service, IReadOnlyList<RoutingTable> tables)
    {
        var port = service is not null && ServiceTypes.NeedsHealthCheck(service) ? service.Spec.HealthCheckNodePort ?? 0 : 0;
        var table = tables.FirstOrDefault();
        var current = _health;
        if (port == 0 || table is null)
        {
            _health = null;
            if (current is not null) await current.DisposeAsync().ConfigureAwait(false);
            return;
        }
        if (current is not null && current.EndPoint.Port == port)
        {
            current.Update(table);
            return;
        }
        _health = null;
        if (current is not null) await current.DisposeAsync().ConfigureAwait(false);
        try
        {
            _health = HealthCheckServer.Start(new IPEndPoint(NodeAddress, port), table);
        }
        catch (SocketException)
        {
            // tried again on the next change of the service
        }
    }

    /// <summary>Closes every listener and gives back every address (the Service is gone, or the node stops).</summary>
    public async ValueTask DisposeAsync()
    {
        foreach (var l in _listeners.Values)
        {
            registry.Unbound(l);
            await l.DisposeAsync().ConfigureAwait(false);
        }
        foreach (var f in _failed) registry.NotWanted(f.EndPoint, f.Protocol);
        _listeners.Clear();
        _failed.Clear();
        _wanted = [];
        if (_health is not null) await _health.DisposeAsync().ConfigureAwait(false);
        _health = null;
        foreach (var ip in _announced) announcer?.Withdraw(ip);
        _announced.Clear();
        if (_serviceKey is not null)
        {
            registry.Traffic.Retain(_serviceKey, []);
            if (kernel is not null) await kernel.Update(_serviceKey, null).ConfigureAwait(false);
            registry.ServedByKernel(_serviceKey, []);
            if (_entries is not null) await _entries.Close(_entries.TakeUnused()).ConfigureAwait(false);
        }
    }
}
