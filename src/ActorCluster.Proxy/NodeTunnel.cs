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
/// one status byte once it has dialed the pod (0 connected, 1 not allowed, 2 dial failed), then relays. Only cluster
/// members may connect, and only this node's pod addresses are dialed, so it is not an open proxy.
/// </summary>
public sealed class NodeTunnel : IAsyncDisposable
{
    internal const int HeaderLength = 14;
    private static readonly byte[] Magic = "ACT1"u8.ToArray();
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
            if (!header.AsSpan(0, 4).SequenceEqual(Magic) || !policy.IsLocalPod(target.Address))
            {
                Interlocked.Increment(ref Rejected);
                await TrySend(peer, NotAllowed).ConfigureAwait(false);
                return;
            }
            // The pod should see the address the proxy asked for (the client's, or the receiving node's); where that
            // address is not this host's, it sees this node's address instead.
            var pod = await TcpRelay.DialAsync(target, source, PodDialTimeout, _stop.Token).ConfigureAwait(false)
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
                await TcpRelay.RunAsync(peer, pod, Stats, _stop.Token).ConfigureAwait(false);
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
    public static async Task<Socket?> DialAsync(IPEndPoint tunnel, IPEndPoint target, IPAddress podSeesSource, IPAddress nodeAddress, TimeSpan timeout, CancellationToken token)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(token);
        cts.CancelAfter(timeout);
        var socket = await TcpRelay.DialAsync(tunnel, nodeAddress, timeout, cts.Token).ConfigureAwait(false);
        if (socket is null) return null;
        try
        {
            var header = new byte[HeaderLength];
            WriteHeader(header, target, podSeesSource);
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
    internal static void WriteHeader(Span<byte> header, IPEndPoint target, IPAddress podSeesSource)
    {
        Magic.CopyTo(header);
        target.Address.MapToIPv4().TryWriteBytes(header.Slice(4, 4), out _);
        BinaryPrimitives.WriteUInt16BigEndian(header.Slice(8, 2), (ushort)target.Port);
        podSeesSource.MapToIPv4().TryWriteBytes(header.Slice(10, 4), out _);
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _socket.Dispose();
        await _loop.ConfigureAwait(false);
        _stop.Dispose();
    }
}
