using System.Collections.Concurrent;
using System.Net;

namespace ActorCluster.Proxy;

/// <summary>
/// Every listener bound on this node and every address that could not bind, as the Service actors that own them
/// report them: a read-only view for counters, /metrics and tests. Owning stays with each Service's
/// <see cref="ServiceAddresses"/>; this only lists.
/// </summary>
public sealed class ListenerRegistry
{
    private readonly ConcurrentDictionary<(IPEndPoint EndPoint, string Protocol), IServiceListener> _bound = new();
    private readonly ConcurrentDictionary<(IPEndPoint EndPoint, string Protocol), byte> _failed = new();

    private readonly ConcurrentDictionary<string, IReadOnlyList<(IPEndPoint EndPoint, string Protocol)>> _kernel = new();

    public IReadOnlyList<IServiceListener> Listeners => _bound.Values.ToList();

    /// <summary>In nftables mode: each address this node's table serves (DNAT or refusal) and its Service ("namespace/name").</summary>
    public IEnumerable<(IPEndPoint EndPoint, string Protocol, string Service)> KernelServed =>
        _kernel.SelectMany(s => s.Value.Select(a => (a.EndPoint, a.Protocol, s.Key)));

    internal void ServedByKernel(string service, IReadOnlyList<(IPEndPoint EndPoint, string Protocol)> addresses)
    {
        if (addresses.Count == 0) _kernel.TryRemove(service, out _);
        else _kernel[service] = addresses;
    }

    /// <summary>What the listeners decided and carried, per endpoint (the dashboard's traffic view).</summary>
    public TrafficLog Traffic { get; } = new();

    /// <summary>Addresses wanted but not bound (held by another program), "ip:port" for TCP and "ip:port/UDP".</summary>
    public IEnumerable<string> FailedEndPoints => _failed.Keys.Select(f => f.Protocol == "TCP" ? f.EndPoint.ToString() : $"{f.EndPoint}/{f.Protocol}");

    internal void Bound(IServiceListener listener)
    {
        _bound[(listener.EndPoint, listener.Protocol)] = listener;
        _failed.TryRemove((listener.EndPoint, listener.Protocol), out _);
    }

    internal void Unbound(IServiceListener listener) => _bound.TryRemove(new KeyValuePair<(IPEndPoint, string), IServiceListener>((listener.EndPoint, listener.Protocol), listener));

    internal void Failed(IPEndPoint endPoint, string protocol) => _failed[(endPoint, protocol)] = 0;

    internal void NotWanted(IPEndPoint endPoint, string protocol) => _failed.TryRemove((endPoint, protocol), out _);
}
