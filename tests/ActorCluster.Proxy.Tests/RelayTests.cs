using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using ActorCluster.Core.Routing;
using ActorCluster.Proxy;
using k8s.Models;

namespace ActorCluster.Proxy.Tests;

/// <summary>
/// The TCP relay on its own, without a cluster: one <see cref="ServiceListener"/> in front of echo servers, real
/// sockets on 127.0.12.0/24. What the cluster tests do not reach: many connections at once (spread over the relay
/// loops), a dial that never completes, and what stopping a listener does to its open connections.
/// </summary>
public sealed class RelayTests
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task Two_hundred_connections_at_once_each_get_their_own_bytes_back()
    {
        await using var echo = EchoServer.Start(new IPEndPoint(IPAddress.Parse("127.0.12.2"), 7000));
        await using var listener = Listen(new IPEndPoint(IPAddress.Parse("127.0.12.1"), 8000), echo.EndPoint);
        var payloads = Enumerable.Range(0, 200).Select(i => RandomNumberGenerator.GetBytes(64 * 1024 + i)).ToArray();
        var replies = await Task.WhenAll(payloads.Select(p => RoundTrip(listener.EndPoint, p)));
        for (var i = 0; i < payloads.Length; i++) Assert.Equal(SHA256.HashData(payloads[i]), SHA256.HashData(replies[i]));
        Assert.Equal(200, listener.Stats.Connections);
        // The counters are added just after each write, so they may trail the clients by a moment.
        var total = payloads.Sum(p => (long)p.Length);
        await Poll.Until(() => listener.Stats.BytesIn == total && listener.Stats.BytesOut == total && listener.Stats.Active == 0, Bound, "every byte counted and every connection closed");
    }

    [Fact]
    public async Task A_dial_that_never_completes_is_retried_on_another_endpoint_after_its_deadline()
    {
        // A listener whose accept queue is full drops further SYNs: a dial to it neither connects nor fails.
        using var blackhole = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        blackhole.Bind(new IPEndPoint(IPAddress.Parse("127.0.12.3"), 7000));
        blackhole.Listen(0);
        using var filler = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await filler.ConnectAsync(blackhole.LocalEndPoint!);
        await using var echo = EchoServer.Start(new IPEndPoint(IPAddress.Parse("127.0.12.4"), 7000));
        await using var listener = Listen(new IPEndPoint(IPAddress.Parse("127.0.12.1"), 8001), (IPEndPoint)blackhole.LocalEndPoint!, echo.EndPoint);
        // Each connection picks at random: 20 of them all avoiding the black hole has a chance of one in a million.
        for (var i = 0; i < 20; i++)
        {
            var payload = RandomNumberGenerator.GetBytes(1000);
            Assert.Equal(payload, await RoundTrip(listener.EndPoint, payload));
        }
        Assert.True(listener.Stats.DialRetries > 0, "some connection was routed to the black hole first");
        Assert.Equal(0, listener.Stats.Failed);
    }

    [Fact]
    public async Task A_tunnel_that_answers_slowly_is_waited_for_not_left_for_another_endpoint()
    {
        // A node tunnel that accepts at once (the node is there) but takes 700 ms to send its challenge, as a busy
        // node may: well past the first dial timeout (250 ms), within the handshake's own bound.
        var (tunnel, served) = FakeTunnel("127.0.12.20", TimeSpan.FromMilliseconds(700));
        using var credentials = SelfSignedCredentials();
        // The pod is on another node, reached through its tunnel; given up on, the connection would be refused.
        var table = Table("slow", 8003, 7000, [Ready("127.0.12.22", node: "far")], node => node == "far" ? new IPEndPoint(IPAddress.Parse("127.0.12.20"), 4054) : null);
        var at = new IPEndPoint(IPAddress.Parse("127.0.12.1"), 8003);
        await using var listener = ServiceListener.Start(at, table, TrafficSource.Internal, at.Address, reusePort: false, tunnel: credentials);

        Assert.Equal("dcba", await Reversed(at));
        await served.WaitAsync(Bound);
        Assert.Equal(0, listener.Stats.DialRetries);
        tunnel.Stop();
    }

    [Fact]
    public async Task A_tunnel_stand_in_carries_what_the_kernel_sends_it_to_its_one_remote_endpoint_and_closes_once_unused()
    {
        // A far node's tunnel: the hello must name the remote pod and its port.
        var (tunnel, served) = FakeTunnel("127.0.12.30", TimeSpan.Zero,
            hello => Assert.Equal(new byte[] { 127, 0, 12, 32, 7000 >> 8, 7000 & 0xff }, hello[4..10]));
        using var credentials = SelfSignedCredentials();
        var table = Table("remote", 8004, 7000, [Ready("127.0.12.31", node: "node"), Ready("127.0.12.32", node: "far")],
            node => node == "far" ? new IPEndPoint(IPAddress.Parse("127.0.12.30"), 4054) : null);
        var registry = new ListenerRegistry();
        var entries = new TunnelEntries(IPAddress.Parse("127.0.12.1"), UdpFlowLimits.Default, registry, credentials);

        // The local endpoint stays as it is; the remote one becomes a stand-in on loopback, still of its node (so
        // Local policy still leaves it out), the same port on every change while it is wanted.
        var mapped = entries.Map(table);
        Assert.Equal("127.0.12.31:7000", mapped.Endpoints.Single(e => e.NodeName == "node").Address);
        var standIn = mapped.Endpoints.Single(e => e.NodeName == "far");
        Assert.Equal(TunnelEntries.Address.ToString(), standIn.IP);
        Assert.Null(standIn.Via);
        Assert.Empty(entries.TakeUnused());
        Assert.Equal(standIn.Address, entries.Map(table).Endpoints.Single(e => e.NodeName == "far").Address);
        Assert.Empty(entries.TakeUnused());
        Assert.Equal("TunnelEntry", Assert.Single(registry.Listeners).Kind);

        // A connection the kernel DNATed to it: carried through the far node's tunnel to the pod.
        Assert.Equal("dcba", await Reversed(standIn.EndPoint!));
        await served.WaitAsync(Bound);
        tunnel.Stop();

        // A round without it (the endpoint left): handed back to be closed once the rules no longer point at it.
        var unused = entries.TakeUnused();
        Assert.Single(unused);
        await entries.Close(unused);
        Assert.Empty(registry.Listeners);
        using var late = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        var refused = await Assert.ThrowsAsync<SocketException>(() => late.ConnectAsync(standIn.EndPoint!));
        Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);
    }

    [Fact]
    public async Task Stopping_a_listener_closes_its_connections_and_frees_the_port_at_once()
    {
        await using var echo = EchoServer.Start(new IPEndPoint(IPAddress.Parse("127.0.12.5"), 7000));
        var endPoint = new IPEndPoint(IPAddress.Parse("127.0.12.1"), 8002);
        var listener = Listen(endPoint, echo.EndPoint);
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(endPoint);
        await client.SendAsync(new byte[] { 42 }, SocketFlags.None);
        var one = new byte[1];
        using var cts = new CancellationTokenSource(Bound);
        Assert.Equal(1, await client.ReceiveAsync(one, SocketFlags.None, cts.Token)); // relaying
        await listener.DisposeAsync();
        // The open connection ends (end of stream), and the port can be bound by anyone right away.
        Assert.Equal(0, await client.ReceiveAsync(one, SocketFlags.None, cts.Token));
        using var rebind = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        rebind.Bind(endPoint);
    }

    [Fact]
    public async Task A_ClusterIP_group_sends_each_client_address_to_the_same_listener_by_its_address()
    {
        // Three nodes' listeners on one ClusterIP port, steered as each node steers its own: the kernel must pick
        // the listener at index (source address modulo 3), every time, for every client.
        await using var echo = EchoServer.Start(new IPEndPoint(IPAddress.Parse("127.0.12.2"), 7001));
        var at = new IPEndPoint(IPAddress.Parse("127.0.12.10"), 8100);
        var group = new List<ServiceListener>();
        try
        {
            for (var node = 0; node < 3; node++)
            {
                group.Add(Listen(at, reusePort: true, echo.EndPoint));
                Assert.True(group[^1].SteerBySourceAddress(3), "the kernel refused the steering program");
            }
            // As root the program is loaded once and shared by file descriptor (no compile per attach).
            if (Environment.UserName == "root") Assert.True(ActorCluster.Proxy.Linux.ReusePortSteering.IsShared(3), "bpf(2) did not load the shared program");
            for (var client = 1; client <= 12; client++)
            {
                var from = IPAddress.Parse($"127.0.13.{client}");
                var expected = (int)(BitConverter.ToUInt32(from.GetAddressBytes().Reverse().ToArray()) % 3);
                for (var round = 0; round < 3; round++)
                {
                    var before = group.Select(l => l.Stats.Connections).ToArray();
                    Assert.Equal("x"u8.ToArray(), await RoundTrip(at, "x"u8.ToArray(), from));
                    var took = Enumerable.Range(0, 3).Single(i => group[i].Stats.Connections != before[i]);
                    Assert.Equal(expected, took);
                }
            }
        }
        finally
        {
            foreach (var listener in group) await listener.DisposeAsync();
        }
    }

    [Fact]
    public async Task The_traffic_log_keeps_each_connections_decision_and_counts_each_endpoints_connections_and_bytes()
    {
        await using var one = EchoServer.Start(new IPEndPoint(IPAddress.Parse("127.0.12.2"), 7003));
        await using var two = EchoServer.Start(new IPEndPoint(IPAddress.Parse("127.0.12.3"), 7003));
        var traffic = new TrafficLog();
        await using var listener = Listen(new IPEndPoint(IPAddress.Parse("127.0.12.1"), 8004), reusePort: false, traffic, one.EndPoint, two.EndPoint);
        var payloads = Enumerable.Range(0, 40).Select(i => RandomNumberGenerator.GetBytes(1000 + i)).ToArray();
        await Task.WhenAll(payloads.Select(p => RoundTrip(listener.EndPoint, p)));

        // Every connection's decision is kept (fewer than the ring holds), each naming the endpoint it was given.
        var total = payloads.Sum(p => (long)p.Length);
        await Poll.Until(() => traffic.Endpoints().Sum(e => e.BytesOut) == total, Bound, "every byte back to the clients counted per endpoint");
        var decisions = traffic.Recent();
        Assert.Equal(40, decisions.Count);
        Assert.All(decisions, d => Assert.Equal(("default/relay", "ClusterIP", "127.0.12.1:8004", null), (d.ServicePort, d.Kind, d.Address, d.Refusal)));
        var endpoints = traffic.Endpoints();
        Assert.Equal(40, endpoints.Sum(e => e.Connections));
        Assert.Equal(total, endpoints.Sum(e => e.BytesIn));
        foreach (var e in endpoints) Assert.Equal(decisions.Count(d => d.Endpoint == e.Endpoint), e.Connections);
        Assert.True(decisions.OrderBy(d => d.Time).SequenceEqual(decisions), "oldest first");
    }

    [Fact]
    public void The_traffic_log_keeps_only_the_newest_decisions()
    {
        var traffic = new TrafficLog();
        var at = new IPEndPoint(IPAddress.Parse("127.0.12.1"), 8005);
        var table = Table("empty", at.Port, 7000, []);
        var listener = new FakeListener(at, table);
        for (var i = 0; i < TrafficLog.Capacity + 10; i++)
            traffic.Record(table, listener, IPAddress.Loopback, 10_000 + i, null, Router.Route(table, TrafficSource.Internal, null, DateTime.UtcNow, 0.5).Reason);
        var kept = traffic.Recent();
        Assert.Equal(TrafficLog.Capacity, kept.Count);
        Assert.Equal("127.0.0.1:10010", kept[0].Client);
        Assert.Equal($"127.0.0.1:{10_000 + TrafficLog.Capacity + 9}", kept[^1].Client);
        Assert.All(kept, d => Assert.Equal("default/empty has no endpoints", d.Refusal));
    }

    [Fact]
    public void The_traffic_log_forgets_the_endpoints_that_left_a_service_and_a_deleted_service()
    {
        var traffic = new TrafficLog();
        var both = Table("web", 80, 8080, [Ready("127.0.12.2"), Ready("127.0.12.3")]);
        foreach (var e in both.Endpoints) Interlocked.Increment(ref traffic.For(both, e).Connections);
        Assert.Equal(["127.0.12.2:8080", "127.0.12.3:8080"], traffic.Endpoints().Select(e => e.Endpoint).Order());

        traffic.Retain("default/web", [Table("web", 80, 8080, [Ready("127.0.12.3")])]);
        Assert.Equal(["127.0.12.3:8080"], traffic.Endpoints().Select(e => e.Endpoint));
        traffic.Retain("default/other", []);
        Assert.Single(traffic.Endpoints());
        traffic.Retain("default/web", []);
        Assert.Empty(traffic.Endpoints());
    }

    /// <summary>
    /// A far node's tunnel for one connection: challenges after <paramref name="delay"/>, hands the hello (one send) to
    /// <paramref name="checkHello"/>, reports the pod connected, and the "pod" answers 4 bytes reversed.
    /// </summary>
    private static (TcpListener Listener, Task Served) FakeTunnel(string address, TimeSpan delay, Action<byte[]>? checkHello = null)
    {
        var tunnel = new TcpListener(IPAddress.Parse(address), 4054);
        tunnel.Start();
        var served = Task.Run(async () =>
        {
            using var conn = await tunnel.AcceptTcpClientAsync();
            var stream = conn.GetStream();
            await Task.Delay(delay);
            await stream.WriteAsync(TunnelHandshake.NewChallenge());
            var hello = new byte[8192];
            Assert.True(await stream.ReadAsync(hello) >= NodeTunnel.HeaderLength);
            checkHello?.Invoke(hello);
            stream.WriteByte(NodeTunnel.Connected);
            var request = new byte[4];
            await stream.ReadExactlyAsync(request);
            Array.Reverse(request);
            await stream.WriteAsync(request);
        });
        return (tunnel, served);
    }

    /// <summary>Tunnel credentials from a self-signed node certificate (the fake tunnel checks no signature).</summary>
    private static TunnelCredentials SelfSignedCredentials()
    {
        using var key = System.Security.Cryptography.ECDsa.Create(System.Security.Cryptography.ECCurve.NamedCurves.nistP256);
        using var certificate = new System.Security.Cryptography.X509Certificates.CertificateRequest("CN=system:node:node", key, System.Security.Cryptography.HashAlgorithmName.SHA256)
            .CreateSelfSigned(DateTimeOffset.UtcNow.AddMinutes(-1), DateTimeOffset.UtcNow.AddHours(1));
        return new TunnelCredentials(certificate);
    }

    /// <summary>Sends "abcd" to <paramref name="at"/> and returns the 4 bytes answered.</summary>
    private static async Task<string> Reversed(IPEndPoint at)
    {
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        using var cts = new CancellationTokenSource(Bound);
        await client.ConnectAsync(at, cts.Token);
        await client.SendAsync("abcd"u8.ToArray(), SocketFlags.None, cts.Token);
        var answer = new byte[4];
        for (var read = 0; read < 4;) read += await client.ReceiveAsync(answer.AsMemory(read), SocketFlags.None, cts.Token);
        return System.Text.Encoding.ASCII.GetString(answer);
    }

    /// <summary>Service default/<paramref name="name"/> with one TCP port, its endpoints in one slice at <paramref name="targetPort"/>.</summary>
    private static RoutingTable Table(string name, int port, int targetPort, IEnumerable<V1Endpoint> endpoints, Func<string, IPEndPoint?>? tunnelOf = null)
    {
        var service = new V1Service
        {
            Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = "default" },
            Spec = new V1ServiceSpec { Ports = [new V1ServicePort { Port = port, Protocol = "TCP" }] },
        };
        var slice = new V1EndpointSlice
        {
            AddressType = "IPv4",
            Metadata = new V1ObjectMeta { Name = name + "-0" },
            Ports = [new Discoveryv1EndpointPort { Port = targetPort, Protocol = "TCP" }],
            Endpoints = [.. endpoints],
        };
        return RoutingTable.Build(service, [slice], "node", tunnelOf).Single();
    }

    private static V1Endpoint Ready(string address, string? node = null) =>
        new() { Addresses = [address], NodeName = node, Conditions = new V1EndpointConditions { Ready = true } };

    private sealed class FakeListener(IPEndPoint endPoint, RoutingTable table) : IServiceListener
    {
        public IPEndPoint EndPoint => endPoint;

        public string Protocol => "TCP";

        public TrafficSource Source => TrafficSource.Internal;

        public RoutingTable Table => table;

        public IPAddress NodeAddress => endPoint.Address;

        public bool LoadBalancer => false;

        public ListenerStats Stats { get; } = new();

        public void Update(RoutingTable table)
        {
        }

        public ValueTask DisposeAsync() => ValueTask.CompletedTask;
    }

    private static ServiceListener Listen(IPEndPoint at, params IPEndPoint[] endpoints) => Listen(at, reusePort: false, (TrafficLog?)null, endpoints);

    private static ServiceListener Listen(IPEndPoint at, bool reusePort, params IPEndPoint[] endpoints) => Listen(at, reusePort, (TrafficLog?)null, endpoints);

    private static ServiceListener Listen(IPEndPoint at, bool reusePort, TrafficLog? traffic, params IPEndPoint[] endpoints)
    {
        var service = new V1Service
        {
            Metadata = new V1ObjectMeta { Name = "relay", NamespaceProperty = "default" },
            Spec = new V1ServiceSpec { Ports = [new V1ServicePort { Port = at.Port, Protocol = "TCP" }] },
        };
        var slices = endpoints.Select((e, i) => new V1EndpointSlice
        {
            AddressType = "IPv4",
            Metadata = new V1ObjectMeta { Name = $"relay-{i}" },
            Ports = [new Discoveryv1EndpointPort { Port = e.Port, Protocol = "TCP" }],
            Endpoints = [new V1Endpoint { Addresses = [e.Address.ToString()], Conditions = new V1EndpointConditions { Ready = true } }],
        });
        var table = RoutingTable.Build(service, slices, "node").Single();
        return ServiceListener.Start(at, table, TrafficSource.Internal, at.Address, reusePort, traffic: traffic);
    }

    /// <summary>Sends the payload, half-closes, and reads everything that comes back until end of stream.</summary>
    private static async Task<byte[]> RoundTrip(IPEndPoint to, byte[] payload, IPAddress? from = null)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        if (from is not null) socket.Bind(new IPEndPoint(from, 0));
        using var cts = new CancellationTokenSource(Bound);
        await socket.ConnectAsync(to, cts.Token);
        var receive = Task.Run(async () =>
        {
            using var received = new MemoryStream();
            var buffer = new byte[16 * 1024];
            int n;
            while ((n = await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token)) > 0) received.Write(buffer, 0, n);
            return received.ToArray();
        });
        await socket.SendAsync(payload, SocketFlags.None, cts.Token);
        socket.Shutdown(SocketShutdown.Send);
        return await receive;
    }

    /// <summary>Echoes every connection's bytes back and half-closes when the client has.</summary>
    private sealed class EchoServer : IAsyncDisposable
    {
        private readonly Socket _socket;
        private readonly CancellationTokenSource _stop = new();
        private readonly Task _loop;

        private EchoServer(Socket socket)
        {
            _socket = socket;
            _loop = AcceptLoop.RunAsync(socket, Echo, _stop.Token);
        }

        public IPEndPoint EndPoint => (IPEndPoint)_socket.LocalEndPoint!;

        public static EchoServer Start(IPEndPoint at)
        {
            var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            socket.Bind(at);
            socket.Listen(512);
            return new EchoServer(socket);
        }

        private static async Task Echo(Socket peer)
        {
            using (peer)
            {
                var buffer = new byte[16 * 1024];
                try
                {
                    int n;
                    while ((n = await peer.ReceiveAsync(buffer, SocketFlags.None)) > 0) await peer.SendAsync(buffer.AsMemory(0, n), SocketFlags.None);
                    peer.Shutdown(SocketShutdown.Send);
                }
                catch (SocketException)
                {
                }
            }
        }

        public async ValueTask DisposeAsync()
        {
            await _stop.CancelAsync();
            _socket.Dispose();
            await _loop;
        }
    }
}
