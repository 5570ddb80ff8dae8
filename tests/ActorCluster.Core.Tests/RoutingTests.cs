using System.Collections.Immutable;
using ActorCluster.Core.Endpoints;
using ActorCluster.Core.Routing;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using k8s.Models;

namespace ActorCluster.Core.Tests;

public class RoutingTests
{
    private static readonly DateTime Now = new(2026, 11, 26, 12, 0, 0, DateTimeKind.Utc);

    private static V1Service Service(string etp = "Cluster", string itp = "Cluster", string affinity = "None", int timeout = 10800) => new()
    {
        Metadata = new V1ObjectMeta { Name = "svc-2", NamespaceProperty = "default", Uid = "u" },
        Spec = new V1ServiceSpec
        {
            Type = "NodePort", ExternalTrafficPolicy = etp, InternalTrafficPolicy = itp, SessionAffinity = affinity,
            SessionAffinityConfig = affinity == "ClientIP" ? new V1SessionAffinityConfig { ClientIP = new V1ClientIPConfig { TimeoutSeconds = timeout } } : null,
            Selector = new Dictionary<string, string> { ["app"] = "pod" },
            Ports = [new V1ServicePort { Port = 9000, TargetPort = 8080, Protocol = "TCP", NodePort = 30000 }],
        },
    };

    private static RoutingTable Table(V1Service svc, string node, params V1Pod[] pods) =>
        RoutingTable.Build(svc, EndpointsComputer.ComputeSlices(svc, pods.Select(PodEndpointView.From)), node).Single();

    private static readonly V1Pod Pod1 = EndpointsTests.Pod("pod-1", "k8s-worker1", "127.244.1.2");
    private static readonly V1Pod Pod2 = EndpointsTests.Pod("pod-2", "k8s-worker2", "127.244.2.2");

    [Fact]
    public void Cluster_policy_spreads_evenly_over_all_ready_endpoints()
    {
        var pods = Enumerable.Range(1, 3).Select(i => EndpointsTests.Pod($"p{i}", $"k8s-worker{i}", $"127.244.{i}.2")).ToArray();
        var table = Table(Service(), "k8s-worker1", pods);
        var random = new Random(42);
        var counts = new Dictionary<string, int>();
        for (var i = 0; i < 30000; i++)
        {
            var d = Router.Route(table, TrafficSource.External, null, Now, random.NextDouble());
            counts[d.Endpoint!.PodName!] = counts.GetValueOrDefault(d.Endpoint.PodName!) + 1;
        }
        Assert.Equal(3, counts.Count);
        Assert.All(counts.Values, c => Assert.InRange(c, 9500, 10500));
    }

    [Theory]
    [InlineData("Local", "Cluster", "External", "127.0.0.9", "127.0.0.9")]   // Local: the client's own address
    [InlineData("Local", "Cluster", "External", "10.200.0.1", "127.0.1.1")]  // a remote client cannot be dialed from
    [InlineData("Cluster", "Cluster", "External", "127.0.0.9", "127.0.1.1")] // Cluster: the receiving node (SNAT)
    [InlineData("Local", "Cluster", "Internal", "127.0.0.9", "127.0.1.1")]   // ClusterIP follows internalTrafficPolicy
    [InlineData("Cluster", "Local", "Internal", "127.0.0.9", "127.0.0.9")]
    public void The_pod_sees_the_client_under_Local_and_the_node_under_Cluster(string etp, string itp, string source, string client, string expected)
    {
        var table = Table(Service(etp: etp, itp: itp), "k8s-worker1", Pod1);
        var seen = Router.SourceAddress(table, Enum.Parse<TrafficSource>(source), System.Net.IPAddress.Parse(client), System.Net.IPAddress.Parse("127.0.1.1"));
        Assert.Equal(expected, seen.ToString());
    }

    [Fact]
    public void Local_policy_uses_only_the_receiving_nodes_pods_and_refuses_where_there_is_none()
    {
        var svc = Service(etp: "Local");
        var onWorker1 = Table(svc, "k8s-worker1", Pod1, Pod2);
        for (var i = 0; i < 100; i++)
            Assert.Equal("pod-1", Router.Route(onWorker1, TrafficSource.External, null, Now, i / 100.0).Endpoint!.PodName);

        var onWorker3 = Table(svc, "k8s-worker3", Pod1, Pod2);
        var refused = Router.Route(onWorker3, TrafficSource.External, null, Now, 0.5);
        Assert.Equal(NoRouteReason.NoLocalEndpoints, refused.Reason);
        Assert.Equal("default/svc-2 has no local endpoints", refused.Describe(onWorker3));

        // ClusterIP traffic follows internalTrafficPolicy (Cluster here), not externalTrafficPolicy.
        Assert.True(Router.Route(onWorker3, TrafficSource.Internal, null, Now, 0.5).Routed);
        var internalLocal = Table(Service(itp: "Local"), "k8s-worker3", Pod1, Pod2);
        Assert.Equal(NoRouteReason.NoLocalEndpoints, Router.Route(internalLocal, TrafficSource.Internal, null, Now, 0.5).Reason);
        Assert.Equal(0, onWorker3.LocalEndpointCount);
        Assert.Equal(1, onWorker1.LocalEndpointCount);
    }

    [Fact]
    public void No_endpoints_at_all_is_its_own_reason()
    {
        var table = Table(Service(), "k8s-worker1");
        var d = Router.Route(table, TrafficSource.External, null, Now, 0.1);
        Assert.Equal(NoRouteReason.NoEndpoints, d.Reason);
        Assert.Equal("default/svc-2 has no endpoints", d.Describe(table));
        Assert.Equal(NoRouteReason.NoEndpoints, Router.Route(Table(Service(etp: "Local"), "k8s-worker1"), TrafficSource.External, null, Now, 0.1).Reason);
    }

    [Fact]
    public void Terminating_endpoints_serve_only_when_no_ready_one_exists()
    {
        var leaving = EndpointsTests.Pod("leaving", "k8s-worker1", "127.244.1.9", terminating: true);
        var both = Table(Service(), "k8s-worker1", leaving, Pod2);
        for (var i = 0; i < 50; i++)
            Assert.Equal("pod-2", Router.Route(both, TrafficSource.External, null, Now, i / 50.0).Endpoint!.PodName);
        var onlyLeaving = Table(Service(), "k8s-worker1", leaving);
        Assert.Equal("leaving", Router.Route(onlyLeaving, TrafficSource.External, null, Now, 0.3).Endpoint!.PodName);
        var unready = Table(Service(), "k8s-worker1", EndpointsTests.Pod("u", "k8s-worker1", "127.244.1.8", ready: false));
        Assert.Equal(NoRouteReason.NoEndpoints, Router.Route(unready, TrafficSource.External, null, Now, 0.3).Reason);
    }

    [Fact]
    public void Client_ip_affinity_holds_until_idle_for_the_timeout()
    {
        var table = Table(Service(affinity: "ClientIP", timeout: 60), "k8s-worker1", Pod1, Pod2);
        var first = Router.Route(table, TrafficSource.External, null, Now, 0.0);
        var entry = first.Affinity!;
        for (var i = 1; i <= 10; i++)
        {
            var again = Router.Route(table, TrafficSource.External, entry, Now.AddSeconds(i * 30), 0.99);
            Assert.Equal(first.Endpoint, again.Endpoint);
            entry = again.Affinity!;
        }
        var expired = Router.Route(table, TrafficSource.External, entry, entry.LastUsed.AddSeconds(60), 0.99);
        Assert.NotEqual(first.Endpoint, expired.Endpoint);
        // The remembered endpoint is gone: pick again.
        var gone = Router.Route(Table(Service(affinity: "ClientIP"), "k8s-worker1", Pod2), TrafficSource.External,
            new AffinityEntry("127.244.1.2:8080", Now), Now, 0.0);
        Assert.Equal("pod-2", gone.Endpoint!.PodName);
    }

    [Fact]
    public void A_failed_dial_moves_to_another_endpoint_until_all_are_tried()
    {
        var table = Table(Service(), "k8s-worker1", Pod1, Pod2);
        var tried = new HashSet<string>();
        for (var i = 0; i < 2; i++)
        {
            var d = Router.Route(table, TrafficSource.External, null, Now, 0.0, tried);
            Assert.True(tried.Add(d.Endpoint!.Address));
        }
        Assert.Equal(NoRouteReason.AllEndpointsTried, Router.Route(table, TrafficSource.External, null, Now, 0.0, tried).Reason);
    }

    /// <summary>One endpoint of a generated slice: its node (n0 is the receiving node) and its conditions.</summary>
    public sealed record EndpointDraft(int Node, bool Ready, bool Terminating);

    private static readonly Gen<EndpointDraft> Endpoints =
        from node in Gen.Choose(0, 2)
        from ready in Gen.Elements(false, true)
        from terminating in Gen.Frequency((2, Gen.Constant(false)), (1, Gen.Constant(true)))
        select new EndpointDraft(node, ready, terminating);

    /// <summary>A table from generated endpoints: every node, readiness and termination combination.</summary>
    private static RoutingTable TableOf(List<EndpointDraft> drafts, bool externalLocal, bool internalLocal)
    {
        var endpoints = drafts.Select((d, i) => new V1Endpoint
        {
            Addresses = [$"127.244.{i}.1"], NodeName = "n" + d.Node,
            Conditions = new V1EndpointConditions { Ready = d.Ready && !d.Terminating, Serving = d.Ready, Terminating = d.Terminating },
        }).ToList();
        var svc = Service(externalLocal ? "Local" : "Cluster", internalLocal ? "Local" : "Cluster");
        var slice = new V1EndpointSlice { Endpoints = endpoints, Ports = [new Discoveryv1EndpointPort { Name = "", Port = 8080, Protocol = "TCP" }] };
        return RoutingTable.Build(svc, [slice], "n0").Single();
    }

    [Property(MaxTest = 1000)]
    public Property Local_never_picks_a_remote_endpoint_and_ready_beats_not_ready(bool external, bool externalLocal, bool internalLocal) =>
        Prop.ForAll(Generators.ShrinkingList(Endpoints, 8), Gen.Choose(0, 999).ToArbitrary(), (drafts, permille) =>
        {
            var table = TableOf(drafts, externalLocal, internalLocal);
            var all = table.Endpoints;
            var source = external ? TrafficSource.External : TrafficSource.Internal;
            var local = external ? externalLocal : internalLocal;
            var d = Router.Route(table, source, null, Now, permille / 1000.0);
            var eligible = local ? all.Where(e => e.NodeName == "n0").ToList() : all.ToList();
            var anyReady = eligible.Any(e => e.Ready && !e.Terminating);
            var anyServingTerminating = eligible.Any(e => e.Serving && e.Terminating);
            if (!d.Routed) return !anyReady && !anyServingTerminating;
            var e = d.Endpoint!;
            if (local && e.NodeName != "n0") return false;
            if (anyReady && !(e.Ready && !e.Terminating)) return false;
            return e.Ready || e.Serving;
        });
}

public class LoadBalancerElectionTests
{
    [Fact]
    public void Every_node_elects_the_same_announcer_and_only_the_lost_nodes_services_move()
    {
        string[] nodes = ["k8s-worker1", "k8s-worker2", "k8s-worker3"];
        var services = Enumerable.Range(0, 300).Select(i => $"default/svc-{i}").ToList();
        var before = services.ToDictionary(s => s, s => Routing.LoadBalancerElection.Elect(s, nodes));
        // Same inputs in another order: same answer (no coordination needed).
        Assert.All(services, s => Assert.Equal(before[s], Routing.LoadBalancerElection.Elect(s, nodes.Reverse())));
        // Spread over the nodes.
        Assert.All(nodes, n => Assert.InRange(before.Values.Count(v => v == n), 60, 140));
        // k8s-worker2 leaves: its services move, the others stay.
        var after = services.ToDictionary(s => s, s => Routing.LoadBalancerElection.Elect(s, ["k8s-worker1", "k8s-worker3"]));
        Assert.All(services.Where(s => before[s] != "k8s-worker2"), s => Assert.Equal(before[s], after[s]));
        Assert.All(services.Where(s => before[s] == "k8s-worker2"), s => Assert.NotEqual("k8s-worker2", after[s]));
        Assert.Null(Routing.LoadBalancerElection.Elect("default/x", []));
    }
}
