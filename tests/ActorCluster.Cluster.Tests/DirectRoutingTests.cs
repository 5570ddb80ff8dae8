using System.Diagnostics;
using ActorCluster.Cluster.Proxy;
using ActorCluster.Core.Objects;
using k8s.Models;

namespace ActorCluster.Cluster.Tests;

/// <summary>
/// Routing on one machine, where every node dials pods directly: UDP flows, ClientIP affinity, one client meeting one
/// node for a ClusterIP (internalTrafficPolicy), run by both data paths (the relay here; the kernel in the nftables
/// run, which ActorCluster.Proxy.Tests' NftablesModeTests starts inside a network namespace of its own), and the
/// kernel path's own tables, which only that run checks.
/// </summary>
public sealed class DirectRoutingTests : IAsyncLifetime
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);
    private TestCluster? _cluster;

    /// <summary>The cluster, started by each test that runs (a skipped one starts none).</summary>
    private TestCluster Cluster => _cluster ?? throw new InvalidOperationException("call Start first");

    public Task InitializeAsync() => Task.CompletedTask;

    private async Task Start() => _cluster = await TestCluster.StartAsync(3);

    public async Task DisposeAsync()
    {
        if (_cluster is null) return;
        await _cluster.DisposeAsync();
        _cluster.DeleteData();
    }

    private static void InNftablesRun() =>
        Skip.If(TestCluster.ProxyMode != "nftables", "checks the kernel's tables: runs in the nftables run of the data-plane tests (NftablesModeTests), inside a network namespace");


    private string Node(int i) => Cluster.NodeAddress(i);

    [SkippableFact]
    public async Task Each_node_writes_its_own_table_and_no_connection_passes_through_the_process()
    {
        InNftablesRun();
        await Start();
        await AffinityScenario.SeedPodsRunning(Cluster);
        await Cluster.Create<V1Service>(ResourceKind.Service, TestCluster.Seed("svc-2-nodeport.yaml"));
        for (var i = 1; i <= 3; i++)
        {
            var node = i;
            await TestCluster.Eventually(async () => (await Traffic.Responders(Node(node), 30000, 20)).SetEquals(["pod-1", "pod-2"]), Wait, $"NodePort on node {node}");
        }
        var tables = Nft("list", "tables", "ip");
        for (var i = 1; i <= 3; i++)
        {
            Assert.Contains($"table ip actorcluster-k8s-worker{i}", tables, StringComparison.Ordinal);
            var counters = await TestCluster.Ask<ProxyCounters>(Cluster[i - 1].ServiceProxy, GetProxyCounters.Instance);
            Assert.Equal("nftables", counters.Mode);
            Assert.Empty(counters.Listeners); // the kernel carried every connection: no relay listener exists
            Assert.True(counters.KernelTransactions > 0);
        }
    }

    [Fact]
    public async Task UDP_flows_spread_over_the_pods_while_one_flow_stays_on_its_pod_and_sees_the_node()
    {
        await Start();
        await Cluster.Create<V1Pod>(ResourceKind.Pod, TestManifests.UdpPod(1));
        await Cluster.Create<V1Pod>(ResourceKind.Pod, TestManifests.UdpPod(2));
        await Cluster.Running("udp-1");
        await Cluster.Running("udp-2");
        await Cluster.Create<V1Service>(ResourceKind.Service, TestManifests.UdpService("dns", 30053));
        await UdpScenario.UdpFlowsSpreadOver(Node(3), 30053, ["udp-1", "udp-2"], Wait);
        // One flow (one conntrack entry, or one relay flow) stays on its pod, and under Cluster the pod sees node 3.
        await UdpScenario.UdpFlowStaysOnItsPodAndSees(Node(3), 30053, Node(3));

        // The pod of an open flow goes: the relay closes the flow, the kernel path flushes its conntrack entries (as
        // kube-proxy does), so the flow's next datagram is routed afresh, to the other pod, not to a closed address.
        using var flow = Traffic.UdpClient(Node(3), 30053);
        var pod = (await Traffic.Exchange(flow, "hostname")).Reply!;
        Assert.IsType<ApiServer.ObjectReply>(await TestCluster.Ask<object>(Cluster[0].ApiServer, new ApiServer.DeleteObject("pods", "default", pod, 0)));
        var other = pod == "udp-1" ? "udp-2" : "udp-1";
        await TestCluster.Eventually(async () => (await Traffic.Exchange(flow, "hostname")).Reply == other, Wait, "the open flow reaching the other pod");
    }

    [Fact]
    public async Task A_UDP_client_that_sent_before_the_Service_existed_is_answered_on_the_same_flow_once_it_has_an_endpoint()
    {
        // A resolver retrying on one socket: its first datagram meets a closed port (ICMP port unreachable), and in the
        // kernel that flow is remembered un-NATed; unless it is flushed when the port gets an endpoint (kube-proxy does),
        // every retry follows it past the new rules to the closed port for as long as the client keeps sending.
        await Start();
        using var flow = Traffic.UdpClient(Node(1), 30056);
        Assert.Equal(System.Net.Sockets.SocketError.ConnectionRefused, (await Traffic.Exchange(flow, "hostname")).Error);
        await Cluster.Create<V1Pod>(ResourceKind.Pod, TestManifests.UdpPod(1));
        await Cluster.Running("udp-1");
        await Cluster.Create<V1Service>(ResourceKind.Service, TestManifests.UdpService("dns-late", 30056));
        await TestCluster.Eventually(async () => (await Traffic.Exchange(flow, "hostname")).Reply == "udp-1", Wait, "the same flow answered by udp-1");
    }

    [Fact]
    public async Task ClientIP_affinity_is_held_per_client_and_expires_after_the_timeout()
    {
        await Start();
        await AffinityScenario.HoldsAndExpires(Cluster, Node(1));
    }

    [Fact]
    public async Task A_ClusterIP_client_meets_one_node_and_internalTrafficPolicy_Local_keeps_it_on_that_nodes_pod()
    {
        await Start();
        await AffinityScenario.SeedPodsRunning(Cluster);
        var svc = await Cluster.Create<V1Service>(ResourceKind.Service,
            TestCluster.Seed("svc-1-clusterip.yaml").Replace("spec:", "spec:\n  internalTrafficPolicy: Local", StringComparison.Ordinal));
        await EachClientMeetsOneNodeUnderLocal(svc.Spec.ClusterIP);
    }

    /// <summary>
    /// With pod-1 on node 1, pod-2 on node 2 and a Local policy for traffic to <paramref name="ip"/>:9000: waits until every
    /// node serves the address and knows which endpoint is its own (each node's replica on its own time; node 3 has
    /// none), then checks that each client (by address) always meets the same node: the same pod every time, or always
    /// refused where its node has no pod of its own. Over 30 clients all three outcomes appear.
    /// </summary>
    private async Task EachClientMeetsOneNodeUnderLocal(string ip)
    {
        await TestCluster.Eventually(async () => (await Cluster.NodesBinding($"{ip}:9000")).Count == 3, Wait, $"every node serving {ip}:9000");
        await TestCluster.Eventually(async () =>
        {
            var decisions = new List<object>();
            for (var i = 0; i < 3; i++) decisions.Add(await TestCluster.Ask<object>(Cluster[i].ServiceProxy, new Dispatch($"{ip}:9000", "127.0.7.1")));
            return decisions[0] is Dispatched { PodName: "pod-1" } && decisions[1] is Dispatched { PodName: "pod-2" }
                   && decisions[2] is DispatchRefused { Reason: nameof(Core.Routing.NoRouteReason.NoLocalEndpoints) };
        }, Wait, "each node knowing which endpoint is its own");
        var outcomes = new HashSet<string>();
        for (var c = 1; c <= 30; c++)
        {
            var answers = new List<string?>();
            for (var i = 0; i < 5; i++) answers.Add(await Traffic.Get(ip, 9000, "/hostname", $"127.0.7.{c}"));
            Assert.Single(answers.Distinct());
            outcomes.Add(answers[0] ?? "refused");
        }
        Assert.Equal(["pod-1", "pod-2", "refused"], outcomes.Order());
    }

    [SkippableFact]
    public async Task ExternalIPs_are_served_by_every_node_as_external_traffic_one_client_one_node()
    {
        // Kubernetes refuses loopback externalIPs, so the test gives its namespace's loopback two documentation
        // addresses (TEST-NET-1): only where that loopback is its own, never on the host.
        Skip.IfNot(TestCluster.InPrivateNetworkNamespace, "adds 192.0.2.1-2 to the loopback: runs in ActorCluster.Proxy.Tests' namespace child runs (both data paths)");
        foreach (var ip in new[] { "192.0.2.1", "192.0.2.2" })
            Ip("addr", "add", $"{ip}/32", "dev", "lo");
        await Start();
        await AffinityScenario.SeedPodsRunning(Cluster);
        // Cluster policy: any client reaches both pods.
        await Cluster.Create<V1Service>(ResourceKind.Service, TestCluster.Seed("svc-1-clusterip.yaml")
            .Replace("name: svc-1", "name: svc-ext", StringComparison.Ordinal)
            .Replace("spec:", "spec:\n  externalIPs: [\"192.0.2.2\"]", StringComparison.Ordinal));
        await TestCluster.Eventually(async () => (await Traffic.Responders("192.0.2.2", 9000, 20)).SetEquals(["pod-1", "pod-2"]), Wait, "the externalIP answering from both pods");

        // Local policy: each node sends a client to its own pod or refuses it (node 3 has none); as with a ClusterIP,
        // one client meets one node, every time.
        await Cluster.Create<V1Service>(ResourceKind.Service, TestCluster.Seed("svc-2-nodeport-local.yaml")
            .Replace("spec:", "spec:\n  externalIPs: [\"192.0.2.1\"]", StringComparison.Ordinal));
        await EachClientMeetsOneNodeUnderLocal("192.0.2.1");

        // Kubernetes lets a second Service list the same externalIP and port. The first keeps it, and every node goes on
        // serving the rest (in the kernel, a second element with the same key would make the whole sync fail).
        await Cluster.Create<V1Service>(ResourceKind.Service, TestCluster.Seed("svc-1-clusterip.yaml")
            .Replace("name: svc-1", "name: svc-dup", StringComparison.Ordinal)
            .Replace("spec:", "spec:\n  externalIPs: [\"192.0.2.2\"]", StringComparison.Ordinal));
        await Cluster.Create<V1Service>(ResourceKind.Service, TestCluster.Seed("svc-2-nodeport.yaml")
            .Replace("name: svc-2", "name: svc-after", StringComparison.Ordinal)
            .Replace("nodePort: 30000", "nodePort: 30010", StringComparison.Ordinal));
        for (var i = 1; i <= 3; i++)
        {
            var node = i;
            await TestCluster.Eventually(async () => (await Traffic.Responders(Node(node), 30010, 20)).SetEquals(["pod-1", "pod-2"]), Wait, $"a later Service answering on node {node}");
        }
        Assert.Equal(["pod-1", "pod-2"], (await Traffic.Responders("192.0.2.2", 9000, 20)).Order());

        // An externalIP this host does not have (another host's, or one a router sends here) is still taken by every
        // node, not reported as a port that cannot be bound.
        await Cluster.Create<V1Service>(ResourceKind.Service, TestCluster.Seed("svc-1-clusterip.yaml")
            .Replace("name: svc-1", "name: svc-elsewhere", StringComparison.Ordinal)
            .Replace("spec:", "spec:\n  externalIPs: [\"192.0.2.9\"]", StringComparison.Ordinal));
        await TestCluster.Eventually(async () => (await Cluster.NodesBinding("192.0.2.9:9000")).Count == 3, Wait, "every node serving an externalIP that is not local");
    }

    [Fact]
    public async Task A_Service_annotated_for_PROXY_protocol_tells_the_pod_the_original_client_in_either_mode()
    {
        // The kernel cannot write the header: such a port stays on the relay in nftables mode too (without that the
        // pod would see node 3's address and no header).
        await Start();
        await AffinityScenario.SeedPodsRunning(Cluster);
        await Cluster.Create<V1Service>(ResourceKind.Service, TestCluster.Seed("svc-2-nodeport.yaml")
            .Replace("name: svc-2", "name: svc-2\n  annotations:\n    actorcluster.io/proxy-protocol: v2", StringComparison.Ordinal));
        await TestCluster.Eventually(async () => (await Traffic.Responders(Node(3), 30000, 10)).Count == 2, Wait, "the NodePort answering on node 3");
        for (var i = 0; i < 6; i++)
            Assert.StartsWith("127.0.0.9:", await Traffic.Get(Node(3), 30000, "/client", fromAddress: "127.0.0.9"), StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task A_node_that_stops_removes_its_table_and_a_survivor_removes_one_whose_process_is_gone()
    {
        InNftablesRun();
        await Start();
        // Each node's 127.0.1.x is an address of lo (so clients on the machine call it from it, as on a real node).
        foreach (var i in new[] { 1, 2, 3 }) Assert.Contains($"inet {Node(i)}/32 scope host lo:actorcluster", LoopbackAddresses(), StringComparison.Ordinal);
        // A table a killed process left (its pid is gone) with the address it gave lo, and a live process's (this
        // one), neither ours; an address someone else gave lo, with the dead one's address, is not ActorCluster's.
        using (var done = Process.Start(new ProcessStartInfo("true"))!)
        {
            done.WaitForExit();
            NftScript($"add table ip actorcluster-ghost {{ comment \"actorcluster node ghost address 127.0.1.77 pid {done.Id} start 1\" ; }}\n");
        }
        Ip("addr", "add", "127.0.1.77/32", "dev", "lo", "label", "lo:actorcluster");
        Ip("addr", "add", "127.0.1.78/32", "dev", "lo", "label", "lo:actorcluster");
        Ip("addr", "add", "127.0.1.79/32", "dev", "lo");
        var start = File.ReadAllText($"/proc/{Environment.ProcessId}/stat").Split(')')[1].Split(' ', StringSplitOptions.RemoveEmptyEntries)[19];
        NftScript($"add table ip actorcluster-alive {{ comment \"actorcluster node alive address 127.0.1.78 pid {Environment.ProcessId} start {start}\" ; }}\n");
        NftScript($"add table ip actorcluster-ghost2 {{ comment \"actorcluster node ghost2 address 127.0.1.79 pid 1 start 1\" ; }}\n");
        try
        {
            // Node 3 leaves: its own table and address go with it, and the survivors, seeing the node set change,
            // clear orphans and the addresses they gave lo (only those: 127.0.1.79 was not given by ActorCluster).
            await Cluster[2].DisposeAsync();
            Cluster.Nodes.RemoveAt(2);
            Assert.DoesNotContain("actorcluster-k8s-worker3", Nft("list", "tables", "ip"), StringComparison.Ordinal);
            Assert.DoesNotContain($"inet {Node(3)}/32", LoopbackAddresses(), StringComparison.Ordinal);
            await TestCluster.Eventually(() => Task.FromResult(!Nft("list", "tables", "ip").Contains("actorcluster-ghost", StringComparison.Ordinal)),
                Wait, "a survivor removing the dead processes' tables");
            var addresses = LoopbackAddresses();
            Assert.DoesNotContain("inet 127.0.1.77/32", addresses, StringComparison.Ordinal);
            Assert.Contains("inet 127.0.1.78/32", addresses, StringComparison.Ordinal);
            Assert.Contains("inet 127.0.1.79/32", addresses, StringComparison.Ordinal);
            Assert.Contains($"inet {Node(1)}/32", addresses, StringComparison.Ordinal);
            Assert.Contains("actorcluster-alive", Nft("list", "tables", "ip"), StringComparison.Ordinal);
            Assert.Contains("actorcluster-k8s-worker1", Nft("list", "tables", "ip"), StringComparison.Ordinal);
        }
        finally
        {
            NftScript("add table ip actorcluster-alive\ndelete table ip actorcluster-alive\n");
            foreach (var a in new[] { "127.0.1.78/32", "127.0.1.79/32" }) Ip("addr", "del", a, "dev", "lo");
        }
    }

    private static string LoopbackAddresses() => Ip("-4", "-o", "addr", "show", "dev", "lo");

    private static string Ip(params string[] args)
    {
        using var p = Process.Start(new ProcessStartInfo("ip", args) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        var output = p.StandardOutput.ReadToEndAsync();
        Assert.True(p.WaitForExit(10_000), "ip did not finish");
        Assert.True(p.ExitCode == 0, $"ip {string.Join(' ', args)}: {p.StandardError.ReadToEnd()}");
        return output.Result;
    }

    private static string Nft(params string[] args)
    {
        using var p = Process.Start(new ProcessStartInfo("nft", args) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        var output = p.StandardOutput.ReadToEndAsync();
        Assert.True(p.WaitForExit(10_000), "nft did not finish");
        Assert.True(p.ExitCode == 0, p.StandardError.ReadToEnd());
        return output.Result;
    }

    private static void NftScript(string script)
    {
        using var p = Process.Start(new ProcessStartInfo("nft", ["-f", "-"]) { RedirectStandardInput = true, RedirectStandardError = true })!;
        p.StandardInput.Write(script);
        p.StandardInput.Close();
        Assert.True(p.WaitForExit(10_000), "nft did not finish");
        Assert.True(p.ExitCode == 0, p.StandardError.ReadToEnd());
    }
}
