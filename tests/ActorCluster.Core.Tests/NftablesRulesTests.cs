using System.Net;
using ActorCluster.Core.Endpoints;
using ActorCluster.Core.Routing;
using k8s.Models;

namespace ActorCluster.Core.Tests;

/// <summary>The nftables rules a node writes from its routing tables (the kernel applies them in the Proxy and Cluster tests).</summary>
public class NftablesRulesTests
{
    private static readonly KernelNode Node1 = KernelNode.For("k8s-worker1", IPAddress.Parse("127.0.1.1"));

    private static V1Service Service(string etp = "Cluster", string affinity = "None") => new()
    {
        Metadata = new V1ObjectMeta { Name = "svc-2", NamespaceProperty = "default", Uid = "u" },
        Spec = new V1ServiceSpec
        {
            Type = "NodePort", ClusterIP = "127.96.0.10", ExternalTrafficPolicy = etp, InternalTrafficPolicy = "Cluster", SessionAffinity = affinity,
            Selector = new Dictionary<string, string> { ["app"] = "pod" },
            Ports = [new V1ServicePort { Port = 9000, TargetPort = 8080, Protocol = "TCP", NodePort = 30000 }],
        },
    };

    private static ServiceRules Rules(V1Service svc, params V1Pod[] pods) =>
        NftablesRules.Render(Node1, RoutingTable.Build(svc, EndpointsComputer.ComputeSlices(svc, pods.Select(PodEndpointView.From)), "k8s-worker1"),
            svc.Spec.ClusterIP, []);

    private static readonly V1Pod Pod1 = EndpointsTests.Pod("pod-1", "k8s-worker1", "127.244.1.2");
    private static readonly V1Pod Pod2 = EndpointsTests.Pod("pod-2", "k8s-worker2", "127.244.2.2");

    [Fact]
    public void Each_address_is_one_map_element_pointing_at_its_ports_chain_which_picks_an_endpoint_at_random()
    {
        var rules = Rules(Service(), Pod1, Pod2);
        Assert.Equal("goto svc-default/svc-2/tcp/9000", rules.Elements[("cluster-ips", "127.96.0.10 . tcp . 9000")]);
        Assert.Equal("goto ext-default/svc-2/tcp/9000", rules.Elements[("nodeports", "tcp . 30000")]);
        Assert.Equal(["127.96.0.10:9000/TCP", "127.0.1.1:30000/TCP"], rules.Addresses.Select(a => $"{a.EndPoint}/{a.Protocol}"));
        Assert.Equal(
            ["meta mark set " + $"0x{Node1.Mark:x8}",
             "numgen random mod 2 vmap { 0 : goto ep-default/svc-2/tcp/9000__127.244.1.2/8080, 1 : goto ep-default/svc-2/tcp/9000__127.244.2.2/8080 }"],
            rules.Chains["ext-default/svc-2/tcp/9000"].ToArray());
        Assert.Equal(["meta l4proto tcp dnat to 127.244.2.2:8080"], rules.Chains["ep-default/svc-2/tcp/9000__127.244.2.2/8080"].ToArray());
    }

    [Fact]
    public void Under_Local_the_external_chain_keeps_the_clients_address_and_only_this_nodes_endpoints()
    {
        var rules = Rules(Service(etp: "Local"), Pod1, Pod2);
        Assert.Equal(["numgen random mod 1 vmap { 0 : goto ep-default/svc-2/tcp/9000__127.244.1.2/8080 }"], rules.Chains["ext-default/svc-2/tcp/9000"].ToArray());
        // ClusterIP traffic still follows internalTrafficPolicy (Cluster): both pods, masqueraded.
        Assert.StartsWith("meta mark set", rules.Chains["svc-default/svc-2/tcp/9000"][0]);

        var elsewhere = Rules(Service(etp: "Local"), Pod2);
        Assert.Null(elsewhere.Elements[("no-endpoint-nodeports", "tcp . 30000")]);
        Assert.False(elsewhere.Elements.ContainsKey(("nodeports", "tcp . 30000")));
    }

    [Fact]
    public void ExternalIPs_sit_with_the_ClusterIPs_and_take_the_external_chain()
    {
        // In the cluster-ips map so that nodes sharing a kernel split their clients; the ext chain applies the policy.
        var svc = Service(etp: "Local");
        svc.Spec.ExternalIPs = ["192.0.2.1"];
        var rules = Rules(svc, Pod1, Pod2);
        Assert.Equal("goto ext-default/svc-2/tcp/9000", rules.Elements[("cluster-ips", "192.0.2.1 . tcp . 9000")]);
        Assert.Contains(rules.Addresses, a => a.EndPoint.ToString() == "192.0.2.1:9000");
        // Under Local without a pod of this node's: refused (for the clients this node answers).
        Assert.Null(Rules(svc, Pod2).Elements[("no-endpoint-cluster-ips", "192.0.2.1 . tcp . 9000")]);
        // A map and its no-endpoint set hold one key space: two Services' keys collide across them too.
        Assert.Equal(NftablesRules.KeySpace("cluster-ips"), NftablesRules.KeySpace("no-endpoint-cluster-ips"));
    }

    [Fact]
    public void LoadBalancerSourceRanges_guard_the_LoadBalancer_IPs_before_any_DNAT()
    {
        var svc = Service();
        svc.Spec.Type = "LoadBalancer";
        svc.Spec.LoadBalancerSourceRanges = ["127.0.9.0/24", "10.1.2.3/16"];
        var rules = NftablesRules.Render(Node1, RoutingTable.Build(svc, EndpointsComputer.ComputeSlices(svc, [PodEndpointView.From(Pod1)]), "k8s-worker1"),
            svc.Spec.ClusterIP, ["127.0.4.1"]);
        Assert.Equal("jump fw-default/svc-2/tcp/9000", rules.Elements[("firewall-ips", "127.0.4.1 . tcp . 9000")]);
        // Host bits are cleared as Kubernetes reads a CIDR; a client in a range returns to the other checks.
        Assert.Equal(["ip saddr { 127.0.9.0/24, 10.1.0.0/16 } return", "goto reject-now"], rules.Chains["fw-default/svc-2/tcp/9000"].ToArray());
        // Only LoadBalancer IPs are guarded: the ClusterIP and the NodePort have no firewall element.
        Assert.Single(rules.Elements.Keys, k => k.Container == "firewall-ips");
    }

    [Fact]
    public void A_LoadBalancer_client_is_admitted_only_from_the_ranges_and_an_unreadable_range_admits_nobody()
    {
        RoutingTable Table(params string[] ranges)
        {
            var svc = Service();
            svc.Spec.LoadBalancerSourceRanges = ranges;
            return RoutingTable.Build(svc, [], "k8s-worker1").Single();
        }
        Assert.True(Table().AdmitsLoadBalancerClient(IPAddress.Parse("203.0.113.9")));
        Assert.True(Table("127.0.9.7/24").AdmitsLoadBalancerClient(IPAddress.Parse("127.0.9.200")));
        Assert.False(Table("127.0.9.7/24").AdmitsLoadBalancerClient(IPAddress.Parse("127.0.8.1")));
        Assert.False(Table("2001:db8::/64").AdmitsLoadBalancerClient(IPAddress.Parse("127.0.8.1")));
    }

    [Fact]
    public void A_UDP_address_counts_as_served_only_while_it_has_endpoints_there()
    {
        // The proxier flushes a UDP address's un-NATed flows when it becomes served (kube-proxy's first-endpoint flush).
        var svc = Service(etp: "Local");
        svc.Spec.Ports[0].Protocol = "UDP";
        Assert.Equal(["127.0.1.1:30000", "127.96.0.10:9000"], Rules(svc, Pod1, Pod2).UdpServed.Order(StringComparer.Ordinal));
        // Under Local node 1 has no endpoint of its own behind its NodePort: refused there, so not served.
        Assert.Equal(["127.96.0.10:9000"], Rules(svc, Pod2).UdpServed);
        Assert.Empty(Rules(svc).UdpServed);
        Assert.Empty(Rules(Service(), Pod1, Pod2).UdpServed); // TCP: a connection to a closed port leaves nothing behind
    }

    [Fact]
    public void Without_endpoints_every_address_is_in_a_no_endpoint_set_and_no_chain_is_written()
    {
        var rules = Rules(Service());
        Assert.Equal(
            [("no-endpoint-cluster-ips", "127.96.0.10 . tcp . 9000"), ("no-endpoint-nodeports", "tcp . 30000")],
            rules.Elements.Keys.Order().ToList());
        Assert.Empty(rules.Chains);
    }

    [Fact]
    public void ClientIP_affinity_is_a_timed_set_per_endpoint_checked_before_the_random_pick()
    {
        var svc = Service(affinity: "ClientIP");
        svc.Spec.SessionAffinityConfig = new V1SessionAffinityConfig { ClientIP = new V1ClientIPConfig { TimeoutSeconds = 60 } };
        var rules = Rules(svc, Pod1);
        Assert.Equal(["aff60-default/svc-2/tcp/9000__127.244.1.2/8080"], rules.AffinitySets);
        Assert.Equal(
            ["update @aff60-default/svc-2/tcp/9000__127.244.1.2/8080 { ip saddr }", "meta l4proto tcp dnat to 127.244.1.2:8080"],
            rules.Chains["ep-default/svc-2/tcp/9000__127.244.1.2/8080"].ToArray());
        Assert.Equal("ip saddr @aff60-default/svc-2/tcp/9000__127.244.1.2/8080 goto ep-default/svc-2/tcp/9000__127.244.1.2/8080",
            rules.Chains["svc-default/svc-2/tcp/9000"][1]);
        var create = NftablesRules.Transaction(Node1, null, rules);
        Assert.Contains("add set ip actorcluster-k8s-worker1 aff60-default/svc-2/tcp/9000__127.244.1.2/8080 { type ipv4_addr ; flags dynamic,timeout ; timeout 60s ; }", create);
    }

    [Fact]
    public void A_partial_sync_touches_only_what_changed_and_removes_elements_before_their_chains()
    {
        var before = Rules(Service(), Pod1, Pod2);
        var after = Rules(Service(), Pod1);
        var lines = NftablesRules.Transaction(Node1, before, after).Split('\n', StringSplitOptions.RemoveEmptyEntries).ToList();
        const string t = "ip actorcluster-k8s-worker1";
        Assert.Equal(
        [
            $"flush chain {t} ep-default/svc-2/tcp/9000__127.244.2.2/8080",
            $"flush chain {t} ext-default/svc-2/tcp/9000",
            $"flush chain {t} svc-default/svc-2/tcp/9000",
            $"add rule {t} ext-default/svc-2/tcp/9000 meta mark set 0x{Node1.Mark:x8}",
            $"add rule {t} ext-default/svc-2/tcp/9000 numgen random mod 1 vmap {{ 0 : goto ep-default/svc-2/tcp/9000__127.244.1.2/8080 }}",
            $"add rule {t} svc-default/svc-2/tcp/9000 meta mark set 0x{Node1.Mark:x8}",
            $"add rule {t} svc-default/svc-2/tcp/9000 numgen random mod 1 vmap {{ 0 : goto ep-default/svc-2/tcp/9000__127.244.1.2/8080 }}",
            $"delete chain {t} ep-default/svc-2/tcp/9000__127.244.2.2/8080",
        ], lines);

        // Gone: elements first, then the chains they pointed at.
        var removal = NftablesRules.Transaction(Node1, after, null).Split('\n', StringSplitOptions.RemoveEmptyEntries).ToList();
        Assert.StartsWith("delete element", removal[0]);
        Assert.True(removal.FindLastIndex(l => l.StartsWith("delete element", StringComparison.Ordinal)) < removal.FindIndex(l => l.StartsWith("flush chain", StringComparison.Ordinal)));
        Assert.Equal("", NftablesRules.Transaction(Node1, after, after));
    }

    [Fact]
    public void Nodes_split_ClusterIP_clients_by_their_place_among_the_Ready_nodes()
    {
        Assert.Equal(new ClusterIPShare(1, 3), ClusterIPShare.Of("k8s-worker2", ["k8s-worker3", "k8s-worker1", "k8s-worker2"]));
        Assert.Equal(new ClusterIPShare(0, 0), ClusterIPShare.Of("k8s-worker4", ["k8s-worker1"]));
        Assert.Contains("jhash ip saddr mod 3 seed 0x0 1 meta mark set 0x00004000 ip daddr . meta l4proto . th dport vmap @cluster-ips",
            NftablesRules.SetShare(Node1, new ClusterIPShare(1, 3)));
        Assert.DoesNotContain("jhash", NftablesRules.SetShare(Node1, new ClusterIPShare(0, 0)));
        Assert.NotEqual(Node1.Mark, KernelNode.For("k8s-worker2", IPAddress.Parse("127.0.1.2")).Mark);
    }
}
