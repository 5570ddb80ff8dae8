using System.Net;
using System.Net.Sockets;
using ActorCluster.Core.Objects;
using ActorCluster.Core.Routing;
using k8s.Models;

namespace ActorCluster.Proxy;

/// <summary>A listener that could not bind, and why (reported once per failure as an Event and in the log).</summary>
public sealed record BindFailure(string Namespace, string Service, IPEndPoint EndPoint, string Reason);

/// <summary>
/// kube-proxy's job on one node: for every service port, a listener on its ClusterIP (shared by all nodes through
/// SO_REUSEPORT) and one on this node's NodePort. Listeners are added, updated (a new routing table) and removed
/// as services change; a port held by another program is reported and tried again until it frees.
/// Called from one actor; the listeners themselves run on their own.
/// </summary>
public sealed class NodeServiceProxy(string nodeName, IPAddress nodeAddress) : IAsyncDisposable
{
    private readonly Dictionary<(IPEndPoint EndPoint, string Protocol), ServiceListener> _listeners = new();
    private readonly Dictionary<string, List<(IPEndPoint EndPoint, RoutingTable Table, TrafficSource Source, bool ReusePort)>> _wanted = new();
    private readonly HashSet<IPEndPoint> _failed = [];
    private readonly Dictionary<string, HealthCheckServer> _health = new();

    public string NodeName { get; } = nodeName;

    public IPAddress NodeAddress { get; } = nodeAddress;

    public IReadOnlyCollection<ServiceListener> Listeners => _listeners.Values;

    /// <summary>
    /// Sets the listeners of one Service (null: the Service is gone): ClusterIP and NodePort listeners, its
    /// LoadBalancer IPs when this node is the one elected to announce them, and the healthCheckNodePort server of a
    /// LoadBalancer with externalTrafficPolicy Local. Returns new bind failures.
    /// </summary>
    public async Task<IReadOnlyList<BindFailure>> Apply(string key, V1Service? service, IReadOnlyList<RoutingTable> tables, bool announceLoadBalancer = false)
    {
        var wanted = new List<(IPEndPoint, RoutingTable, TrafficSource, bool)>();
        if (service is not null)
        {
            foreach (var table in tables.Where(t => t.Protocol == ServiceTypes.TCP))
            {
                if (service.Spec?.ClusterIP is { } ip && ip != ServiceTypes.None && IPAddress.TryParse(ip, out var clusterIP))
                    wanted.Add((new IPEndPoint(clusterIP, table.Port), table, TrafficSource.Internal, true));
                if (table.NodePort > 0)
                    wanted.Add((new IPEndPoint(NodeAddress, table.NodePort), table, TrafficSource.External, false));
                if (announceLoadBalancer && service.Spec?.Type == ServiceTypes.LoadBalancer)
                {
                    foreach (var ingress in service.Status?.LoadBalancer?.Ingress ?? [])
                    {
                        if (IPAddress.TryParse(ingress.Ip, out var lbIP)) wanted.Add((new IPEndPoint(lbIP, table.Port), table, TrafficSource.External, false));
                    }
                }
            }
        }
        await UpdateHealthCheck(key, service, tables);
        var previous = _wanted.TryGetValue(key, out var p) ? p : [];
        if (wanted.Count == 0) _wanted.Remove(key);
        else _wanted[key] = wanted;

        foreach (var gone in previous.Where(old => !wanted.Any(w => w.Item1.Equals(old.EndPoint))))
        {
            if (_listeners.Remove((gone.EndPoint, ServiceTypes.TCP), out var listener)) await listener.DisposeAsync().ConfigureAwait(false);
            _failed.Remove(gone.EndPoint);
        }
        var failures = new List<BindFailure>();
        foreach (var (endPoint, table, source, reuse) in wanted)
        {
            if (_listeners.TryGetValue((endPoint, ServiceTypes.TCP), out var listener))
            {
                listener.Update(table);
                continue;
            }
            if (TryBind(endPoint, table, source, reuse) is { } failure) failures.Add(failure);
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
        foreach (var (endPoint, table, source, reuse) in _wanted.Values.SelectMany(w => w).Where(w => _failed.Contains(w.EndPoint)).ToList())
        {
            if (TryBind(endPoint, table, source, reuse) is { } failure) failures.Add(failure);
        }
        return failures;
    }

    /// <summary>Addresses wanted but not bound (held by another program), retried every time <see cref="RetryFailed"/> runs.</summary>
    public IReadOnlyCollection<IPEndPoint> FailedEndPoints => _failed;

    private BindFailure? TryBind(IPEndPoint endPoint, RoutingTable table, TrafficSource source, bool reuse)
    {
        try
        {
            _listeners[(endPoint, ServiceTypes.TCP)] = ServiceListener.Start(endPoint, table, source, NodeAddress, reuse);
            _failed.Remove(endPoint);
            return null;
        }
        catch (SocketException e)
        {
            // Reported once per failure, then quietly retried.
            return _failed.Add(endPoint) ? new BindFailure(table.Namespace, table.ServiceName, endPoint, $"listen tcp {endPoint}: bind: {e.Message.ToLowerInvariant()}") : null;
        }
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var l in _listeners.Values) await l.DisposeAsync().ConfigureAwait(false);
        foreach (var h in _health.Values) await h.DisposeAsync().ConfigureAwait(false);
        _listeners.Clear();
        _health.Clear();
    }
}
