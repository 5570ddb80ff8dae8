using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;

namespace ActorCluster.Proxy;

/// <summary>Who may use a node's tunnel, and to which addresses: swapped as a whole when the cluster changes.</summary>
/// <param name="Members">the addresses of the cluster's current members (Akka membership, itself mutual TLS): only
/// they may open a tunnel connection, each from its own address, and the pod may be told only that address</param>
/// <param name="IsLocalPod">whether an address is a pod address of this node: the only targets a tunnel dials</param>
public sealed record TunnelPolicy(IReadOnlySet<IPAddress> Members, Func<IPAddress, bool> IsLocalPod)
{
    public static readonly TunnelPolicy Closed = new(new HashSet<IPAddress>(), _ => false);
}

/// <summary>
/// The node tunnel: one TCP port per node that carries connections from other nodes' proxies to this node's pods
/// when pod addresses are not routable between hosts (pods live on each host's loopback). The tunnel speaks first
/// with a challenge; the dialing node answers with a hello (<see cref="TunnelHandshake"/>): a 14-byte header (magic
/// "ACT2", target pod IPv4 and port, the source address the pod should see) followed by its node certificate and a
/// signature over the challenge and the header. The tunnel answers one status byte once it has dialed the pod (0
/// connected, 1 not allowed, 2 dial failed), then relays. A UDP flow starts with the magic "ACU2" instead: the pod is
/// reached with a connected datagram socket and each datagram travels as a frame (2-byte length, then the payload)
/// both ways. Admitted: a current member (by its certificate from the cluster CA, from its own address), claiming
/// only its own address as the source, to this node's pod addresses; so it is neither an open proxy nor a way to
/// speak as someone else.
/// </summary>
public sealed class NodeTunnel : IAsyncDisposable
{
    internal const int HeaderLength = 14;
    private static readonly byte[] Magic = "ACT2"u8.ToArray();
    private static readonly byte[] MagicUdp = "ACU2"u8.ToArray(); // a UDP flow: datagrams framed with a 2-byte length
    private static readonly TimeSpan HeaderTimeout = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan PodDialTimeout = TimeSpan.FromSeconds(2);

    public const byte Connected = 0;
    public const byte NotAllowed = 1;
    public const byte DialFailed = 2;

    private readonly Socket _socket;
    private readonly IPAddress _nodeAddress;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private readonly Func<X509Certificate2, IPAddress?> _nodeAddressOf;
    private readonly ConcurrentDictionary<string, IPAddress> _verified = new();
    private TunnelPolicy _policy = TunnelPolicy.Closed;

    private NodeTunnel(Socket socket, IPAddress nodeAddress, Func<X509Certificate2, IPAddress?> nodeAddressOf)
    {
        _socket = socket;
        _nodeAddress = nodeAddress;
        _nodeAddressOf = nodeAddressOf;
        _loop = Task.Run(() => AcceptLoop.RunAsync(_socket, Serve, _stop.Token));
    }

    public IPEndPoint EndPoint => (IPEndPoint)_socket.LocalEndPoint!;

    /// <summary>Connections carried, refusals (counted as no-endpoint), pod dial failures, bytes.</summary>
    public ListenerStats Stats { get; } = new();

    /// <summary>Connections turned away: not from a member, not proven, a claim it may not make, or not to one of this node's pods.</summary>
    public long Rejected;

    /// <param name="nodeAddressOf">the node address a certificate names if it is a node certificate from the cluster CA, else null</param>
    public static NodeTunnel Start(IPEndPoint endPoint, Func<X509Certificate2, IPAddress?> nodeAddressOf)
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
        return new NodeTunnel(socket, endPoint.Address, nodeAddressOf);
    }

    public void SetPolicy(TunnelPolicy policy) => Volatile.Write(ref _policy, policy);

    private async Task Serve(Socket peer)
    {
        using (peer)
        {
            var policy = Volatile.Read(ref _policy);
            var from = ((IPEndPoint)peer.RemoteEndPoint!).Address;
            if (!policy.Members.Contains(from))
            {
                Interlocked.Increment(ref Rejected);
                TcpRelay.Refuse(peer);
                return;
            }
            var challenge = TunnelHandshake.NewChallenge();
            var hello = await ReadHello(peer, challenge).ConfigureAwait(false);
            if (hello is not { } h) return;
            var (header, certificate, signature) = h;
            using (certificate)
            {
                var target = new IPEndPoint(new IPAddress(header.AsSpan(4, 4)), BinaryPrimitives.ReadUInt16BigEndian(header.AsSpan(8, 2)));
                var source = new IPAddress(header.AsSpan(10, 4));
                var udp = header.AsSpan(0, 4).SequenceEqual(MagicUdp);
                // A node certificate of this cluster, signed for this connection, naming the address the connection
                // comes from, claiming that same address as the source, to one of this node's pods: anything else
                // is refused.
                var admitted = (udp || header.AsSpan(0, 4).SequenceEqual(Magic))
                    && NodeAddressOf(certificate) is { } node
                    && node.Equals(from) && node.Equals(source)
                    && TunnelHandshake.SignatureValid(certificate, challenge, header, signature)
                    && policy.IsLocalPod(target.Address);
                if (!admitted)
                {
                    Interlocked.Increment(ref Rejected);
                    await TrySend(peer, NotAllowed).ConfigureAwait(false);
                    return;
                }
                await Carry(peer, target, source, udp).ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Sends the challenge and reads the hello (header, certificate, signature) within the header timeout; null when
    /// the peer goes away, is too slow or sends something malformed.
    /// </summary>
    private async Task<(byte[] Header, X509Certificate2 Certificate, byte[] Signature)?> ReadHello(Socket peer, byte[] challenge)
    {
        try
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
            cts.CancelAfter(HeaderTimeout);
            await peer.SendAsync(challenge, SocketFlags.None, cts.Token).ConfigureAwait(false);
            // As TunnelCredentials.Hello frames it: header, certificate length (2 bytes), certificate, signature
            // length (1 byte), signature; each length bounded before anything is read for it.
            var head = new byte[HeaderLength + 2];
            if (!await TunnelFrames.ReadExactlyAsync(peer, head, cts.Token).ConfigureAwait(false)) return null;
            var certificateLength = BinaryPrimitives.ReadUInt16BigEndian(head.AsSpan(HeaderLength));
            if (certificateLength is 0 or > TunnelHandshake.MaxCertificateLength) return null;
            var certificateThenLength = new byte[certificateLength + 1]; // the certificate, then the signature's length
            if (!await TunnelFrames.ReadExactlyAsync(peer, certificateThenLength, cts.Token).ConfigureAwait(false)) return null;
            var signature = new byte[certificateThenLength[^1]];
            if (signature.Length is 0 or > TunnelHandshake.MaxSignatureLength) return null;
            if (!await TunnelFrames.ReadExactlyAsync(peer, signature, cts.Token).ConfigureAwait(false)) return null;
            if (TunnelHandshake.LoadCertificate(certificateThenLength.AsSpan(0, certificateLength)) is not { } certificate)
            {
                Interlocked.Increment(ref Rejected);
                return null;
            }
            return (head[..HeaderLength], certificate, signature);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
        {
            return null;
        }
    }

    /// <summary>The node address a certificate names, verified once per certificate (chain building is the costly part).</summary>
    private IPAddress? NodeAddressOf(X509Certificate2 certificate)
    {
        var key = certificate.Thumbprint;
        if (_verified.TryGetValue(key, out var node)) return node;
        node = _nodeAddressOf(certificate);
        // Only good certificates are remembered (a node's, one per start): garbage cannot grow this map.
        if (node is not null && _verified.Count < 4096) _verified[key] = node;
        return node;
    }

    private async Task Carry(Socket peer, IPEndPoint target, IPAddress source, bool udp)
    {
        // The pod sees the dialing node's address (kube-proxy's SNAT under Cluster) where this host can dial from it
        // (nodes sharing one machine), else this node's own.
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
    /// node's address, proving this node with <paramref name="credentials"/>. Null when the tunnel or the pod cannot
    /// be reached within <paramref name="timeout"/>, or the tunnel refuses, so the caller retries another endpoint as
    /// with a direct dial.
    /// </summary>
    /// <param name="udp">a UDP flow: afterwards each datagram travels as a frame (<see cref="TunnelFrames"/>)</param>
    public static async Task<Socket?> DialAsync(IPEndPoint tunnel, IPEndPoint target, IPAddress nodeAddress, TunnelCredentials credentials, TimeSpan timeout, CancellationToken token, bool udp = false)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(token);
        cts.CancelAfter(timeout);
        var socket = await TcpRelay.DialAsync(tunnel, nodeAddress, timeout, cts.Token).ConfigureAwait(false);
        if (socket is null) return null;
        try
        {
            var challenge = new byte[TunnelHandshake.ChallengeLength];
            if (await TunnelFrames.ReadExactlyAsync(socket, challenge, cts.Token).ConfigureAwait(false) && TunnelHandshake.IsChallenge(challenge))
            {
                var header = new byte[HeaderLength];
                WriteHeader(header, target, nodeAddress, udp);
                await socket.SendAsync(credentials.Hello(challenge, header), SocketFlags.None, cts.Token).ConfigureAwait(false);
                var status = new byte[1];
                var n = await socket.ReceiveAsync(status, SocketFlags.None, cts.Token).ConfigureAwait(false);
                if (n == 1 && status[0] == Connected) return socket;
            }
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
                var buffer = new byte[TunnelFrames.MaxDatagram];
                try
                {
                    int n;
                    while ((n = await TunnelFrames.ReadFrameAsync(peer, buffer, _stop.Token).ConfigureAwait(false)) >= 0)
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
                var buffer = new byte[TunnelFrames.MaxDatagram + 2];
                try
                {
                    while (true)
                    {
                        var n = await pod.ReceiveAsync(buffer.AsMemory(2), SocketFlags.None, _stop.Token).ConfigureAwait(false);
                        Interlocked.Add(ref Stats.BytesOut, n);
                        await TunnelFrames.WriteFrameAsync(peer, buffer, n, _stop.Token).ConfigureAwait(false);
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

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _socket.Dispose();
        await _loop.ConfigureAwait(false);
        _stop.Dispose();
    }
}
