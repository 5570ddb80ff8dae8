using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;
using ActorCluster.Core.Routing;

namespace ActorCluster.Proxy;

/// <summary>
/// A UDP service port on one address. Datagrams are forwarded per client flow (client ip:port): the first datagram
/// of a flow picks an endpoint with <see cref="Router"/> and opens a connected socket to it (from the source address
/// the traffic policy asks for); replies go back to the client from the service address. A flow idle for longer than
/// the idle timeout is closed, as conntrack forgets a UDP entry; flows to endpoints that left are closed at once.
/// A pod that is not directly reachable (on another host) gets the flow through its node's tunnel: one tunnel
/// connection per flow, each datagram a frame, so datagram boundaries survive the stream.
/// </summary>
public sealed class UdpServiceListener : IServiceListener
{
    private readonly Socket _socket;
    private readonly IPAddress _nodeAddress;
    private readonly TunnelCredentials? _tunnelCredentials; // this node's proof for other nodes' tunnels
    private readonly TrafficLog? _traffic; // the node's record of decisions and per-endpoint counters
    private readonly TimeSpan _idleTimeout;
    private readonly TimeProvider _clock;
    private readonly int _maxFlows;
    private readonly CancellationTokenSource _stop = new();
    private readonly ConcurrentDictionary<IPEndPoint, Flow> _flows = new();
    private readonly AffinityMemory _affinity;
    private readonly Task _loop;
    private readonly Timer _sweeper;
    private RoutingTable _table;

    /// <summary>
    /// One client's flow: a connected socket to the pod, or (through a tunnel) a queue of datagrams that the flow's
    /// tunnel connection sends once it is open.
    /// </summary>
    private sealed class Flow(string endpoint, long now)
    {
        public string Endpoint { get; } = endpoint;

        public Socket? Upstream { get; init; }

        public Channel<byte[]>? Outbound { get; init; }

        public Socket? Tunnel;

        public volatile bool Closed;

        public long LastActive = now;
    }

    // Datagrams waiting for a flow's tunnel to open (or for it to catch up); beyond that they are dropped, as UDP may.
    private const int TunnelQueue = 256;
    private static readonly TimeSpan TunnelDialTimeout = TimeSpan.FromSeconds(2);

    private UdpServiceListener(Socket socket, RoutingTable table, TrafficSource source, IPAddress nodeAddress, UdpFlowLimits limits, AffinityMemory affinity, TunnelCredentials? tunnel, TrafficLog? traffic)
    {
        _traffic = traffic;
        _socket = socket;
        _tunnelCredentials = tunnel;
        _affinity = affinity;
        _table = table;
        Source = source;
        _nodeAddress = nodeAddress;
        _idleTimeout = limits.IdleTimeout;
        _clock = limits.Clock;
        _maxFlows = limits.MaxFlows;
        _loop = Task.Run(ReceiveLoop);
        var period = TimeSpan.FromMilliseconds(Math.Clamp(_idleTimeout.TotalMilliseconds / 4, 100, 5000));
        _sweeper = new Timer(_ => Sweep(), null, period, period);
    }

    public IPEndPoint EndPoint => (IPEndPoint)_socket.LocalEndPoint!;

    public string Protocol => "UDP";

    public IPAddress NodeAddress => _nodeAddress;

    public TrafficSource Source { get; }

    public ListenerStats Stats { get; } = new();

    public RoutingTable Table => Volatile.Read(ref _table);

    /// <summary>A LoadBalancer IP: only clients in the Service's loadBalancerSourceRanges open flows.</summary>
    public bool LoadBalancer { get; private init; }

    /// <param name="loadBalancer">a LoadBalancer IP: the Service's loadBalancerSourceRanges decide who may use it</param>
    public static UdpServiceListener Start(IPEndPoint endPoint, RoutingTable table, TrafficSource source, IPAddress nodeAddress, bool reusePort, UdpFlowLimits limits,
        AffinityMemory? affinity = null, TunnelCredentials? tunnel = null, TrafficLog? traffic = null, bool loadBalancer = false)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            if (reusePort && OperatingSystem.IsLinux()) socket.SetRawSocketOption(1 /* SOL_SOCKET */, 15 /* SO_REUSEPORT */, BitConverter.GetBytes(1));
            // As for TCP: an externalIP binds on every node, local to this host or not.
            if (table.ExternalIPs.Contains(endPoint.Address) && OperatingSystem.IsLinux()) socket.SetRawSocketOption(0 /* IPPROTO_IP */, 15 /* IP_FREEBIND */, BitConverter.GetBytes(1));
            socket.Bind(endPoint);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        return new UdpServiceListener(socket, table, source, nodeAddress, limits, affinity ?? new AffinityMemory(), tunnel, traffic) { LoadBalancer = loadBalancer };
    }

    /// <summary>Makes the ClusterIP's reuseport group pick a node by client address, so a client's flows stay on one.</summary>
    internal bool SteerBySourceAddress(int nodes) => OperatingSystem.IsLinux() && Linux.ReusePortSteering.BySourceAddress(_socket, nodes);

    public void Update(RoutingTable table)
    {
        Volatile.Write(ref _table, table);
        // An endpoint that left takes its flows with it (kube-proxy clears their conntrack entries).
        var live = table.Endpoints.Select(e => e.Address).ToHashSet();
        foreach (var (client, flow) in _flows)
        {
            if (!live.Contains(flow.Endpoint)) Close(client, flow);
        }
    }

    private async Task ReceiveLoop()
    {
        var buffer = GC.AllocateUninitializedArray<byte>(65536);
        var any = new IPEndPoint(IPAddress.Any, 0);
        while (!_stop.IsCancellationRequested)
        {
            SocketReceiveFromResult received;
            try
            {
                received = await _socket.ReceiveFromAsync(buffer, SocketFlags.None, any, _stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            catch (ObjectDisposedException)
            {
                return;
            }
            catch (SocketException)
            {
                continue; // an ICMP error from an earlier reply; the socket itself is fine
            }
            var client = (IPEndPoint)received.RemoteEndPoint;
            if (!_flows.TryGetValue(client, out var flow))
            {
                flow = Open(client);
                if (flow is null) continue;
            }
            flow.LastActive = _clock.GetTimestamp();
            Interlocked.Add(ref Stats.BytesIn, received.ReceivedBytes);
            if (flow.Outbound is { } queue)
            {
                queue.Writer.TryWrite(buffer.AsSpan(0, received.ReceivedBytes).ToArray());
                continue;
            }
            try
            {
                await flow.Upstream!.SendAsync(buffer.AsMemory(0, received.ReceivedBytes), SocketFlags.None).ConfigureAwait(false);
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                Close(client, flow);
            }
        }
    }

    private Flow? Open(IPEndPoint client)
    {
        // Full: dropped without scanning the flows (a flood of new clients must not cost a sweep each); the
        // periodic sweep frees the room of idle flows.
        if (Volatile.Read(ref Stats.Active) >= _maxFlows)
        {
            Interlocked.Increment(ref Stats.DroppedFlowLimit);
            return null;
        }
        var table = Table;
        if (LoadBalancer && !table.AdmitsLoadBalancerClient(client.Address))
        {
            Interlocked.Increment(ref Stats.RefusedSourceRange);
            _traffic?.Record(table, this, client.Address, client.Port, null, NoRouteReason.SourceNotAllowed);
            return null;
        }
        var key = client.Address.ToString();
        var decision = Router.Route(table, Source, _affinity.Get(key), DateTime.UtcNow, Random.Shared.NextDouble());
        if (!decision.Routed)
        {
            Interlocked.Increment(ref decision.Reason == NoRouteReason.NoLocalEndpoints ? ref Stats.RefusedNoLocalEndpoints : ref Stats.RefusedNoEndpoints);
            _traffic?.Record(table, this, client.Address, client.Port, null, decision.Reason);
            return null;
        }
        var sourceAddress = Router.SourceAddress(table, Source, client.Address, _nodeAddress);
        var endpoint = decision.Endpoint!;
        Flow flow;
        if (endpoint.Via is not null)
        {
            // Through the pod's node tunnel: datagrams queue until ThroughTunnel has opened it.
            flow = new Flow(endpoint.Address, _clock.GetTimestamp())
            {
                Outbound = Channel.CreateBounded<byte[]>(new BoundedChannelOptions(TunnelQueue) { FullMode = BoundedChannelFullMode.DropWrite, SingleReader = true, SingleWriter = true }),
            };
        }
        else
        {
            var upstream = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
            try
            {
                upstream.Bind(new IPEndPoint(sourceAddress, 0));
                upstream.Connect(endpoint.EndPoint!);
            }
            catch (SocketException)
            {
                upstream.Dispose();
                Interlocked.Increment(ref Stats.Failed);
                return null;
            }
            flow = new Flow(endpoint.Address, _clock.GetTimestamp()) { Upstream = upstream };
        }
        if (decision.Affinity is not null) _affinity.Remember(key, decision.Affinity, table.AffinitySeconds);
        _flows[client] = flow;
        if (_traffic is not null)
        {
            _traffic.Record(table, this, client.Address, client.Port, endpoint, null);
            Interlocked.Increment(ref _traffic.For(table, endpoint).Connections);
        }
        Interlocked.Increment(ref Stats.Connections);
        Interlocked.Increment(ref Stats.Active);
        _ = endpoint.Via is { } via
            ? Task.Run(() => ThroughTunnel(client, flow, via, endpoint.EndPoint!))
            : Task.Run(() => Replies(client, flow));
        return flow;
    }

    /// <summary>Opens the flow's tunnel connection, then sends its queued datagrams as frames and relays the replies.</summary>
    private async Task ThroughTunnel(IPEndPoint client, Flow flow, IPEndPoint via, IPEndPoint pod)
    {
        var tunnel = _tunnelCredentials is null ? null
            : await NodeTunnel.DialAsync(via, pod, _nodeAddress, _tunnelCredentials, TunnelDialTimeout, _stop.Token, udp: true).ConfigureAwait(false);
        if (tunnel is null)
        {
            Interlocked.Increment(ref Stats.Failed);
            Close(client, flow);
            return;
        }
        // Full fences on both sides (here and in Close): either Close sees the tunnel, or this sees Closed.
        Interlocked.Exchange(ref flow.Tunnel, tunnel);
        if (flow.Closed)
        {
            tunnel.Dispose(); // closed while the tunnel was being opened
            return;
        }
        var replies = Task.Run(async () =>
        {
            var buffer = new byte[TunnelFrames.MaxDatagram];
            int n;
            while ((n = await TunnelFrames.ReadFrameAsync(tunnel, buffer, _stop.Token).ConfigureAwait(false)) >= 0)
            {
                flow.LastActive = _clock.GetTimestamp();
                Interlocked.Add(ref Stats.BytesOut, n);
                try
                {
                    await _socket.SendToAsync(buffer.AsMemory(0, n), SocketFlags.None, client, _stop.Token).ConfigureAwait(false);
                }
                catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException)
                {
                    break;
                }
            }
            Close(client, flow); // the far end closed: the pod refused, or its node went away
        });
        var frame = new byte[TunnelFrames.MaxDatagram + 2];
        try
        {
            await foreach (var datagram in flow.Outbound!.Reader.ReadAllAsync(_stop.Token).ConfigureAwait(false))
            {
                datagram.CopyTo(frame, 2);
                await TunnelFrames.WriteFrameAsync(tunnel, frame, datagram.Length, _stop.Token).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException)
        {
        }
        // The flow closed (idle, endpoint gone, listener stopped) or the tunnel broke: either way both end.
        Close(client, flow);
        await replies.ConfigureAwait(false);
    }

    private async Task Replies(IPEndPoint client, Flow flow)
    {
        var buffer = GC.AllocateUninitializedArray<byte>(65536);
        try
        {
            while (true)
            {
                var n = await flow.Upstream!.ReceiveAsync(buffer, SocketFlags.None, _stop.Token).ConfigureAwait(false);
                flow.LastActive = _clock.GetTimestamp();
                Interlocked.Add(ref Stats.BytesOut, n);
                await _socket.SendToAsync(buffer.AsMemory(0, n), SocketFlags.None, client, _stop.Token).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // The endpoint refused (ICMP) or the flow was closed: forget it, the next datagram opens a new one.
            Close(client, flow);
        }
    }

    private void Sweep()
    {
        var now = _clock.GetTimestamp();
        foreach (var (client, flow) in _flows)
        {
            if (_clock.GetElapsedTime(Interlocked.Read(ref flow.LastActive), now) > _idleTimeout) Close(client, flow);
        }
    }

    private void Close(IPEndPoint client, Flow flow)
    {
        if (!_flows.TryRemove(new KeyValuePair<IPEndPoint, Flow>(client, flow))) return;
        flow.Closed = true;
        Interlocked.MemoryBarrier();
        flow.Upstream?.Dispose();
        flow.Outbound?.Writer.TryComplete();
        flow.Tunnel?.Dispose();
        Interlocked.Decrement(ref Stats.Active);
    }

    public async ValueTask DisposeAsync()
    {
        await _sweeper.DisposeAsync().ConfigureAwait(false);
        await _stop.CancelAsync().ConfigureAwait(false);
        _socket.Dispose();
        await _loop.ConfigureAwait(false);
        foreach (var (client, flow) in _flows) Close(client, flow);
        _stop.Dispose();
    }
}
