using System.Net;
using System.Net.Sockets;
using System.Text;
using ActorCluster.Cluster.ApiServer;
using ActorCluster.Cluster.Node;
using ActorCluster.Cluster.Proxy;
using ActorCluster.Core.ControlPlane;
using ActorCluster.Proxy;
using Akka.Actor;
using Akka.TestKit.Xunit2;
using k8s.Models;

namespace ActorCluster.Cluster.Tests.ProxySpecs;

/// <summary>
/// One ServiceActor alone, fed <see cref="ServiceChanged"/> by hand as the node's proxy would: it opens and closes the
/// Service's addresses (real sockets on 127.0.14.0/24, backends on 127.0.15.0/24), reports a port it cannot take,
/// shares one affinity memory between its listeners and its dispatch answers, and hands the API's service proxy to
/// the chosen pod's PodActor.
/// </summary>
public sealed class ServiceActorSpecs() : TestKit("akka.loglevel = WARNING", "service-actor-spec-" + Guid.NewGuid().ToString("N"))
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);
    private static readonly IPAddress NodeIP = IPAddress.Parse("127.0.14.1");
    private readonly ListenerRegistry _registry = new();

    private ProxySettings Settings => new("k8s-worker1", NodeIP, CrossNodeMode.Direct, 4054, UdpFlowLimits.Default) { BindRetryInterval = TimeSpan.FromMilliseconds(100) };

    private string SelfAkkaAddress => ((ExtendedActorSystem)Sys).Provider.DefaultAddress.ToString();

    private NodeDirectory Nodes => NodeDirectory.Of([new V1Node
    {
        Metadata = new V1ObjectMeta { Name = "k8s-worker1", Annotations = new Dictionary<string, string> { [ControlPlane.AkkaAddressAnnotation] = SelfAkkaAddress } },
        Status = new V1NodeStatus
        {
            Addresses = [new V1NodeAddress { Type = "InternalIP", Address = NodeIP.ToString() }],
            Conditions = [new V1NodeCondition { Type = "Ready", Status = "True" }],
        },
    }]);

    private static V1Service Service(string clusterIP, int nodePort = 0, bool clientIP = false) => new()
    {
        Metadata = new V1ObjectMeta { Name = "web", NamespaceProperty = "default", Uid = Guid.NewGuid().ToString() },
        Spec = new V1ServiceSpec
        {
            Type = nodePort > 0 ? "NodePort" : "ClusterIP",
            ClusterIP = clusterIP,
            SessionAffinity = clientIP ? "ClientIP" : "None",
            Ports = [new V1ServicePort { Port = 9000, Protocol = "TCP", NodePort = nodePort > 0 ? nodePort : null }],
        },
    };

    /// <summary>One slice with a ready endpoint per backend, each a pod on this node with a uid of its name.</summary>
    private static V1EndpointSlice[] Slices(params NamedBackend[] backends) =>
    [
        new V1EndpointSlice
        {
            AddressType = "IPv4",
            Metadata = new V1ObjectMeta { Name = "web-abcde", NamespaceProperty = "default" },
            Ports = [new Discoveryv1EndpointPort { Port = 7000, Protocol = "TCP" }],
            Endpoints = backends.Select(b => new V1Endpoint
            {
                Addresses = [b.EndPoint.Address.ToString()],
                NodeName = "k8s-worker1",
                Conditions = new V1EndpointConditions { Ready = true, Serving = true, Terminating = false },
                TargetRef = new V1ObjectReference { Kind = "Pod", NamespaceProperty = "default", Name = b.Name, Uid = b.Name },
            }).ToList(),
        },
    ];

    private IActorRef StartServiceActor(IActorRef apiServer) => Sys.ActorOf(ServiceActor.Props(Settings, apiServer, _registry, announcer: null));

    /// <summary>Another program's listener on the node address.</summary>
    private static Socket HoldPort(int port)
    {
        var holder = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        holder.Bind(new IPEndPoint(NodeIP, port));
        holder.Listen(1);
        return holder;
    }

    private bool Bound(string address) => _registry.Listeners.Any(l => l.EndPoint.ToString() == address);

    [Fact]
    public async Task Opens_its_addresses_routes_through_them_and_closes_them_when_the_Service_goes()
    {
        await using var pod = NamedBackend.Start("pod-a", new IPEndPoint(IPAddress.Parse("127.0.15.1"), 7000));
        var actor = StartServiceActor(CreateTestProbe().Ref);
        actor.Tell(new ServiceChanged(Service("127.0.14.10", nodePort: 30900), Slices(pod), Nodes));
        AwaitCondition(() => Bound("127.0.14.10:9000") && Bound("127.0.14.1:30900"), Wait);

        Assert.Equal("pod-a", await NamedBackend.Read(new IPEndPoint(IPAddress.Parse("127.0.14.10"), 9000)));
        Assert.Equal("pod-a", await NamedBackend.Read(new IPEndPoint(NodeIP, 30900)));
        actor.Tell(new Dispatch("127.0.14.10:9000", "127.0.16.9"));
        Assert.Equal("pod-a", ExpectMsg<Dispatched>(Wait).PodName);

        Watch(actor);
        actor.Tell(new ServiceChanged(null, [], Nodes));
        ExpectTerminated(actor, Wait);
        Assert.Empty(_registry.Listeners);
        using var again = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        again.Bind(new IPEndPoint(NodeIP, 30900)); // the NodePort is free again
    }

    [Fact]
    public void A_port_another_program_holds_is_reported_once_and_taken_when_it_frees()
    {
        var apiServer = CreateTestProbe();
        var holder = HoldPort(30901);
        var actor = StartServiceActor(apiServer.Ref);
        actor.Tell(new ServiceChanged(Service("127.0.14.11", nodePort: 30901), [], Nodes));

        var ev = apiServer.ExpectMsg<CreateObject>(Wait);
        Assert.Equal("events", ev.Resource);
        Assert.Contains("\"reason\":\"FailedToBindPort\"", ev.Json, StringComparison.Ordinal);
        Assert.Contains("listen tcp 127.0.14.1:30901: bind: address already in use", ev.Json, StringComparison.Ordinal);
        Assert.Contains("127.0.14.1:30901", _registry.FailedEndPoints);
        Assert.True(Bound("127.0.14.11:9000"), "the ClusterIP is not held by anyone and was bound");

        holder.Dispose();
        AwaitCondition(() => Bound("127.0.14.1:30901"), Wait);
        Assert.DoesNotContain("127.0.14.1:30901", _registry.FailedEndPoints);
        apiServer.ExpectNoMsg(TimeSpan.FromMilliseconds(200)); // reported once, not once per retry
    }

    [Fact]
    public void A_port_freed_while_the_Service_opens_it_is_taken_without_a_warning()
    {
        // As when one Service gives up a NodePort in the same sync that another takes it.
        var apiServer = CreateTestProbe();
        var holder = HoldPort(30902);
        var actor = StartServiceActor(apiServer.Ref);
        actor.Tell(new ServiceChanged(Service("127.0.14.12", nodePort: 30902), [], Nodes));
        holder.Dispose();
        AwaitCondition(() => Bound("127.0.14.1:30902"), Wait);
        apiServer.ExpectNoMsg(TimeSpan.FromSeconds(1));
    }

    [Fact]
    public async Task Dispatch_and_the_listeners_share_one_ClientIP_affinity_memory()
    {
        await using var a = NamedBackend.Start("pod-a", new IPEndPoint(IPAddress.Parse("127.0.15.2"), 7000));
        await using var b = NamedBackend.Start("pod-b", new IPEndPoint(IPAddress.Parse("127.0.15.3"), 7000));
        var actor = StartServiceActor(CreateTestProbe().Ref);
        actor.Tell(new ServiceChanged(Service("127.0.14.13", clientIP: true), Slices(a, b), Nodes));
        AwaitCondition(() => Bound("127.0.14.13:9000"), Wait);
        var clusterIP = new IPEndPoint(IPAddress.Parse("127.0.14.13"), 9000);

        // A connection decides and dispatch follows, or dispatch decides and connections follow: for twelve clients,
        // each a coin toss were the memories separate (a false pass 1 in 4096).
        for (var c = 1; c <= 12; c++)
        {
            var client = IPAddress.Parse($"127.0.16.{c}");
            string? decided = null;
            if (c % 2 == 1) decided = await NamedBackend.Read(clusterIP, from: client);
            for (var i = 0; i < 3; i++)
            {
                actor.Tell(new Dispatch("127.0.14.13:9000", client.ToString()));
                var pod = ExpectMsg<Dispatched>(Wait).PodName;
                Assert.Equal(decided ??= pod, pod);
            }
            for (var i = 0; i < 3; i++) Assert.Equal(decided, await NamedBackend.Read(clusterIP, from: client));
        }
    }

    [Fact]
    public async Task The_API_service_proxy_is_handed_to_the_chosen_pods_PodActor()
    {
        await using var pod = NamedBackend.Start("pod-a", new IPEndPoint(IPAddress.Parse("127.0.15.4"), 7000));
        // The node agent's place in the tree, with the pod's actor (named by its uid) standing in as a probe.
        var podActor = CreateTestProbe();
        Sys.ActorOf(Props.Create(() => new ForwardingParent("pod-a", podActor.Ref)), "node-agent");
        // The stand-in creates its child when it starts, which is not at once: until then a request to the pod's
        // path would go to dead letters (a loaded machine showed it).
        AwaitAssert(() => Assert.NotNull(Sys.ActorSelection("/user/node-agent/pod-a").Ask<ActorIdentity>(new Identify(1), Wait).Result.Subject), Wait);
        var actor = StartServiceActor(CreateTestProbe().Ref);
        actor.Tell(new ServiceChanged(Service("127.0.14.14"), Slices(pod), Nodes));
        AwaitCondition(() => Bound("127.0.14.14:9000"), Wait);

        var requester = CreateTestProbe();
        actor.Tell(new ServiceProxyRequest("default", "web", "9000", "GET", "/hostname?x=1", null, []), requester.Ref);
        var request = podActor.ExpectMsg<PodProxyRequest>(Wait);
        Assert.Equal((7000, "GET", "/hostname?x=1"), (request.Port, request.Method, request.PathAndQuery));
        Assert.Equal(requester.Ref, podActor.LastSender); // the pod answers the API directly

        // A port the Service does not have, and a Service without endpoints: refused in the API's words.
        actor.Tell(new ServiceProxyRequest("default", "web", "http", "GET", "/", null, []), requester.Ref);
        Assert.Equal("no endpoints available for service \"web\"", requester.ExpectMsg<DispatchRefused>(Wait).Message);
        actor.Tell(new ServiceChanged(Service("127.0.14.14"), [], Nodes));
        actor.Tell(new ServiceProxyRequest("default", "web", "", "GET", "/", null, []), requester.Ref);
        Assert.Equal("no endpoints available for service \"web\"", requester.ExpectMsg<DispatchRefused>(Wait).Message);
    }

    /// <summary>Stands where the NodeAgent stands, with one child forwarding everything to a probe.</summary>
    private sealed class ForwardingParent : ReceiveActor
    {
        public ForwardingParent(string childName, IActorRef probe)
        {
            Context.ActorOf(Props.Create(() => new Forwarder(probe)), childName);
        }
    }

    private sealed class Forwarder : ReceiveActor
    {
        public Forwarder(IActorRef probe) => ReceiveAny(m => probe.Forward(m));
    }
}

/// <summary>A pod stand-in: answers every connection with its name, then closes.</summary>
internal sealed class NamedBackend : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    private NamedBackend(string name, Socket socket)
    {
        Name = name;
        _socket = socket;
        var bytes = Encoding.ASCII.GetBytes(name);
        _loop = AcceptLoop.RunAsync(socket, async peer =>
        {
            using (peer)
            {
                await peer.SendAsync(bytes, SocketFlags.None);
                peer.Shutdown(SocketShutdown.Send);
            }
        }, _stop.Token);
    }

    public string Name { get; }

    public IPEndPoint EndPoint => (IPEndPoint)_socket.LocalEndPoint!;

    public static NamedBackend Start(string name, IPEndPoint at)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(at);
        socket.Listen(128);
        return new NamedBackend(name, socket);
    }

    /// <summary>Connects (from <paramref name="from"/> when given) and reads everything the other end sends.</summary>
    public static async Task<string> Read(IPEndPoint to, IPAddress? from = null)
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        if (from is not null) socket.Bind(new IPEndPoint(from, 0));
        await socket.ConnectAsync(to, cts.Token);
        var received = new MemoryStream();
        var buffer = new byte[256];
        int n;
        while ((n = await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token)) > 0) received.Write(buffer, 0, n);
        return Encoding.ASCII.GetString(received.ToArray());
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        _socket.Dispose();
        await _loop;
    }
}
