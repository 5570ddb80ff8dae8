using ActorCluster.Core.Allocation;
using ActorCluster.Core.Objects;
using k8s.Models;

namespace ActorCluster.Core.Tests;

public class AllocatorTests
{
    private const string NodePortSvc = "apiVersion: v1\nkind: Service\nmetadata:\n  name: {0}\nspec:\n  type: NodePort\n  ports:\n  - port: 80";

    private static string Named(string template, string name) => template.Replace("{0}", name, StringComparison.Ordinal);

    [Fact]
    public void Port_allocator_errors_are_kubernetes_words()
    {
        var ports = new PortAllocator(PortRange.Parse("30000-30001"), new Random(1));
        Assert.Equal("provided port is not in the valid range. The range of valid ports is 30000-30001", ports.Allocate(29999)!.Message);
        Assert.Null(ports.Allocate(30000));
        Assert.Equal("provided port is already allocated", ports.Allocate(30000)!.Message);
        Assert.Null(ports.AllocateNext(out var next));
        Assert.Equal(30001, next);
        Assert.Equal("range is full", ports.AllocateNext(out _)!.Message);
    }

    [Fact]
    public void IP_allocator_errors_are_kubernetes_words_and_skip_network_and_broadcast()
    {
        var ips = new IPAllocator("10.0.0.0/29", new Random(1));
        Assert.Equal("the provided IP (10.0.0.0) is not in the valid range. The range of valid IPs is 10.0.0.0/29", ips.Allocate("10.0.0.0")!.Message);
        Assert.Equal("the provided IP (10.0.0.7) is not in the valid range. The range of valid IPs is 10.0.0.0/29", ips.Allocate("10.0.0.7")!.Message);
        Assert.Null(ips.Allocate("10.0.0.1"));
        Assert.Equal("provided IP is already allocated", ips.Allocate("10.0.0.1")!.Message);
        var handed = new List<string>();
        while (ips.AllocateNext(out var ip) is null) handed.Add(ip);
        Assert.Equal(["10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5", "10.0.0.6"], handed.Order());
        Assert.Equal("range is full", ips.AllocateNext(out _)!.Message);
        Assert.Equal("10.0.0.1", ips.IndexedIP(1));
        Assert.Throws<ArgumentException>(() => new IPAllocator("10.0.0.0/30"));
    }

    [Fact]
    public void Static_bands_match_kubernetes_offsets()
    {
        Assert.Equal(86, PortRange.DefaultNodePorts.StaticBandSize); // 30000-30085
        Assert.Equal(0, PortRange.Parse("30000-30015").StaticBandSize);
        Assert.Equal(128, PortRange.Parse("1-65535").StaticBandSize);
        // 127.96.0.0/12 has 2^20 addresses: band of 256 (.0.1 - .1.0); a /24 gets 16.
        var ips = new IPAllocator("127.96.0.0/12", new Random(7));
        for (var i = 0; i < 2000; i++)
        {
            Assert.Null(ips.AllocateNext(out var ip));
            var offset = IPAllocator.ToUInt(System.Net.IPAddress.Parse(ip)) - IPAllocator.ToUInt(System.Net.IPAddress.Parse("127.96.0.0"));
            Assert.True(offset > 256, $"dynamic pick {ip} fell into the static band");
        }
    }

    [Fact]
    public void Dynamic_ports_prefer_the_upper_band_and_fall_back_to_the_static_band_when_it_is_full()
    {
        var range = PortRange.Parse("30000-30099"); // size 100: band 16 (30000-30015)
        var ports = new PortAllocator(range, new Random(3));
        var got = new List<int>();
        for (var i = 0; i < 84; i++)
        {
            Assert.Null(ports.AllocateNext(out var p));
            got.Add(p);
        }
        Assert.All(got, p => Assert.InRange(p, 30016, 30099));
        Assert.Null(ports.AllocateNext(out var lower));
        Assert.InRange(lower, 30000, 30015);
    }

    [Fact]
    public void Create_allocates_cluster_ip_node_ports_and_health_check_port()
    {
        var registry = new ServiceRegistry();
        var svc = registry.Ok("apiVersion: v1\nkind: Service\nmetadata:\n  name: lb\nspec:\n  type: LoadBalancer\n  externalTrafficPolicy: Local\n  ports:\n  - port: 80\n  selector:\n    app: x");
        Assert.StartsWith("127.", svc.Spec.ClusterIP, StringComparison.Ordinal);
        Assert.Equal([svc.Spec.ClusterIP], svc.Spec.ClusterIPs);
        Assert.InRange(svc.Spec.Ports[0].NodePort!.Value, 30086, 32767);
        Assert.InRange(svc.Spec.HealthCheckNodePort!.Value, 30086, 32767);
        Assert.NotEqual(svc.Spec.Ports[0].NodePort, svc.Spec.HealthCheckNodePort);
        Assert.Equal(2, registry.Allocator.NodePorts.Used);
        Assert.True(registry.Allocator.ClusterIPs.Has(svc.Spec.ClusterIP));
    }

    [Fact]
    public void Ports_with_the_same_number_share_one_node_port()
    {
        var registry = new ServiceRegistry();
        var svc = registry.Ok("apiVersion: v1\nkind: Service\nmetadata:\n  name: dns\nspec:\n  type: NodePort\n  ports:\n  - name: udp\n    port: 53\n    protocol: UDP\n  - name: tcp\n    port: 53\n    protocol: TCP");
        Assert.Equal(svc.Spec.Ports[0].NodePort, svc.Spec.Ports[1].NodePort);
        Assert.Equal(1, registry.Allocator.NodePorts.Used);
    }

    [Fact]
    public void Requested_values_are_honoured_and_a_second_claim_is_refused_verbatim()
    {
        var registry = new ServiceRegistry();
        var first = registry.Ok("apiVersion: v1\nkind: Service\nmetadata:\n  name: svc-2\nspec:\n  type: NodePort\n  clusterIP: 127.96.0.10\n  ports:\n  - port: 9000\n    nodePort: 30000");
        Assert.Equal("127.96.0.10", first.Spec.ClusterIP);
        Assert.Equal(30000, first.Spec.Ports[0].NodePort);
        Assert.Equal("The Service \"svc-x\" is invalid: spec.ports[0].nodePort: Invalid value: 30000: provided port is already allocated",
            registry.ErrorOf("apiVersion: v1\nkind: Service\nmetadata:\n  name: svc-x\nspec:\n  type: NodePort\n  ports:\n  - port: 9000\n    nodePort: 30000"));
        Assert.Equal("The Service \"svc-y\" is invalid: spec.clusterIPs: Invalid value: []string{\"127.96.0.10\"}: failed to allocate IP 127.96.0.10: provided IP is already allocated",
            registry.ErrorOf("apiVersion: v1\nkind: Service\nmetadata:\n  name: svc-y\nspec:\n  clusterIP: 127.96.0.10\n  ports:\n  - port: 9000"));
        Assert.Equal("Error from server (AlreadyExists): services \"svc-2\" already exists",
            registry.ErrorOf("apiVersion: v1\nkind: Service\nmetadata:\n  name: svc-2\nspec:\n  ports:\n  - port: 9000"));
        // Only the first service holds anything.
        Assert.Equal(1, registry.Allocator.ClusterIPs.Used);
        Assert.Equal(1, registry.Allocator.NodePorts.Used);
    }

    [Fact]
    public void Exhausted_ranges_are_internal_errors_in_kubernetes_words()
    {
        var registry = new ServiceRegistry(new ServiceNetworkConfig("127.96.0.0/29", PortRange.Parse("30000-30001")));
        registry.Ok(Named(NodePortSvc, "a"));
        registry.Ok(Named(NodePortSvc, "b"));
        Assert.Equal("Error from server (InternalError): Internal error occurred: failed to allocate a nodePort: range is full",
            registry.ErrorOf(Named(NodePortSvc, "c")));
        for (var i = 0; i < 4; i++) registry.Ok($"apiVersion: v1\nkind: Service\nmetadata:\n  name: ip{i}\nspec:\n  ports:\n  - port: 80");
        Assert.Equal("Error from server (InternalError): Internal error occurred: failed to allocate a serviceIP: range is full",
            registry.ErrorOf("apiVersion: v1\nkind: Service\nmetadata:\n  name: ip9\nspec:\n  ports:\n  - port: 80"));
        var full = new ServiceRegistry(new ServiceNetworkConfig("127.96.0.0/24", PortRange.Parse("30000-30000")));
        Assert.Equal("Error from server (InternalError): Internal error occurred: failed to allocate a HealthCheck NodePort 0: range is full",
            full.ErrorOf("apiVersion: v1\nkind: Service\nmetadata:\n  name: lb\nspec:\n  type: LoadBalancer\n  externalTrafficPolicy: Local\n  ports:\n  - port: 80"));
        Assert.Equal(0, full.Allocator.NodePorts.Used); // the node port taken first was given back
    }

    [Fact]
    public void Resubmitting_a_manifest_without_allocated_values_keeps_them()
    {
        var registry = new ServiceRegistry();
        var yaml = Named(NodePortSvc, "web");
        var created = registry.Ok(yaml);
        var again = registry.Update(Yaml.Service(yaml));
        Assert.True(again.Ok, again.Error?.KubectlMessage());
        Assert.Equal(created.Spec.ClusterIP, again.Object!.Spec.ClusterIP);
        Assert.Equal(created.Spec.Ports[0].NodePort, again.Object.Spec.Ports[0].NodePort);
        Assert.Equal(created.Metadata.Uid, again.Object.Metadata.Uid);
        Assert.Equal(1, again.Object.Metadata.Generation); // nothing in the spec changed
        Assert.Equal(1, registry.Allocator.NodePorts.Used);
    }

    [Fact]
    public void Cluster_ip_is_immutable_and_a_stale_resource_version_conflicts()
    {
        var registry = new ServiceRegistry();
        var created = registry.Ok("apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  clusterIP: 127.96.0.20\n  ports:\n  - port: 80");
        var changed = KubeObjects.Clone(created);
        changed.Spec.ClusterIP = "127.96.0.21";
        var result = registry.Update(changed);
        Assert.Equal("The Service \"web\" is invalid: spec.clusterIPs[0]: Invalid value: []string{\"127.96.0.21\"}: may not change once set",
            result.Error!.KubectlMessage());

        var stale = KubeObjects.Clone(created);
        stale.Metadata.ResourceVersion = "0";
        Assert.Equal("Error from server (Conflict): Operation cannot be fulfilled on services \"web\": the object has been modified; please apply your changes to the latest version and try again",
            registry.Update(stale).Error!.KubectlMessage());
        Assert.Equal(409, registry.Update(stale).Error!.Code);
        Assert.True(registry.Allocator.ClusterIPs.Has("127.96.0.20"));
        Assert.False(registry.Allocator.ClusterIPs.Has("127.96.0.21"));
    }

    [Fact]
    public void A_failed_update_leaks_nothing_and_frees_nothing()
    {
        var registry = new ServiceRegistry();
        var created = registry.Ok("apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  type: NodePort\n  ports:\n  - name: a\n    port: 80\n    nodePort: 30100\n  - name: b\n    port: 81\n    nodePort: 30101");
        var before = registry.Allocator.NodePorts.AllocatedPorts().ToList();
        // Moves port a to a fresh node port (allocated at once) and names port b invalidly (fails validation).
        var update = KubeObjects.Clone(created);
        update.Spec.Ports[0].NodePort = 30200;
        update.Spec.Ports[1].Name = "B_";
        var result = registry.Update(update);
        Assert.False(result.Ok);
        Assert.Equal(before, registry.Allocator.NodePorts.AllocatedPorts().ToList());

        // The same move without the error commits: 30100 is released, 30200 held.
        update.Spec.Ports[1].Name = "b";
        Assert.True(registry.Update(update).Ok);
        Assert.Equal([30101, 30200], registry.Allocator.NodePorts.AllocatedPorts().Order().ToList());
    }

    [Fact]
    public void Changing_type_releases_and_allocates_on_commit()
    {
        var registry = new ServiceRegistry();
        var created = registry.Ok("apiVersion: v1\nkind: Service\nmetadata:\n  name: web\nspec:\n  type: LoadBalancer\n  externalTrafficPolicy: Local\n  ports:\n  - port: 80");
        Assert.Equal(2, registry.Allocator.NodePorts.Used);

        var toClusterIP = KubeObjects.Clone(created);
        toClusterIP.Spec.Type = "ClusterIP";
        var result = registry.Update(toClusterIP);
        Assert.True(result.Ok, result.Error?.KubectlMessage());
        Assert.Null(result.Object!.Spec.Ports[0].NodePort);
        Assert.Null(result.Object.Spec.HealthCheckNodePort);
        Assert.Null(result.Object.Spec.ExternalTrafficPolicy);
        Assert.Null(result.Object.Spec.AllocateLoadBalancerNodePorts);
        Assert.Equal(0, registry.Allocator.NodePorts.Used);
        Assert.Equal(2, result.Object.Metadata.Generation);

        var toExternalName = KubeObjects.Clone(result.Object);
        toExternalName.Spec.Type = "ExternalName";
        toExternalName.Spec.ExternalName = "example.com";
        var ext = registry.Update(toExternalName);
        Assert.True(ext.Ok, ext.Error?.KubectlMessage());
        Assert.Null(ext.Object!.Spec.ClusterIP);
        Assert.Equal(0, registry.Allocator.ClusterIPs.Used);

        var back = KubeObjects.Clone(ext.Object);
        back.Spec.Type = "NodePort";
        back.Spec.ExternalName = null;
        var np = registry.Update(back);
        Assert.True(np.Ok, np.Error?.KubectlMessage());
        Assert.NotNull(np.Object!.Spec.ClusterIP);
        Assert.Equal("Cluster", np.Object.Spec.ExternalTrafficPolicy);
        Assert.Equal(1, registry.Allocator.ClusterIPs.Used);
        Assert.Equal(1, registry.Allocator.NodePorts.Used);
    }

    [Fact]
    public void Delete_returns_everything_and_rebuild_matches_incremental_state()
    {
        var registry = new ServiceRegistry();
        registry.Ok(Named(NodePortSvc, "a"));
        registry.Ok(Named(NodePortSvc, "b"));
        registry.Ok("apiVersion: v1\nkind: Service\nmetadata:\n  name: c\nspec:\n  type: LoadBalancer\n  externalTrafficPolicy: Local\n  ports:\n  - port: 80");
        registry.Delete("b");
        var rebuilt = ServiceAllocator.Rebuild(registry.Config, registry.Stored.Values);
        Assert.True(rebuilt.SameAs(registry.Allocator));
        Assert.Equal(2, rebuilt.ClusterIPs.Used);
        Assert.Equal(3, rebuilt.NodePorts.Used);
    }

    [Fact]
    public void Rebuild_reports_double_owners_in_the_repair_controllers_words()
    {
        var a = Yaml.Service("apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n  namespace: default\nspec:\n  type: NodePort\n  clusterIP: 127.96.0.5\n  clusterIPs: [127.96.0.5]\n  ports:\n  - port: 80\n    nodePort: 30007");
        var b = KubeObjects.Clone(a);
        b.Metadata.Name = "b";
        var problems = new List<string>();
        ServiceAllocator.Rebuild(ServiceNetworkConfig.Default, [a, b], problems);
        Assert.Equal([
            "the ClusterIP 127.96.0.5 for service default/b was assigned to multiple services; please recreate service",
            "the node port 30007 for service default/b was assigned to multiple services; please recreate",
        ], problems);
    }

    [Fact]
    public void Load_balancer_pools_assign_first_free_and_honour_requests()
    {
        var pools = new LoadBalancerPools([new IPAddressPool("local", ["127.0.2.0/30", "127.0.2.10-127.0.2.11"])]);
        Assert.Equal("127.0.2.0", pools.Assign("default/a", null, out _));
        Assert.Equal("127.0.2.0", pools.Assign("default/a", null, out _)); // same service, same address
        Assert.Equal("127.0.2.10", pools.Assign("default/b", "127.0.2.10", out _));
        Assert.Null(pools.Assign("default/c", "127.0.2.10", out var inUse));
        Assert.Equal("address also in use by default/b", inUse);
        Assert.Null(pools.Assign("default/c", "10.1.1.1", out var notAllowed));
        Assert.Equal("\"10.1.1.1\" is not allowed in config", notAllowed);
        Assert.Equal("127.0.2.1", pools.Assign("default/c", null, out _));
        Assert.Equal("127.0.2.2", pools.Assign("default/d", null, out _));
        Assert.Equal("127.0.2.3", pools.Assign("default/e", null, out _));
        Assert.Equal("127.0.2.11", pools.Assign("default/f", null, out _));
        Assert.Null(pools.Assign("default/g", null, out var full));
        Assert.Equal("no available IPs", full);
        pools.Release("default/c", "127.0.2.1");
        Assert.Equal("127.0.2.1", pools.Assign("default/g", null, out _));

        var none = new LoadBalancerPools([]);
        Assert.False(none.HasPools);
        Assert.Null(none.Assign("default/a", null, out var pending));
        Assert.Equal("no available IPs", pending);

        var rebuilt = LoadBalancerPools.Rebuild([new IPAddressPool("local", ["127.0.2.0/30", "127.0.2.10-127.0.2.11"])],
            pools.Snapshot().Select(kv => (kv.Value, kv.Key)));
        Assert.Equal(pools.Snapshot(), rebuilt.Snapshot());
        Assert.Throws<FormatException>(() => new LoadBalancerPools([new IPAddressPool("bad", ["127.0.2.9-127.0.2.1"])]));
    }
}
