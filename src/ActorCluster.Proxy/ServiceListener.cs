using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using ActorCluster.Core.Routing;

namespace ActorCluster.Proxy;

/// <summary>
/// One bound address:port of a service port (its ClusterIP, or this node's NodePort). Each accepted connection reads
/// the current <see cref="RoutingTable"/> (swapped atomically when the service or its endpoints change; no locks, no
/// messages), lets <see cref="Router"/> pick an endpoint, dials it (retrying other endpoints with kube-proxy's
/// userspace timeouts) and relays. No endpoint: the connection is reset at once.
/// </summary>
public sealed class ServiceListener : IServiceListener
{
    private static readonly TimeSpan[] DialTimeouts = [TimeSpan.FromMilliseconds(250), TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2)];

    private readonly Socket _socket;
    private readonly TrafficSource _source;
    private readonly IPAddress _nodeAddress;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<string, AffinityEntry> _affinity = new();
    private readonly Task _loop;
    private RoutingTable _table;

    private ServiceListener(Socket socket, RoutingTable table, TrafficSource source, IPAddress nodeAddress)
    {
        _socket = socket;
        _table = table;
        _source = source;
        _nodeAddress = nodeAddress;
        _loop = Task.Run(() => AcceptLoop.RunAsync(_socket, Serve, _stop.Token));
    }

    public IPEndPoint EndPoint => (IPEndPoint)_socket.LocalEndPoint!;

    public string Protocol => "TCP";

    public TrafficSource Source => _source;

    public ListenerStats Stats { get; } = new();

    public RoutingTable Table => Volatile.Read(ref _table);

    /// <summary>Binds; ClusterIPs are shared by every node (SO_REUSEPORT) so the kernel spreads connections over them.</summary>
    public static ServiceListener Start(IPEndPoint endPoint, RoutingTable table, TrafficSource source, IPAddress nodeAddress, bool reusePort)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (reusePort && OperatingSystem.IsLinux()) socket.SetRawSocketOption(1 /* SOL_SOCKET */, 15 /* SO_REUSEPORT */, BitConverter.GetBytes(1));
            socket.Bind(endPoint);
            socket.Listen(1024);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        return new ServiceListener(socket, table, source, nodeAddress);
    }

    /// <summary>Swaps in a new routing table; connections accepted from now on use it.</summary>
    public void Update(RoutingTable table) => Volatile.Write(ref _table, table);

    private async Task Serve(Socket client)
    {
        Interlocked.Increment(ref Stats.Connections);
        client.NoDelay = true;
        var table = Table;
        var clientAddress = ((IPEndPoint)client.RemoteEndPoint!).Address;
        // The affinity key (a string per connection) only when the service asks for affinity.
        var clientKey = table.AffinitySeconds > 0 ? clientAddress.ToString() : null;
        AffinityEntry? affinity = null;
        if (clientKey is not null) _affinity.TryGetValue(clientKey, out affinity);
        HashSet<string>? tried = null; // endpoints whose dial failed, made only when one does
        for (var attempt = 0; attempt < DialTimeouts.Length; attempt++)
        {
            var decision = Router.Route(table, _source, affinity, DateTime.UtcNow, Random.Shared.NextDouble(), tried);
            if (!decision.Routed)
            {
                if (decision.Reason == NoRouteReason.NoEndpoints) Interlocked.Increment(ref Stats.RefusedNoEndpoints);
                else if (decision.Reason == NoRouteReason.NoLocalEndpoints) Interlocked.Increment(ref Stats.RefusedNoLocalEndpoints);
                else Interlocked.Increment(ref Stats.Failed);
                TcpRelay.Refuse(client);
                return;
            }
            var endpoint = decision.Endpoint!;
            affinity = null;
            var sourceAddress = Router.SourceAddress(table, _source, clientAddress, _nodeAddress);
            var upstream = endpoint.Via is null
                ? await TcpRelay.DialAsync(endpoint.EndPoint!, sourceAddress, DialTimeouts[attempt], _stop.Token).ConfigureAwait(false)
                : await NodeTunnel.DialAsync(endpoint.Via, endpoint.EndPoint!, sourceAddress, _nodeAddress, DialTimeouts[attempt], _stop.Token).ConfigureAwait(false);
            if (upstream is null)
            {
                (tried ??= []).Add(endpoint.Address);
                Interlocked.Increment(ref Stats.DialRetries);
                continue;
            }
            if (decision.Affinity is not null && clientKey is not null) _affinity[clientKey] = decision.Affinity;
            Interlocked.Increment(ref Stats.Active);
            using (upstream)
            using (client)
            {
                try
                {
                    // Opted in: the pod learns the original client first (the tunnel passes these bytes through).
                    if (!table.ProxyProtocol || await SendProxyHeader(client, upstream).ConfigureAwait(false))
                        await TcpRelay.RunAsync(client, upstream, Stats, _stop.Token).ConfigureAwait(false);
                }
                finally
                {
                    Interlocked.Decrement(ref Stats.Active);
                }
            }
            return;
        }
        Interlocked.Increment(ref Stats.Failed);
        TcpRelay.Refuse(client);
    }

    private static async Task<bool> SendProxyHeader(Socket client, Socket upstream)
    {
        try
        {
            await upstream.SendAsync(ProxyProtocol.Header((IPEndPoint)client.RemoteEndPoint!, (IPEndPoint)client.LocalEndPoint!), SocketFlags.None).ConfigureAwait(false);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _socket.Dispose();
        await _loop.ConfigureAwait(false);
        _stop.Dispose();
    }
}
