using System.Net;
using System.Net.Sockets;
using ActorCluster.Core.Routing;
using ActorCluster.Proxy.Linux;

namespace ActorCluster.Proxy;

/// <summary>
/// One bound address:port of a TCP service port (its ClusterIP, this node's NodePort, or a LoadBalancer IP). The
/// relay loops (<see cref="RelayLoop"/>, one per core) accept on it: each connection reads the current
/// <see cref="RoutingTable"/> (swapped atomically when the service or its endpoints change; no locks, no messages),
/// lets <see cref="Router"/> pick an endpoint, dials it (retrying other endpoints with kube-proxy's userspace
/// timeouts) and relays. No endpoint: the connection is reset at once. Linux only (epoll).
/// </summary>
public sealed class ServiceListener : IServiceListener
{
    /// <summary>kube-proxy's userspace dial timeouts: a dial that has not completed in time is retried elsewhere.</summary>
    internal static readonly TimeSpan[] DialTimeouts = [TimeSpan.FromMilliseconds(250), TimeSpan.FromMilliseconds(500), TimeSpan.FromSeconds(1), TimeSpan.FromSeconds(2)];

    /// <summary>
    /// Once a node tunnel has accepted the TCP connection (the node is there), the handshake (a challenge, our signed
    /// hello, the far node's check and its dial to the pod) has this long. It is work on two busy processes, not a
    /// packet in flight: under the dial timeouts above, a loaded machine re-routed healthy connections.
    /// </summary>
    internal static readonly TimeSpan TunnelHandshakeTimeout = TimeSpan.FromSeconds(3);

    private static int _nextId;

    private readonly Socket _socket;
    private RoutingTable _table;
    private int _disposed;

    private ServiceListener(Socket socket, RoutingTable table, TrafficSource source, IPAddress nodeAddress, AffinityMemory affinity, TunnelCredentials? tunnel, TrafficLog? traffic)
    {
        Tunnel = tunnel;
        Traffic = traffic;
        _socket = socket;
        Affinity = affinity;
        _table = table;
        Source = source;
        NodeAddress = nodeAddress;
        EndPoint = (IPEndPoint)socket.LocalEndPoint!;
        Fd = (int)socket.SafeHandle.DangerousGetHandle();
        Id = Interlocked.Increment(ref _nextId);
    }

    public IPEndPoint EndPoint { get; }

    public string Protocol => "TCP";

    public TrafficSource Source { get; }

    public ListenerStats Stats { get; } = new();

    public RoutingTable Table => Volatile.Read(ref _table);

    /// <summary>A LoadBalancer IP: only clients in the Service's loadBalancerSourceRanges are relayed (others reset).</summary>
    public bool LoadBalancer { get; private init; }

    public IPAddress NodeAddress { get; }

    /// <summary>This node's proof for other nodes' tunnels; without it, endpoints behind a tunnel cannot be dialed.</summary>
    internal TunnelCredentials? Tunnel { get; }

    /// <summary>The node's record of decisions and per-endpoint counters (the dashboard's), if it keeps one.</summary>
    internal TrafficLog? Traffic { get; }

    internal int Fd { get; }

    internal int Id { get; }

    /// <summary>Set once stopping begins: connections handed between loops after that are closed, not served.</summary>
    internal volatile bool Detached;

    /// <summary>ClientIP affinity of the service port: the client's address -> its endpoint, shared by the loops and by every address of the port.</summary>
    internal AffinityMemory Affinity { get; }

    /// <summary>Binds; ClusterIPs are shared by every node (SO_REUSEPORT) so the kernel spreads connections over them.</summary>
    /// <param name="loadBalancer">a LoadBalancer IP: the Service's loadBalancerSourceRanges decide who may use it</param>
    public static ServiceListener Start(IPEndPoint endPoint, RoutingTable table, TrafficSource source, IPAddress nodeAddress, bool reusePort,
        AffinityMemory? affinity = null, TunnelCredentials? tunnel = null, TrafficLog? traffic = null, bool loadBalancer = false)
    {
        if (!OperatingSystem.IsLinux()) throw new PlatformNotSupportedException("the service proxy's relay runs on Linux (epoll)");
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (reusePort) socket.SetRawSocketOption(1 /* SOL_SOCKET */, 15 /* SO_REUSEPORT */, BitConverter.GetBytes(1));
            // An externalIP is taken on every node, though usually only one host has it (or a router sends it there):
            // IP_FREEBIND binds it where it is not local, to receive whatever traffic for it reaches this host.
            if (table.ExternalIPs.Contains(endPoint.Address)) socket.SetRawSocketOption(0 /* IPPROTO_IP */, 15 /* IP_FREEBIND */, BitConverter.GetBytes(1));
            socket.Bind(endPoint);
            socket.Listen(1024);
            socket.Blocking = false; // the loops accept until "would block"
            var listener = new ServiceListener(socket, table, source, nodeAddress, affinity ?? new AffinityMemory(), tunnel, traffic) { LoadBalancer = loadBalancer };
            RelayLoop.Attach(listener);
            return listener;
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>Makes the ClusterIP's reuseport group pick a node by client address (<see cref="ReusePortSteering"/>).</summary>
    internal bool SteerBySourceAddress(int nodes) => ReusePortSteering.BySourceAddress(_socket, nodes);

    /// <summary>Swaps in a new routing table; connections accepted from now on use it.</summary>
    public void Update(RoutingTable table) => Volatile.Write(ref _table, table);

    /// <summary>Stops accepting, closes this listener's connections, then frees the port.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
        await RelayLoop.DetachAsync(this).ConfigureAwait(false);
        _socket.Dispose();
    }
}
