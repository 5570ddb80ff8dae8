// Over 350 lines on purpose: every test here shares one started 3-node cluster shape (node tunnel, PROXY protocol,
// Dispatch, UDP, affinity, traffic policies, failover), each test saying one thing about routing.
using System.Net;
using System.Net.Sockets;
using ActorCluster.Cluster.Proxy;
using ActorCluster.Core.Objects;
using ActorCluster.Core.Routing;
using ActorCluster.Proxy;
using Akka.Actor;
using Akka.TestKit;
using Akka.TestKit.Xunit2;
using k8s.Models;

namespace ActorCluster.Cluster.Tests;

/// <summary>
/// The node tunnel, the ServiceActor's dispatch answer, UDP, affinity, internalTrafficPolicy and LoadBalancer
/// failover under a kill, on a 3-node cluster whose proxies reach other nodes' pods only through the tunnel.
/// </summary>
public sealed class ServiceRoutingTests : IAsyncLifetime
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);
    private TestCluster _cluster = null!;

    public async Task InitializeAsync() =>
        _cluster = await TestCluster.StartAsync(3, extraHocon: """
            actorcluster.proxy.cross-node = tunnel
            actorcluster.proxy.udp-idle-timeout = 1s
            actorcluster.load-balancer-pools = ["127.0.4.1-127.0.4.14"]
            # a node "killed" in a test dies without leaving, as under kill -9
            akka.coordinated-shutdown.run-by-actor-system-terminate = off
            """);

    public async Task DisposeAsync()
    {
        await _cluster.DisposeAsync();
        _cluster.DeleteData();
    }

    private string Node(int i) => _cluster.NodeAddress(i);

    private async Task<(V1Pod, V1Pod)> SeedPods()
    {
        await _cluster.Create<V1Pod>(ResourceKind.Pod, TestCluster.Seed("pod-1.yaml"));
        await _cluster.Create<V1Pod>(ResourceKind.Pod, TestCluster.Seed("pod-2.yaml"));
        return (await _cluster.Running("pod-1"), await _cluster.Running("pod-2"));
    }

    /// <summary>The nftables run: the kernel carries the traffic, through local stand-ins for endpoints behind tunnels.</summary>
    private static bool Kernel => TestCluster.ProxyMode == "nftables";

    /// <summary>Node i's proxy counters (1-based, as the node names).</summary>
    private Task<ProxyCounters> Counters(int i) => TestCluster.Ask<ProxyCounters>(_cluster[i - 1].ServiceProxy, GetProxyCounters.Instance);

    [Fact]
    public async Task A_node_without_a_pod_carries_its_connections_to_the_pods_nodes_through_their_tunnels()
    {
        await SeedPods();
        await _cluster.Create<V1Service>(ResourceKind.Service, TestCluster.Seed("svc-2-nodeport.yaml"));

        // Node 3 has no pod: every connection it receives crosses to node 1 or 2 through their tunnels.
        await TestCluster.Eventually(async () => (await Traffic.Responders(Node(3), 30000, 10)).SetEquals(["pod-1", "pod-2"]), Wait, "node 3 spreading over both pods");
        // Under Cluster the pod sees the receiving node (the tunnel asks for that source address).
        Assert.StartsWith(Node(3) + ":", await Traffic.Get(Node(3), 30000, "/client"), StringComparison.Ordinal);
        Assert.True((await Counters(1)).Tunnel!.Connections > 0);
        Assert.True((await Counters(2)).Tunnel!.Connections > 0);
        // The relay carries them from node 3's NodePort listener; the kernel DNATs them to node 3's local stand-ins
        // for the two remote endpoints, which carry them through the tunnels.
        var carriedBy = Kernel ? "TunnelEntry" : "NodePort";
        Assert.True((await Counters(3)).Listeners.Where(l => l.Kind == carriedBy).Sum(l => l.BytesOut) > 0);
        if (Kernel) Assert.Equal(2, (await Counters(3)).Listeners.Count(l => l.Kind == "TunnelEntry"));
    }

    [Fact]
    public async Task The_node_tunnel_admits_only_members_and_only_to_their_own_pods()
    {
        var (pod1, _) = await SeedPods();

        // Not a member's address: reset before a byte is read. (Bound, since a client on the machine calling a node
        // whose address lo has comes from that address; the challenge, not the address, is what admits a member.)
        Assert.Equal(SocketError.ConnectionReset, await Traffic.Refusal(Node(1), 4054, fromAddress: "127.0.0.9"));
        var tunnel1 = new IPEndPoint(IPAddress.Parse(Node(1)), 4054);
        var node2 = IPAddress.Parse(Node(2));
        using var ca = Security.ClusterCa.LoadOrCreate(_cluster.DataDir);
        using var credentials = new TunnelCredentials(Security.ClusterCa.IssueNodeCertificate(ca, "k8s-worker2", Node(2)));
        // A member, but the target is not one of node 1's pods (its API port): refused, not an open proxy.
        Assert.Null(await NodeTunnel.DialAsync(tunnel1, new IPEndPoint(IPAddress.Parse(Node(1)), 6443), node2, credentials, TimeSpan.FromSeconds(2), default));
        // A member, to node 1's pod: carried.
        using (var ok = await NodeTunnel.DialAsync(tunnel1, new IPEndPoint(IPAddress.Parse(pod1.Status.PodIP), 8080), node2, credentials, TimeSpan.FromSeconds(2), default))
            Assert.NotNull(ok);
        Assert.True((await Counters(1)).Tunnel!.Rejected >= 2);
    }

    [Fact]
    public async Task A_Service_annotated_for_PROXY_protocol_tells_the_pod_the_original_client_across_the_tunnel()
    {
        await SeedPods();
        await _cluster.Create<V1Service>(ResourceKind.Service, TestCluster.Seed("svc-2-nodeport.yaml")
            .Replace("name: svc-2", "name: svc-2\n  annotations:\n    actorcluster.io/proxy-protocol: v2", StringComparison.Ordinal));
        // Node 3 has no pod: under Cluster and through the tunnel the pod still learns who called.
        await TestCluster.Eventually(async () => (await Traffic.Responders(Node(3), 30000, 10)).Count == 2, Wait, "the NodePort answering");
        for (var i = 0; i < 6; i++)
            Assert.StartsWith("127.0.0.9:", await Traffic.Get(Node(3), 30000, "/client", fromAddress: "127.0.0.9"), StringComparison.Ordinal);
        // The header is consumed by the workload, so the request itself is unchanged.
        Assert.Contains(await Traffic.Get(Node(3), 30000, "/hostname"), new[] { "pod-1", "pod-2" });
    }

    [Fact]
    public async Task Dispatch_routes_by_selector_without_sockets_and_names_the_PodActor()
    {
        await SeedPods();
        var svc1 = await _cluster.Create<V1Service>(ResourceKind.Service, TestCluster.Seed("svc-1-clusterip.yaml"));
        await _cluster.Create<V1Service>(ResourceKind.Service, TestCluster.Seed("svc-2-nodeport-local.yaml"));
        var node = _cluster[0];
        var probe = new TestProbe(node.System, new XunitAssertions());
        object Ask(Dispatch d)
        {
            node.ServiceProxy.Tell(d, probe.Ref);
            return probe.ReceiveOne(TimeSpan.FromSeconds(5))!;
        }

        // The ClusterIP routes over both pods, each answer naming the pod's actor on the pod's node.
        var seen = new Dictionary<string, Dispatched>();
        await TestCluster.Eventually(() =>
        {
            for (var i = 0; i < 20; i++)
            {
                if (Ask(new Dispatch($"{svc1.Spec.ClusterIP}:9000", $"127.0.0.{10 + i}")) is Dispatched d) seen[d.PodName!] = d;
            }
            return seen.Count == 2;
        }, Wait, "dispatch over both pods");
        foreach (var (name, d) in seen)
        {
            Assert.Equal("default/svc-1", d.Service);
            Assert.Equal(name == "pod-1" ? "k8s-worker1" : "k8s-worker2", d.NodeName);
            Assert.EndsWith(":8080", d.Endpoint, StringComparison.Ordinal);
            d.PodActor!.Tell(new Identify(name), probe.Ref);
            var identity = probe.ExpectMsg<ActorIdentity>(TimeSpan.FromSeconds(5));
            Assert.Equal(d.PodActor.Path.ToString(), identity.Subject?.Path.ToString()); // a live PodActor answered
        }

        // externalTrafficPolicy Local: received on node 1 it is pod-1, every time; on node 3 there is none.
        await TestCluster.Eventually(() => Ask(new Dispatch($"{Node(1)}:30002", "127.0.0.9", "k8s-worker1")) is Dispatched, Wait, "the Local service");
        for (var i = 0; i < 10; i++)
            Assert.Equal("pod-1", Assert.IsType<Dispatched>(Ask(new Dispatch($"{Node(1)}:30002", $"127.0.0.{30 + i}", "k8s-worker1"))).PodName);
        var refused = Assert.IsType<DispatchRefused>(Ask(new Dispatch($"{Node(3)}:30002", "127.0.0.9", "k8s-worker3")));
        Assert.Equal("NoLocalEndpoints", refused.Reason);
        Assert.Equal("default/svc-2 has no local endpoints", refused.Message);
        Assert.Equal("UnknownAddress", Assert.IsType<DispatchRefused>(Ask(new Dispatch("127.96.0.1:1", "127.0.0.9"))).Reason);
    }

    [Fact]
    public async Task The_API_service_proxy_is_answered_by_the_chosen_pods_PodActor_on_the_pods_node()
    {
        var (pod1, pod2) = await SeedPods();
        await _cluster.Create<V1Service>(ResourceKind.Service, TestCluster.Seed("svc-1-clusterip.yaml"));
        // Through node 3, which runs neither pod: each answer comes from the PodActor on the pod's own node.
        var node = _cluster[2];
        var probe = new TestProbe(node.System, new XunitAssertions());
        var answeredBy = new Dictionary<string, string>();
        await TestCluster.Eventually(() =>
        {
            node.ServiceProxy.Tell(new ServiceProxyRequest("default", "svc-1", "9000", "GET", "/hostname", null, []), probe.Ref);
            if (probe.ReceiveOne(TimeSpan.FromSeconds(5)) is Node.PodProxyResponse { Status: 200 } response)
            {
                Assert.Equal(response.Pod, "default/" + System.Text.Encoding.ASCII.GetString(response.Body).Trim());
                answeredBy[response.Pod] = probe.LastSender.Path.ToString();
            }
            return Task.FromResult(answeredBy.Count == 2);
        }, Wait, "both pods answering through the service proxy");
        foreach (var (pod, node1or2) in new[] { (pod1, 1), (pod2, 2) })
        {
            var sender = answeredBy[$"default/{pod.Metadata.Name}"];
            Assert.EndsWith($"/user/node-agent/{pod.Metadata.Uid}", sender, StringComparison.Ordinal);
            Assert.Contains($"@{Node(node1or2)}:", sender, StringComparison.Ordinal);
        }

        // Fifty at once through all three nodes: every one answered by one of the two pods.
        var answers = await Task.WhenAll(Enumerable.Range(0, 50).Select(i => _cluster[i % 3].ServiceProxy.Ask<object>(
            new ServiceProxyRequest("default", "svc-1", "9000", "GET", "/hostname", null, []), TimeSpan.FromSeconds(30))));
        Assert.All(answers, a => Assert.Equal(200, Assert.IsType<Node.PodProxyResponse>(a).Status));
        Assert.Equal(["default/pod-1", "default/pod-2"], answers.Cast<Node.PodProxyResponse>().Select(a => a.Pod).Distinct().Order());

        // A port the Service does not have: refused with kube-apiserver's words.
        node.ServiceProxy.Tell(new ServiceProxyRequest("default", "svc-1", "9999", "GET", "/", null, []), probe.Ref);
        Assert.Equal("no endpoints available for service \"svc-1\"", probe.ExpectMsg<DispatchRefused>(TimeSpan.FromSeconds(5)).Message);
    }

    /// <summary>udp-1 on node 1 and udp-2 on node 2, Running.</summary>
    private async Task UdpPodsRunning()
    {
        await _cluster.Create<V1Pod>(ResourceKind.Pod, TestManifests.UdpPod(1));
        await _cluster.Create<V1Pod>(ResourceKind.Pod, TestManifests.UdpPod(2));
        await _cluster.Running("udp-1");
        await _cluster.Running("udp-2");
    }

    /// <summary>Node 3's UDP NodePort listener of <paramref name="nodePort"/>.</summary>
    private async Task<ListenerCounters> UdpNodePort(int nodePort) =>
        (await Counters(3)).Listeners.Single(l => l.Protocol == "UDP" && l.Address == $"{Node(3)}:{nodePort}");

    [Fact]
    public async Task UDP_flows_spread_over_the_pods_through_the_tunnels_while_one_flow_stays_on_its_pod()
    {
        await UdpPodsRunning();
        await _cluster.Create<V1Service>(ResourceKind.Service, TestManifests.UdpService("dns", 30053));

        // Node 3 has no pod: in this cluster its flows travel through the tunnels of nodes 1 and 2.
        async Task<long> Tunneled() => (await Counters(1)).Tunnel!.Connections + (await Counters(2)).Tunnel!.Connections;
        var tunneledBefore = await Tunneled();
        // Each new client flow is routed anew: the flows spread over both pods...
        await UdpScenario.UdpFlowsSpreadOver(Node(3), 30053, ["udp-1", "udp-2"], Wait);
        Assert.True(await Tunneled() >= tunneledBefore + 2, "node 3's UDP flows went through the node tunnels");
        // ...while one flow stays on its pod, and the pod sees the receiving node (Cluster).
        await UdpScenario.UdpFlowStaysOnItsPodAndSees(Node(3), 30053, Node(3));
    }

    [SkippableFact]
    public async Task A_UDP_flow_idle_past_the_timeout_is_forgotten_and_its_next_datagram_opens_a_new_one()
    {
        Skip.If(Kernel, "the relay's own flow table: in the kernel UDP flows are conntrack's, with its timeouts");
        await UdpPodsRunning();
        await _cluster.Create<V1Service>(ResourceKind.Service, TestManifests.UdpService("dns", 30053));
        using var flow = Traffic.UdpClient(Node(3), 30053);
        await TestCluster.Eventually(async () => (await Traffic.Exchange(flow, "hostname")).Reply is not null, Wait, "the UDP NodePort answering on node 3");

        // Idle for longer than udp-idle-timeout (1s here): the flow is forgotten; the next datagram opens a new one.
        var opened = (await UdpNodePort(30053)).Connections;
        await TestCluster.Eventually(async () => (await UdpNodePort(30053)).Active == 0, Wait, "idle flows to be forgotten");
        Assert.Equal(opened, (await UdpNodePort(30053)).Connections);
        Assert.NotNull((await Traffic.Exchange(flow, "hostname")).Reply);
        Assert.Equal(opened + 1, (await UdpNodePort(30053)).Connections);
    }

    [Fact]
    public async Task A_UDP_Service_without_endpoints_is_answered_port_unreachable_at_once()
    {
        await _cluster.Create<V1Service>(ResourceKind.Service, TestManifests.UdpService("dns-none", 30054, selector: "nothing"));
        var service = (await _cluster.TryGet<V1Service>(ResourceKind.Service, "default", "dns-none"))!;
        Assert.Equal(30054, service.Spec.Ports.Single().NodePort);
        // Once node 1 knows the Service, its port stays unbound (no endpoints), so the kernel answers port-unreachable.
        var actor = _cluster[0].ServiceProxy.Path / ServiceActor.NameOf(service);
        await TestCluster.Eventually(async () =>
        {
            try
            {
                await _cluster[0].System.ActorSelection(actor).ResolveOne(TimeSpan.FromSeconds(1));
                return true;
            }
            catch (ActorNotFoundException)
            {
                return false;
            }
        }, Wait, "node 1's Service actor for dns-none");
        using var none = Traffic.UdpClient(Node(1), 30054);
        Assert.Equal(SocketError.ConnectionRefused, (await Traffic.Exchange(none, "hostname")).Error);
    }

    [Fact]
    public async Task A_Local_UDP_port_answers_from_the_nodes_own_pod_with_the_clients_address_and_a_node_without_one_refuses()
    {
        await UdpPodsRunning();
        await _cluster.Create<V1Service>(ResourceKind.Service, TestManifests.UdpService("dns-local", 30055, policy: "Local"));
        await TestCluster.Eventually(async () =>
        {
            using var local = Traffic.UdpClient(Node(1), 30055);
            return (await Traffic.Exchange(local, "hostname")).Reply == "udp-1";
        }, Wait, "the Local UDP port on node 1");
        using (var local = Traffic.UdpClient(Node(1), 30055, from: "127.0.0.9"))
            Assert.StartsWith("127.0.0.9:", (await Traffic.Exchange(local, "client")).Reply, StringComparison.Ordinal);
        using var refused = Traffic.UdpClient(Node(3), 30055);
        Assert.Equal(SocketError.ConnectionRefused, (await Traffic.Exchange(refused, "hostname")).Error);
    }

    [Fact]
    public Task ClientIP_affinity_holds_while_the_client_keeps_coming_and_expires_after_the_timeout() =>
        AffinityScenario.HoldsAndExpires(_cluster, Node(1));

    [Fact]
    public async Task A_client_reaches_a_ClusterIP_through_one_node_so_ClientIP_affinity_holds()
    {
        await SeedPods();
        var svc = await _cluster.Create<V1Service>(ResourceKind.Service,
            TestCluster.Seed("svc-1-clusterip.yaml").Replace("spec:", "spec:\n  sessionAffinity: ClientIP", StringComparison.Ordinal));
        var at = $"{svc.Spec.ClusterIP}:9000";
        async Task<long[]> AcceptedPerNode()
        {
            var counts = new long[3];
            for (var i = 1; i <= 3; i++) counts[i - 1] = (await Counters(i)).Listeners.Where(l => l.Kind == "ClusterIP" && l.Address == at).Sum(l => l.Connections);
            return counts;
        }
        await TestCluster.Eventually(async () =>
            (await _cluster.NodesBinding(at)).Count == 3 && await Traffic.Get(svc.Spec.ClusterIP, 9000, "/hostname", "127.0.8.250") is not null,
            Wait, "the ClusterIP served by every node and answering");

        // Every node listens on the ClusterIP; each client is taken by one of them every time, so the affinity that
        // node remembers holds: ten connections, one node, one pod. Five clients: if nodes were picked per
        // connection, all five would stay on one pod with a chance of about one in a thousand.
        for (var c = 1; c <= 5; c++)
        {
            var before = await AcceptedPerNode();
            var pods = await Traffic.Responders(svc.Spec.ClusterIP, 9000, 10, fromAddress: $"127.0.8.{c}");
            var after = await AcceptedPerNode();
            Assert.Single(pods);
            if (Kernel) continue; // the kernel counts no connections per node (DirectRoutingTests shows one client, one node there)
            Assert.Single(Enumerable.Range(0, 3), i => after[i] != before[i]);
            Assert.Equal(10, after.Sum() - before.Sum());
        }
    }

    [Fact]
    public async Task InternalTrafficPolicy_Local_keeps_ClusterIP_traffic_on_the_receiving_node()
    {
        await _cluster.Create<V1Pod>(ResourceKind.Pod, TestCluster.Seed("pod-1.yaml"));
        await _cluster.Running("pod-1");
        var svc = await _cluster.Create<V1Service>(ResourceKind.Service,
            TestCluster.Seed("svc-1-clusterip.yaml").Replace("spec:", "spec:\n  internalTrafficPolicy: Local", StringComparison.Ordinal));
        var ip = svc.Spec.ClusterIP;
        // A client is always taken by the same node (by its address): node 1's clients are answered once it routes.
        await TestCluster.Eventually(async () =>
        {
            for (var i = 0; i < 30; i++)
            {
                if (await Traffic.Get(ip, 9000, "/hostname", $"127.0.7.{i + 1}") == "pod-1") return true;
            }
            return false;
        }, Wait, "the ClusterIP answering node 1's clients");
        // Nodes 2 and 3 must know pod-1's endpoint too, or they refuse for want of any endpoint, not for locality
        // (the slice reaches each node on its own time).
        await TestCluster.Eventually(async () =>
        {
            for (var i = 1; i <= 2; i++)
            {
                var d = await TestCluster.Ask<object>(_cluster[i].ServiceProxy, new Dispatch($"{ip}:9000", "127.0.7.1"));
                if (d is not DispatchRefused { Reason: nameof(NoRouteReason.NoLocalEndpoints) }) return false;
                if (!(await _cluster.NodesBinding($"{ip}:9000")).Contains(i + 1)) return false;
            }
            return true;
        }, Wait, "nodes 2 and 3 listening and knowing the endpoint is not theirs");

        // Clients (by address) are spread over the three nodes' listeners: node 1 serves its clients from its pod,
        // nodes 2 and 3 have no local endpoint and refuse theirs; never another node's pod.
        var answers = new List<string?>();
        for (var i = 0; i < 30; i++) answers.Add(await Traffic.Get(ip, 9000, "/hostname", $"127.0.7.{i + 1}"));
        Assert.All(answers.OfType<string>(), a => Assert.Equal("pod-1", a));
        Assert.Contains(null, answers);
        if (Kernel) return; // the kernel's refusals are not counted per listener
        var refusedLocal = 0L;
        for (var i = 2; i <= 3; i++)
            refusedLocal += (await Counters(i)).Listeners.Where(l => l.Kind == "ClusterIP").Sum(l => l.RefusedNoLocalEndpoints);
        Assert.True(refusedLocal > 0);
    }

    [Fact]
    public async Task LoadBalancerSourceRanges_admit_only_their_clients_at_the_LoadBalancer_IP_not_at_the_NodePort()
    {
        await SeedPods();
        var created = await _cluster.Create<V1Service>(ResourceKind.Service, TestCluster.Seed("svc-4-loadbalancer.yaml")
            .Replace("spec:", "spec:\n  loadBalancerSourceRanges: [\"127.0.9.0/24\"]", StringComparison.Ordinal));
        string? lb = null;
        await TestCluster.Eventually(async () =>
            (lb = (await _cluster.TryGet<V1Service>(ResourceKind.Service, "default", "svc-4"))?.Status?.LoadBalancer?.Ingress?.FirstOrDefault()?.Ip) is not null,
            Wait, "svc-4's LoadBalancer IP");
        await TestCluster.Eventually(async () => (await Traffic.Responders(lb!, 9000, 10, fromAddress: "127.0.9.5")).Count == 2, Wait, "the LoadBalancer IP answering a client in the range");
        // A client outside the ranges is refused at once (kube-proxy drops; here both data paths reset, never a hang),
        // every time; the Service's NodePort is not restricted.
        // 40 clients at once, half inside the ranges and half outside: every one inside answered, none outside.
        var inside = Enumerable.Range(1, 20).Select(i => Traffic.Get(lb!, 9000, "/hostname", $"127.0.9.{i}")).ToList();
        var outside = Enumerable.Range(1, 20).Select(i => Traffic.Get(lb!, 9000, "/hostname", $"127.0.8.{i}")).ToList();
        await Task.WhenAll(inside.Concat(outside));
        Assert.All(inside, t => Assert.Contains(t.Result, new[] { "pod-1", "pod-2" }));
        Assert.All(outside, t => Assert.Null(t.Result));
        Assert.Equal(TestCluster.NoEndpointRefusal, await Traffic.Refusal(lb!, 9000));
        Assert.Contains(await Traffic.Get(Node(1), created.Spec.Ports[0].NodePort!.Value, "/hostname", "127.0.8.1"), new[] { "pod-1", "pod-2" });
        var refused = Assert.IsType<DispatchRefused>(await TestCluster.Ask<object>(_cluster[0].ServiceProxy, new Dispatch($"{lb}:9000", "127.0.8.1")));
        Assert.Equal(nameof(NoRouteReason.SourceNotAllowed), refused.Reason);
    }

    [Fact]
    public async Task A_LoadBalancer_IP_moves_to_another_node_when_its_node_is_killed()
    {
        await SeedPods();
        await _cluster.Create<V1Service>(ResourceKind.Service, TestCluster.Seed("svc-4-loadbalancer.yaml"));
        const string lb = "127.0.4.1";
        var binding = new List<int>();
        await TestCluster.Eventually(async () => (binding = await _cluster.NodesBinding($"{lb}:9000")).Count == 1, Wait, "one node to bind the LoadBalancer IP");
        await TestCluster.Eventually(async () => (await Traffic.Responders(lb, 9000, 10)).Count == 2, Wait, "the LoadBalancer IP answering");

        // kill: the node's ActorSystem stops without leaving the cluster; its sockets close with it.
        var killed = binding[0];
        await _cluster[killed - 1].System.Terminate();
        var survivors = Enumerable.Range(1, 3).Where(i => i != killed).ToList();
        await TestCluster.Eventually(async () =>
        {
            var now = new List<int>();
            foreach (var i in survivors)
            {
                var bound = await TestCluster.Ask<ProxyListeners>(_cluster[i - 1].ServiceProxy, GetProxyListeners.Instance);
                if (bound.Bound.ContainsKey($"{lb}:9000")) now.Add(i);
            }
            return now.Count == 1;
        }, TimeSpan.FromSeconds(60), "a surviving node to take the address");
        // It answers again, from the pods still running (a pod on the killed node is gone with it).
        var alive = killed == 3 ? new[] { "pod-1", "pod-2" } : [killed == 1 ? "pod-2" : "pod-1"];
        await TestCluster.Eventually(async () => (await Traffic.Responders(lb, 9000, 10)).SetEquals(alive), TimeSpan.FromSeconds(60), "the address answering again");
        _cluster.Nodes.RemoveAt(killed - 1);
    }

    [SkippableFact]
    public async Task A_failed_dial_is_retried_on_another_endpoint_before_the_client_sees_anything()
    {
        // Kubernetes' documentation: only the userspace proxy retries; under iptables/nftables the connection fails.
        Skip.If(TestCluster.ProxyMode == "nftables", "the kernel's DNAT does not retry a failed dial (kube-proxy's nftables mode neither)");
        var (pod1, _) = await SeedPods();
        // A Service without a selector and a hand-written EndpointSlice: pod-1, and an address where nothing listens.
        await _cluster.Create<V1Service>(ResourceKind.Service, """
            apiVersion: v1
            kind: Service
            metadata:
              name: mixed
            spec:
              type: NodePort
              ports:
              - port: 80
                targetPort: 8080
                nodePort: 30020
            """);
        var reply = await TestCluster.Ask<object>(_cluster[0].ApiServer, new ApiServer.CreateObject("endpointslices", "default", $$$"""
            {"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"name":"mixed-1","labels":{"kubernetes.io/service-name":"mixed"}},
             "addressType":"IPv4","ports":[{"name":"","port":8080,"protocol":"TCP"}],
             "endpoints":[{"addresses":["{{{pod1.Status.PodIP}}}"],"conditions":{"ready":true}},{"addresses":["127.0.9.9"],"conditions":{"ready":true}}]}
            """));
        Assert.IsType<ApiServer.ObjectReply>(reply);
        await TestCluster.Eventually(async () => await Traffic.Get(Node(1), 30020, "/hostname") == "pod-1", Wait, "the NodePort answering");

        // Half the picks land on the dead address first; every connection still reaches pod-1.
        var answers = new List<string?>();
        for (var i = 0; i < 20; i++) answers.Add(await Traffic.Get(Node(1), 30020, "/hostname"));
        Assert.All(answers, a => Assert.Equal("pod-1", a));
        var counters = (await Counters(1)).Listeners.Single(l => l.Address == $"{Node(1)}:30020");
        Assert.True(counters.DialRetries > 0, "no dial was retried");
        Assert.Equal(0, counters.Failed);
    }
}
