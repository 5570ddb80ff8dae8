using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace ActorCluster.Proxy;

/// <summary>Who may use a node's tunnel, and to which addresses: swapped as a whole when the cluster changes.</summary>
/// <param name="Members">addresses of the cluster's nodes: only they may open a tunnel connection</param>
/// <param name="IsLocalPod">whether an address is a pod address of this node: the only targets a tunnel dials</param>
public sealed record TunnelPolicy(IReadOnlySet<IPAddress> Members, Func<IPAddress, bool> IsLocalPod)
{
    public static readonly TunnelPolicy Closed = new(new HashSet<IPAddress>(), _ => false);
}

/// <summary>
/// The node tunnel: one TCP port per node that carries connections from other nodes' proxies to this node's pods
/// when pod addresses are not routable between hosts (pods live on each host's loopback). A connection starts with a
/// 14-byte header (magic "ACT1", target pod IPv4 and port, the source address the pod should see); the tunnel answers
/// one status byte once it has dialed the pod (0 connected, 1 not allowed, 2 dial failed), then relays. A UDP flow
/// starts with the magic "ACU1" instead: the pod is reached with a connected datagram socket and each datagram travels
/// as a frame (2-byte length, then the payload) both ways. Only cluster members may connect, and only this node's pod
/// addresses are dialed, so it is not an open proxy.
/// </summary>
public sealed class NodeTunnel : IAsyncDisposable
{
    internal const int HeaderLength = 14;
    private static readonly byte[] Magic = "ACT1"u8.ToArray();
    private static readonly byte[] MagicUdp = "ACU1"u8.ToArray(); // a UDP flow: datagrams framed with a 2-byte length
    private static readonly TimeSpan HeaderTimeout = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan PodDialTimeout = TimeSpan.FromSeconds(2);

    public const byte Connected = 0;
    public const byte NotAllowed = 1;
    public const byte DialFailed = 2;

    private readonly Socket _socket;
    private readonly IPAddress _nodeAddress;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private TunnelPolicy _policy = TunnelPolicy.Closed;

    private NodeTunnel(Socket socket, IPAddress nodeAddress)
    {
        _socket = socket;
        _nodeAddress = nodeAddress;
        _loop = Task.Run(() => AcceptLoop.RunAsync(_socket, Serve, _stop.Token));
    }

    public IPEndPoint EndPoint => (IPEndPoint)_socket.LocalEndPoint!;

    /// <summary>Connections carried, refusals (counted as no-endpoint), pod dial failures, bytes.</summary>
    public ListenerStats Stats { get; } = new();

    /// <summary>Connections turned away: not from a member, or not to one of this node's pods.</summary>
    public long Rejected;

    public static NodeTunnel Start(IPEndPoint endPoint)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.Bind(endPoint);
            socket.Listen(1024);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        return new NodeTunnel(socket, endPoint.Address);
    }

    public void SetPolicy(TunnelPolicy policy) => Volatile.Write(ref _policy, policy);

    private async Task Serve(Socket peer)
    {
        using (peer)
        {
            var policy = Volatile.Read(ref _policy);
            if (!policy.Members.Contains(((IPEndPoint)peer.RemoteEndPoint!).Address))
            {
                Interlocked.Increment(ref Rejected);
                TcpRelay.Refuse(peer);
                return;
            }
            var header = new byte[HeaderLength];
            try
            {
                using var cts = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
                cts.CancelAfter(HeaderTimeout);
                var read = 0;
                while (read < HeaderLength)
                {
                    var n = await peer.ReceiveAsync(header.AsMemory(read), SocketFlags.None, cts.Token).ConfigureAwait(false);
                    if (n == 0) return;
                    read += n;
                }
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException)
            {
                return;
            }
            var target = new IPEndPoint(new IPAddress(header.AsSpan(4, 4)), BinaryPrimitives.ReadUInt16BigEndian(header.AsSpan(8, 2)));
            var source = new IPAddress(header.AsSpan(10, 4));
            var udp = header.AsSpan(0, 4).SequenceEqual(MagicUdp);
            if (!(udp || header.AsSpan(0, 4).SequenceEqual(Magic)) || !policy.IsLocalPod(target.Address))
            {
                Interlocked.Increment(ref Rejected);
                await TrySend(peer, NotAllowed).ConfigureAwait(false);
                return;
            }
            // The pod should see the address the proxy asked for (the client's, or the receiving node's); where that
            // address is not this host's, it sees this node's address instead.
            var pod = udp
                ? DialUdp(target, source) ?? DialUdp(target, _nodeAddress)
                : await TcpRelay.DialAsync(target, source, PodDialTimeout, _stop.Token).ConfigureAwait(false)
                  ?? await TcpRelay.DialAsync(target, _nodeAddress, PodDialTimeout, _stop.Token).ConfigureAwait(false);
            if (pod is null)
            {
                Interlocked.Increment(ref Stats.Failed);
                await TrySend(peer, DialFailed).ConfigureAwait(false);
                return;
            }
            using (pod)
            {
                Interlocked.Increment(ref Stats.Connections);
                if (!await TrySend(peer, Connected).ConfigureAwait(false)) return;
                if (udp) await RelayDatagrams(peer, pod).ConfigureAwait(false);
                else await TcpRelay.RunAsync(peer, pod, Stats, _stop.Token).ConfigureAwait(false);
            }
        }
    }

    private static async Task<bool> TrySend(Socket socket, byte status)
    {
        try
        {
            await socket.SendAsync(new[] { status }, SocketFlags.None).ConfigureAwait(false);
            return true;
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            return false;
        }
    }

    /// <summary>
    /// Opens a connection to <paramref name="target"/> (a pod on another node) through that node's tunnel, from this
    /// node's address (the tunnel admits members only). Null when the tunnel or the pod cannot be reached within
    /// <paramref name="timeout"/>, so the caller retries another endpoint as with a direct dial.
    /// </summary>
    /// <param name="udp">a UDP flow: afterwards each datagram travels as a frame (<see cref="WriteFrameAsync"/>)</param>
    public static async Task<Socket?> DialAsync(IPEndPoint tunnel, IPEndPoint target, IPAddress podSeesSource, IPAddress nodeAddress, TimeSpan timeout, CancellationToken token, bool udp = false)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(token);
        cts.CancelAfter(timeout);
        var socket = await TcpRelay.DialAsync(tunnel, nodeAddress, timeout, cts.Token).ConfigureAwait(false);
        if (socket is null) return null;
        try
        {
            var header = new byte[HeaderLength];
            WriteHeader(header, target, podSeesSource, udp);
            await socket.SendAsync(header, SocketFlags.None, cts.Token).ConfigureAwait(false);
            var status = new byte[1];
            var n = await socket.ReceiveAsync(status, SocketFlags.None, cts.Token).ConfigureAwait(false);
            if (n == 1 && status[0] == Connected) return socket;
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException)
        {
        }
        socket.Dispose();
        return null;
    }

    /// <summary>The header a tunnel connection starts with: magic, target pod IPv4 and port, the source the pod sees.</summary>
    internal static void WriteHeader(Span<byte> header, IPEndPoint target, IPAddress podSeesSource, bool udp = false)
    {
        (udp ? MagicUdp : Magic).CopyTo(header);
        target.Address.MapToIPv4().TryWriteBytes(header.Slice(4, 4), out _);
        BinaryPrimitives.WriteUInt16BigEndian(header.Slice(8, 2), (ushort)target.Port);
        podSeesSource.MapToIPv4().TryWriteBytes(header.Slice(10, 4), out _);
    }

    /// <summary>A connected UDP socket to a pod, from <paramref name="source"/>; null when that cannot be bound.</summary>
    private static Socket? DialUdp(IPEndPoint target, IPAddress source)
    {
        var pod = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            pod.Bind(new IPEndPoint(source, 0));
            pod.Connect(target);
            return pod;
        }
        catch (SocketException)
        {
            pod.Dispose();
            return null;
        }
    }

    /// <summary>
    /// A UDP flow: datagrams in frames both ways until either side closes or the pod refuses (ICMP port unreachable).
    /// </summary>
    private async Task RelayDatagrams(Socket peer, Socket pod)
    {
        Interlocked.Increment(ref Stats.Active);
        try
        {
            var toPod = Task.Run(async () =>
            {
                var buffer = new byte[MaxDatagram];
                try
                {
                    int n;
                    while ((n = await ReadFrameAsync(peer, buffer, _stop.Token).ConfigureAwait(false)) >= 0)
                    {
                        Interlocked.Add(ref Stats.BytesIn, n);
                        await pod.SendAsync(buffer.AsMemory(0, n), SocketFlags.None, _stop.Token).ConfigureAwait(false);
                    }
                }
                catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException)
                {
                }
            });
            var fromPod = Task.Run(async () =>
            {
                var buffer = new byte[MaxDatagram + 2];
                try
                {
                    while (true)
                    {
                        var n = await pod.ReceiveAsync(buffer.AsMemory(2), SocketFlags.None, _stop.Token).ConfigureAwait(false);
                        Interlocked.Add(ref Stats.BytesOut, n);
                        await WriteFrameAsync(peer, buffer, n, _stop.Token).ConfigureAwait(false);
                    }
                }
                catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException)
                {
                }
            });
            // Either way ending ends the flow: the client side closed (or idled out), or the pod refused.
            await Task.WhenAny(toPod, fromPod).ConfigureAwait(false);
            peer.Dispose();
            pod.Dispose();
            await Task.WhenAll(toPod, fromPod).ConfigureAwait(false);
        }
        finally
        {
            Interlocked.Decrement(ref Stats.Active);
        }
    }

    /// <summary>The largest UDP payload over IPv4.</summary>
    internal const int MaxDatagram = 65507;

    /// <summary>
    /// Reads one frame (2-byte big-endian length, then the datagram) into <paramref name="buffer"/>; its length, or
    /// -1 at end of stream or on an error.
    /// </summary>
    internal static async Task<int> ReadFrameAsync(Socket socket, byte[] buffer, CancellationToken token)
    {
        try
        {
            if (!await ReadExactlyAsync(socket, buffer.AsMemory(0, 2), token).ConfigureAwait(false)) return -1;
            var length = BinaryPrimitives.ReadUInt16BigEndian(buffer);
            return length <= buffer.Length && await ReadExactlyAsync(socket, buffer.AsMemory(0, length), token).ConfigureAwait(false) ? length : -1;
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException)
        {
            return -1;
        }
    }

    /// <summary>Sends the datagram at <c>frame[2..2+length]</c> as one frame (the first two bytes get its length).</summary>
    internal static async Task WriteFrameAsync(Socket socket, byte[] frame, int length, CancellationToken token)
    {
        BinaryPrimitives.WriteUInt16BigEndian(frame, (ushort)length);
        var sent = 0;
        while (sent < length + 2) sent += await socket.SendAsync(frame.AsMemory(sent, length + 2 - sent), SocketFlags.None, token).ConfigureAwait(false);
    }

    private static async Task<bool> ReadExactlyAsync(Socket socket, Memory<byte> into, CancellationToken token)
    {
        var read = 0;
        while (read < into.Length)
        {
            var n = await socket.ReceiveAsync(into[read..], SocketFlags.None, token).ConfigureAwait(false);
            if (n == 0) return false;
            read += n;
        }
        return true;
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _socket.Dispose();
        await _loop.ConfigureAwait(false);
        _stop.Dispose();
    }
}
