using System.Collections.Immutable;
using System.Net;
using System.Net.Sockets;
using ActorCluster.Core.Objects;
using ActorCluster.Core.Routing;

namespace ActorCluster.Proxy;

/// <summary>
/// How the kernel path (nftables mode) reaches endpoints behind another host's node tunnel. The kernel cannot speak
/// the tunnel's handshake, so each such endpoint of a Service gets a local stand-in: a relay listener on
/// <see cref="Address"/>, at a port the kernel picks, whose only endpoint is the remote one. The Service's rules DNAT
/// to the stand-in as to any endpoint, so the kernel still chooses the endpoint, spreads and keeps affinity; the
/// stand-in learns the chosen destination from the port the connection arrives at and carries it through the tunnel.
/// Endpoints on this host are DNATed to directly. Used by one Service's <see cref="ServiceAddresses"/>.
/// </summary>
internal sealed class TunnelEntries(IPAddress nodeAddress, UdpFlowLimits udpLimits, ListenerRegistry registry, TunnelCredentials? tunnel)
{
    /// <summary>The loopback address the stand-ins listen on (never reachable from another host).</summary>
    public static readonly IPAddress Address = IPAddress.Parse("127.253.0.1");

    private readonly Dictionary<(string Protocol, string Endpoint), IServiceListener> _entries = new();
    private readonly HashSet<(string Protocol, string Endpoint)> _used = [];

    /// <summary>
    /// The table the kernel's rules are written from: each endpoint behind a tunnel replaced by its stand-in (opened
    /// now if new). One whose stand-in cannot bind is left out until the next change.
    /// </summary>
    public RoutingTable Map(RoutingTable table)
    {
        if (table.Endpoints.All(e => e.Via is null)) return table;
        var mapped = ImmutableArray.CreateBuilder<ServiceEndpoint>(table.Endpoints.Length);
        foreach (var e in table.Endpoints)
        {
            if (e.Via is null)
            {
                mapped.Add(e);
                continue;
            }
            var key = (table.Protocol, e.Address);
            _used.Add(key);
            if (_entries.TryGetValue(key, out var entry))
            {
                entry.Update(table.Only(e));
            }
            else
            {
                try
                {
                    entry = table.Protocol == ServiceTypes.UDP
                        ? UdpServiceListener.Start(new IPEndPoint(Address, 0), table.Only(e), TrafficSource.Internal, nodeAddress, false, udpLimits, null, tunnel, registry.Traffic)
                        : ServiceListener.Start(new IPEndPoint(Address, 0), table.Only(e), TrafficSource.Internal, nodeAddress, false, null, tunnel, registry.Traffic);
                }
                catch (SocketException)
                {
                    continue;
                }
                _entries[key] = entry;
                registry.Bound(entry);
            }
            var at = entry.EndPoint;
            mapped.Add(new ServiceEndpoint(at.Address.ToString(), at.Port, e.NodeName, e.PodNamespace, e.PodName, e.Ready, e.Serving, e.Terminating) { PodUid = e.PodUid });
        }
        return table.WithEndpoints(mapped.ToImmutable());
    }

    /// <summary>
    /// Ends a round of <see cref="Map"/> calls: the stand-ins no table used in it, to close once the rules that DNAT to
    /// them are gone (closing first would refuse connections the kernel still sends there).
    /// </summary>
    public IReadOnlyList<IServiceListener> TakeUnused()
    {
        var unused = _entries.Where(kv => !_used.Contains(kv.Key)).ToList();
        foreach (var (key, _) in unused) _entries.Remove(key);
        _used.Clear();
        return unused.Select(kv => kv.Value).ToList();
    }

    public async Task Close(IEnumerable<IServiceListener> entries)
    {
        foreach (var entry in entries)
        {
            registry.Unbound(entry);
            await entry.DisposeAsync().ConfigureAwait(false);
        }
    }
}
