using ActorCluster.Core.Endpoints;
using ActorCluster.Core.Objects;
using k8s.Models;

namespace ActorCluster.Core.Tests;

public class EndpointsTests
{
    internal static V1Pod Pod(string name, string node, string ip, bool ready = true, bool terminating = false,
        string app = "pod", string? portName = null, int port = 8080, string phase = "Running")
    {
        return new V1Pod
        {
            Metadata = new V1ObjectMeta
            {
                Name = name, NamespaceProperty = "default", Uid = "uid-" + name,
                Labels = new Dictionary<string, string> { ["app"] = app },
                DeletionTimestamp = terminating ? new DateTime(2026, 1, 1, 0, 0, 0, DateTimeKind.Utc) : null,
            },
            Spec = new V1PodSpec
            {
                NodeName = node,
                Containers = [new V1Container { Name = "c", Image = "kubetm/app", Ports = [new V1ContainerPort { Name = portName, ContainerPort = port, Protocol = "TCP" }] }],
            },
            Status = new V1PodStatus
            {
                Phase = phase, PodIP = ip, PodIPs = [new V1PodIP { Ip = ip }],
                Conditions = [new V1PodCondition { Type = "Ready", Status = ready ? "True" : "False" }],
            },
        };
    }

    private static V1Service Svc(string targetPort = "8080", string name = "svc-1") => new()
    {
        Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = "default", Uid = "svc-uid-" + name },
        Spec = new V1ServiceSpec
        {
            Selector = new Dictionary<string, string> { ["app"] = "pod" },
            Ports = [new V1ServicePort { Port = 9000, TargetPort = targetPort, Protocol = "TCP" }],
        },
    };

    private static IEnumerable<PodEndpointView> Views(params V1Pod[] pods) => pods.Select(PodEndpointView.From);

    [Fact]
    public void Seed_pods_become_ready_addresses_with_the_target_port()
    {
        var ep = EndpointsComputer.ComputeEndpoints(Svc(), Views(
            Pod("pod-2", "k8s-worker2", "127.244.2.5"), Pod("pod-1", "k8s-worker1", "127.244.1.5"),
            Pod("other", "k8s-worker1", "127.244.1.6", app: "other")));
        var subset = Assert.Single(ep.Subsets);
        Assert.Equal(["127.244.1.5", "127.244.2.5"], subset.Addresses.Select(a => a.Ip));
        Assert.Equal(["k8s-worker1", "k8s-worker2"], subset.Addresses.Select(a => a.NodeName));
        Assert.Equal("pod-1", subset.Addresses[0].TargetRef.Name);
        Assert.Null(subset.NotReadyAddresses);
        Assert.Equal(8080, Assert.Single(subset.Ports).Port);
        Assert.Equal("svc-1", ep.Metadata.Name);
    }

    [Fact]
    public void Readiness_and_termination_follow_kubernetes_conditions()
    {
        var done = Pod("done", "n2", "127.244.2.9", phase: "Succeeded");
        done.Spec.RestartPolicy = "Never"; // a completed run-once pod never serves again
        var pods = Views(
            Pod("ready", "n1", "127.244.1.1"),
            Pod("unready", "n1", "127.244.1.2", ready: false),
            Pod("leaving", "n2", "127.244.2.1", terminating: true),
            Pod("noip", "n2", "", ready: true),
            done);
        var ep = EndpointsComputer.ComputeEndpoints(Svc(), pods);
        var subset = Assert.Single(ep.Subsets);
        Assert.Equal(["127.244.1.1"], subset.Addresses.Select(a => a.Ip));
        Assert.Equal(["127.244.1.2"], subset.NotReadyAddresses.Select(a => a.Ip)); // terminating pods are left out of Endpoints

        var slice = Assert.Single(EndpointsComputer.ComputeSlices(Svc(), pods));
        var byIp = slice.Endpoints.ToDictionary(e => e.Addresses[0]);
        Assert.Equal(3, byIp.Count);
        Assert.True(byIp["127.244.1.1"].Conditions is { Ready: true, Serving: true, Terminating: false });
        Assert.True(byIp["127.244.1.2"].Conditions is { Ready: false, Serving: false, Terminating: false });
        Assert.True(byIp["127.244.2.1"].Conditions is { Ready: false, Serving: true, Terminating: true });
        Assert.Equal("svc-1", slice.Metadata.Labels[EndpointsComputer.ServiceNameLabel]);
        Assert.Equal("endpointslice-controller.k8s.io", slice.Metadata.Labels[EndpointsComputer.ManagedByLabel]);
        Assert.Equal("IPv4", slice.AddressType);
        Assert.Equal("Service", slice.Metadata.OwnerReferences[0].Kind);
        Assert.StartsWith("svc-1-", slice.Metadata.Name, StringComparison.Ordinal);
    }

    [Fact]
    public void Named_target_ports_resolve_per_pod_and_split_slices_by_port_set()
    {
        var pods = Views(
            Pod("a", "n1", "127.244.1.1", portName: "http", port: 8080),
            Pod("b", "n1", "127.244.1.2", portName: "http", port: 9090),
            Pod("c", "n2", "127.244.2.1", portName: "metrics", port: 7000));
        var slices = EndpointsComputer.ComputeSlices(Svc("http"), pods);
        // As the endpointslice controller does, a pod whose ports do not resolve lands in a slice without ports.
        Assert.Equal(3, slices.Count);
        Assert.Equal([8080, 9090], slices.Where(s => s.Ports.Count > 0).Select(s => s.Ports.Single().Port!.Value).Order());
        Assert.Equal("127.244.2.1", slices.Single(s => s.Ports.Count == 0).Endpoints.Single().Addresses[0]);
        var ep = EndpointsComputer.ComputeEndpoints(Svc("http"), pods);
        Assert.Equal(2, ep.Subsets.Count); // pod c has no port named http: it is not an endpoint
    }

    [Fact]
    public void Slices_hold_at_most_100_endpoints_and_keep_their_names_when_recomputed()
    {
        var pods = Enumerable.Range(0, 250).Select(i => Pod($"p{i}", "n1", $"127.244.{i / 200 + 1}.{i % 200 + 1}")).ToArray();
        var slices = EndpointsComputer.ComputeSlices(Svc(), Views(pods));
        Assert.Equal([100, 100, 50], slices.Select(s => s.Endpoints.Count));
        Assert.Equal(3, slices.Select(s => s.Metadata.Name).Distinct().Count());
        var again = EndpointsComputer.ComputeSlices(Svc(), Views(pods));
        Assert.Equal(slices.Select(s => s.Metadata.Name), again.Select(s => s.Metadata.Name));
        Assert.True(KubeObjects.SemanticEquals(slices, again));
    }

    [Fact]
    public void Endpoints_are_capped_at_1000_addresses_with_the_over_capacity_annotation()
    {
        var pods = Enumerable.Range(0, 1005).Select(i => Pod($"p{i}", "n1", $"127.244.{i / 250 + 1}.{i % 250 + 1}")).ToArray();
        var ep = EndpointsComputer.ComputeEndpoints(Svc(), Views(pods));
        Assert.Equal(1000, ep.Subsets.Sum(s => s.Addresses.Count));
        Assert.Equal("truncated", ep.Metadata.Annotations[EndpointsComputer.OverCapacityAnnotation]);
    }

    [Fact]
    public void A_service_without_pods_keeps_one_empty_slice_and_no_subsets()
    {
        var slice = Assert.Single(EndpointsComputer.ComputeSlices(Svc(), []));
        Assert.Empty(slice.Endpoints);
        Assert.Null(EndpointsComputer.ComputeEndpoints(Svc(), []).Subsets);
        var noSelector = Svc();
        noSelector.Spec.Selector = null;
        Assert.False(EndpointsComputer.Manages(noSelector));
    }

    [Fact]
    public void The_index_finds_exactly_the_services_a_pod_change_touches()
    {
        var web = Svc(name: "web");
        var tiered = Svc(name: "tiered");
        tiered.Spec.Selector = new Dictionary<string, string> { ["app"] = "pod", ["tier"] = "front" };
        var other = Svc(name: "other");
        other.Spec.Selector = new Dictionary<string, string> { ["app"] = "other" };
        var index = ServiceSelectorIndex.Empty.Put(web).Put(tiered).Put(other);
        Assert.Equal(3, index.Count);

        var before = PodEndpointView.From(Pod("p", "n1", "127.244.1.1"));
        var afterPod = Pod("p", "n1", "127.244.1.1");
        afterPod.Metadata.Labels["tier"] = "front";
        var after = PodEndpointView.From(afterPod);
        Assert.Equal([new ObjectKey("default", "tiered"), new ObjectKey("default", "web")], index.AffectedBy(before, after).OrderBy(k => k.Name));
        Assert.Equal([new ObjectKey("default", "web")], index.AffectedBy(before, null));

        var moved = PodEndpointView.From(Pod("p", "n1", "127.244.1.1", app: "other"));
        Assert.Equal(["other", "web"], index.AffectedBy(before, moved).Select(k => k.Name).Order());

        var removed = index.Remove(new ObjectKey("default", "web"));
        Assert.Empty(removed.AffectedBy(before, null));
        Assert.Single(index.AffectedBy(before, null)); // the old index is unchanged
    }
}
