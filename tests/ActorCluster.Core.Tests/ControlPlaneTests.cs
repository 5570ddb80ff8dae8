using ActorCluster.Core.Registry;
using ActorCluster.Core.Allocation;
using ActorCluster.Core.ControlPlane;
using ActorCluster.Core.Objects;
using ActorCluster.Core.Store;
using k8s.Models;

namespace ActorCluster.Core.Tests;

/// <summary>The control plane's decisions, driven the way the ApiServer actor drives them: decide, persist (here: number), apply.</summary>
public class ControlPlaneTests
{
    private DateTime _now = new(2026, 11, 26, 12, 0, 0, DateTimeKind.Utc);
    private int _uid;
    private long _rv;

    private ControlPlane.ControlPlane NewControlPlane(params IPAddressPool[] pools)
    {
        var cp = new ControlPlane.ControlPlane(new ControlPlaneConfig(ServiceNetworkConfig.Default, pools), () => _now, () => "uid-" + ++_uid);
        Commit(cp, cp.Bootstrap());
        foreach (var i in new[] { 1, 2, 3 }) Commit(cp, cp.RegisterNode($"k8s-worker{i}", $"127.0.1.{i}"));
        return cp;
    }

    private StoredObject? Commit(ControlPlane.ControlPlane cp, Decision d)
    {
        Assert.True(d.Ok, d.Error?.KubectlMessage());
        foreach (var change in d.Changes)
        {
            change.Object.Object.Metadata.ResourceVersion = (++_rv).ToString(System.Globalization.CultureInfo.InvariantCulture);
            cp.Apply(change, _rv);
        }
        d.Transaction.Commit();
        return d.Reply is null ? null : cp.Store.Get(d.Reply.Ref);
    }

    private static V1Pod Seed(string file) => Yaml.Pod(Yaml.SeedManifest(file));

    private void Run(ControlPlane.ControlPlane cp, string name)
    {
        var pod = cp.Store.Get<V1Pod>(ResourceKind.Pod, "default", name)!;
        var ip = $"127.244.{pod.Spec.NodeName[^1]}.{10 + _uid}";
        Commit(cp, cp.ReportPodStatus("default", name, pod.Metadata.Uid, new V1PodStatus
        {
            Phase = "Running", PodIP = ip, PodIPs = [new V1PodIP { Ip = ip }], HostIP = "127.0.1." + pod.Spec.NodeName[^1],
            Conditions = [new V1PodCondition { Type = "Ready", Status = "True" }, new V1PodCondition { Type = "ContainersReady", Status = "True" }],
        }));
    }

    [Fact]
    public void Nodes_register_with_hostname_label_internal_ip_and_their_own_pod_range()
    {
        var cp = NewControlPlane();
        var node = cp.Store.Get<V1Node>(ResourceKind.Node, "", "k8s-worker2")!;
        Assert.Equal("k8s-worker2", node.Metadata.Labels["kubernetes.io/hostname"]);
        Assert.Equal("127.244.2.0/24", node.Spec.PodCIDR);
        Assert.Equal("127.0.1.2", node.Status.Addresses.Single(a => a.Type == "InternalIP").Address);
        Assert.True(Scheduler.IsReady(node));
        // Re-registering keeps the range.
        Commit(cp, cp.RegisterNode("k8s-worker2", "127.0.1.2"));
        Assert.Equal("127.244.2.0/24", cp.Store.Get<V1Node>(ResourceKind.Node, "", "k8s-worker2")!.Spec.PodCIDR);
        Assert.NotNull(cp.Store.Get<V1Namespace>(ResourceKind.Namespace, "", "kube-system"));
    }

    [Fact]
    public void A_node_reports_its_machine_as_capacity_and_allocatable_leaves_kubelets_eviction_thresholds()
    {
        var cp = NewControlPlane();
        // Registered without machine facts: pods only, as before.
        Assert.Equal(["pods"], cp.Store.Get<V1Node>(ResourceKind.Node, "", "k8s-worker1")!.Status.Capacity.Keys);

        const long GiB = 1024L * 1024 * 1024;
        Commit(cp, cp.RegisterNode("k8s-worker1", "127.0.1.1", capacity: new NodeCapacity(2, 24 * GiB, 100 * GiB)));
        var status = cp.Store.Get<V1Node>(ResourceKind.Node, "", "k8s-worker1")!.Status;
        string Q(IDictionary<string, ResourceQuantity> q, string name) => q[name].ToString();
        Assert.Equal(("2", "24Gi", "100Gi", "110"), (Q(status.Capacity, "cpu"), Q(status.Capacity, "memory"), Q(status.Capacity, "ephemeral-storage"), Q(status.Capacity, "pods")));
        // memory.available<100Mi and nodefs.available<10% are kubelet's default hard eviction thresholds (quantities
        // print in canonical form, as Kubernetes' do).
        Assert.Equal(("2", "24476Mi", "90Gi", "110"), (Q(status.Allocatable, "cpu"), Q(status.Allocatable, "memory"), Q(status.Allocatable, "ephemeral-storage"), Q(status.Allocatable, "pods")));
        Assert.Equal("0", Q(status.Capacity, "hugepages-2Mi"));

        // A later registration without machine facts (an older node) keeps what was known.
        Commit(cp, cp.RegisterNode("k8s-worker1", "127.0.1.1"));
        Assert.Equal("2", Q(cp.Store.Get<V1Node>(ResourceKind.Node, "", "k8s-worker1")!.Status.Capacity, "cpu"));
    }

    [Fact]
    public void A_node_heartbeat_renews_its_Lease_in_kube_node_lease_owned_by_its_Node()
    {
        var cp = NewControlPlane();
        Assert.Empty(cp.RenewNodeLease("k8s-worker9").Changes); // not registered: nothing
        Commit(cp, cp.RenewNodeLease("k8s-worker2"));
        var lease = cp.Store.Get<V1Lease>(ResourceKind.Lease, "kube-node-lease", "k8s-worker2")!;
        var node = cp.Store.Get<V1Node>(ResourceKind.Node, "", "k8s-worker2")!;
        Assert.Equal(("k8s-worker2", 40, _now), (lease.Spec.HolderIdentity, lease.Spec.LeaseDurationSeconds, lease.Spec.RenewTime));
        Assert.Equal(("v1", "Node", "k8s-worker2", node.Metadata.Uid), (lease.Metadata.OwnerReferences.Single().ApiVersion, lease.Metadata.OwnerReferences.Single().Kind,
            lease.Metadata.OwnerReferences.Single().Name, lease.Metadata.OwnerReferences.Single().Uid));
        var created = lease.Metadata.CreationTimestamp;

        _now = _now.AddSeconds(10);
        Commit(cp, cp.RenewNodeLease("k8s-worker2"));
        lease = cp.Store.Get<V1Lease>(ResourceKind.Lease, "kube-node-lease", "k8s-worker2")!;
        Assert.Equal((_now, created), (lease.Spec.RenewTime, lease.Metadata.CreationTimestamp));
        Assert.Single(cp.Store.All<V1Lease>(ResourceKind.Lease));

        // Owned by its Node: deleting the Node deletes it.
        Commit(cp, cp.Delete(ResourceKind.Node, null, "k8s-worker2"));
        Assert.Empty(cp.Store.All<V1Lease>(ResourceKind.Lease));
    }

    [Theory]
    [InlineData("leaseDurationSeconds: 0", "spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0")]
    [InlineData("leaseTransitions: -1", "spec.leaseTransitions: Invalid value: -1: must be greater than or equal to 0")]
    [InlineData("preferredHolder: a", "spec.preferredHolder: Forbidden: may only be specified if `strategy` is defined")]
    [InlineData("strategy: Newest", "spec.strategy.strategy: Unsupported value: \"Newest\": supported values: \"OldestEmulationVersion\"")]
    public void A_Lease_is_validated_as_kube_apiserver_does(string spec, string message)
    {
        var cp = NewControlPlane();
        var lease = (V1Lease)KubeObjects.LoadAll($"apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata:\n  name: l\nspec:\n  {spec}\n").Single();
        var decision = cp.Create(ResourceKind.Lease, "default", lease);
        Assert.False(decision.Ok);
        Assert.Equal($"The Lease \"l\" is invalid: {message}", decision.Error!.KubectlMessage());
        // A valid one is stored, and an update is held to the same rules.
        var ok = Commit(cp, cp.Create(ResourceKind.Lease, "default", (V1Lease)KubeObjects.LoadAll("apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata:\n  name: l\nspec:\n  holderIdentity: me\n  leaseDurationSeconds: 15\n").Single()))!;
        Assert.False(cp.Update(ResourceKind.Lease, "default", "l", lease).Ok);
        Assert.Equal("me", ok.As<V1Lease>().Spec.HolderIdentity);
    }

    [Fact]
    public void Scheduler_honours_node_selector_and_explains_an_unschedulable_pod()
    {
        var cp = NewControlPlane();
        var pod1 = Commit(cp, cp.Create(ResourceKind.Pod, "default", Seed("pod-1.yaml")))!.As<V1Pod>();
        Assert.Equal("k8s-worker1", pod1.Spec.NodeName);
        var scheduled = cp.Store.All<Corev1Event>(ResourceKind.Event).Single(e => e.InvolvedObject.Name == "pod-1");
        Assert.Equal(("Normal", "Scheduled", "Successfully assigned default/pod-1 to k8s-worker1", "default-scheduler", pod1.Metadata.Uid),
            (scheduled.Type, scheduled.Reason, scheduled.Message, scheduled.Source.Component, scheduled.InvolvedObject.Uid));
        Assert.Equal("True", pod1.Status.Conditions.Single(c => c.Type == "PodScheduled").Status);

        var lost = Seed("pod-1.yaml");
        lost.Metadata.Name = "lost";
        lost.Spec.NodeSelector["kubernetes.io/hostname"] = "k8s-worker9";
        var pending = Commit(cp, cp.Create(ResourceKind.Pod, "default", lost))!.As<V1Pod>();
        Assert.Null(pending.Spec.NodeName);
        var cond = pending.Status.Conditions.Single(c => c.Type == "PodScheduled");
        Assert.Equal(("False", "Unschedulable"), (cond.Status, cond.Reason));
        Assert.Equal("0/3 nodes are available: 3 node(s) didn't match Pod's node affinity/selector.", cond.Message);
        Assert.Contains(cp.Store.All<Corev1Event>(ResourceKind.Event), e => e.Reason == "FailedScheduling" && e.InvolvedObject.Name == "lost");

        // When a matching node joins, the pending pod is bound.
        Commit(cp, cp.RegisterNode("k8s-worker9", "127.0.1.9"));
        Assert.Equal("k8s-worker9", cp.Store.Get<V1Pod>(ResourceKind.Pod, "default", "lost")!.Spec.NodeName);

        var free = Seed("pod-1.yaml");
        free.Metadata.Name = "free";
        free.Spec.NodeSelector = null;
        Assert.NotEqual("k8s-worker1", Commit(cp, cp.Create(ResourceKind.Pod, "default", free))!.As<V1Pod>().Spec.NodeName); // least loaded
    }

    [Fact]
    public void Endpoints_follow_pod_readiness_deletion_and_node_loss()
    {
        var cp = NewControlPlane();
        Commit(cp, cp.Create(ResourceKind.Service, "default", Yaml.Service(Yaml.SeedManifest("svc-1-clusterip.yaml"))));
        Commit(cp, cp.Create(ResourceKind.Pod, "default", Seed("pod-1.yaml")));
        Commit(cp, cp.Create(ResourceKind.Pod, "default", Seed("pod-2.yaml")));
        V1EndpointSlice Slice() => cp.Store.All<V1EndpointSlice>(ResourceKind.EndpointSlice).Single(s => s.Metadata.Labels["kubernetes.io/service-name"] == "svc-1");
        Assert.Empty(Slice().Endpoints ?? []); // pods have no IP yet

        Run(cp, "pod-1");
        Run(cp, "pod-2");
        Assert.Equal(2, Slice().Endpoints.Count(e => e.Conditions.Ready == true));
        var ep = cp.Store.Get<V1Endpoints>(ResourceKind.Endpoints, "default", "svc-1")!;
        Assert.Equal(2, ep.Subsets.Single().Addresses.Count);

        // Deleting pod-1 marks it terminating first; the node's confirmation removes it.
        var marked = Commit(cp, cp.Delete(ResourceKind.Pod, "default", "pod-1"))!.As<V1Pod>();
        Assert.NotNull(marked.Metadata.DeletionTimestamp);
        Assert.Equal(30, marked.Metadata.DeletionGracePeriodSeconds);
        var leaving = Slice().Endpoints.Single(e => e.TargetRef.Name == "pod-1");
        Assert.True(leaving.Conditions is { Ready: false, Serving: true, Terminating: true });
        Commit(cp, cp.PodTerminated("default", "pod-1", marked.Metadata.Uid));
        Assert.Null(cp.Store.Get<V1Pod>(ResourceKind.Pod, "default", "pod-1"));
        Assert.Equal(["pod-2"], Slice().Endpoints.Select(e => e.TargetRef.Name));

        // k8s-worker2 becomes unreachable: its pod is marked not ready and leaves the ready endpoints.
        Commit(cp, cp.SetNodeReady("k8s-worker2", "Unknown", "NodeStatusUnknown", "Kubelet stopped posting node status."));
        Assert.False(Slice().Endpoints.Single().Conditions.Ready);
        Assert.Null(cp.Store.Get<V1Endpoints>(ResourceKind.Endpoints, "default", "svc-1")!.Subsets.Single().Addresses);

        // Deleting the service removes its endpoints and slices and frees its ClusterIP.
        Commit(cp, cp.Delete(ResourceKind.Service, "default", "svc-1"));
        Assert.Empty(cp.Store.All(ResourceKind.EndpointSlice));
        Assert.Empty(cp.Store.All(ResourceKind.Endpoints));
        Assert.Equal(0, cp.ServiceAllocator.ClusterIPs.Used);
    }

    [Fact]
    public void Load_balancers_stay_pending_without_a_pool_and_take_addresses_first_free_with_one()
    {
        var none = NewControlPlane();
        var pending = Commit(none, none.Create(ResourceKind.Service, "default", Yaml.Service(Yaml.SeedManifest("svc-4-loadbalancer.yaml"))))!.As<V1Service>();
        Assert.Empty(pending.Status.LoadBalancer.Ingress ?? []);
        Assert.Contains(none.Store.All<Corev1Event>(ResourceKind.Event),
            e => e.Reason == "AllocationFailed" && e.Message == "Failed to allocate IP for \"default/svc-4\": no available IPs" + LoadBalancerController.NoPoolHint && e.Type == "Warning");

        var cp = NewControlPlane(new IPAddressPool("local", ["127.0.2.1-127.0.2.1"]));
        var a = Commit(cp, cp.Create(ResourceKind.Service, "default", Yaml.Service(Yaml.SeedManifest("svc-4-loadbalancer.yaml"))))!.As<V1Service>();
        Assert.Equal("127.0.2.1", a.Status.LoadBalancer.Ingress.Single().Ip);
        Assert.Contains(cp.Store.All<Corev1Event>(ResourceKind.Event), e => e.Reason == "IPAllocated" && e.Message == "Assigned IP [\"127.0.2.1\"]");

        var second = Yaml.Service(Yaml.SeedManifest("svc-4-loadbalancer.yaml"));
        second.Metadata.Name = "svc-5";
        Assert.Empty(Commit(cp, cp.Create(ResourceKind.Service, "default", second))!.As<V1Service>().Status.LoadBalancer.Ingress ?? []);
        // A pool that is full is MetalLB's words alone: the hint is for a cluster without any pool.
        Assert.Contains(cp.Store.All<Corev1Event>(ResourceKind.Event), e => e.Reason == "AllocationFailed" && e.Message == "Failed to allocate IP for \"default/svc-5\": no available IPs");
        Commit(cp, cp.Delete(ResourceKind.Service, "default", "svc-4"));
        Assert.Equal("127.0.2.1", cp.Store.Get<V1Service>(ResourceKind.Service, "default", "svc-5")!.Status.LoadBalancer.Ingress.Single().Ip);

        // A pool configured later (a restart with --lb-pool) serves the pending ones at once.
        var later = new ControlPlane.ControlPlane(new ControlPlaneConfig(ServiceNetworkConfig.Default, [new IPAddressPool("new", ["127.0.3.1-127.0.3.2"])]), () => _now, () => "uid-" + ++_uid);
        foreach (var obj in none.Store.All()) later.Apply(new StoreChange(ChangeType.Added, obj), obj.ResourceVersion);
        later.RebuildDerived();
        Commit(later, later.ReconcileLoadBalancers());
        Assert.Equal("127.0.3.1", later.Store.Get<V1Service>(ResourceKind.Service, "default", "svc-4")!.Status.LoadBalancer.Ingress.Single().Ip);

        // Derived state after a "restart" equals the live state.
        AssertRebuildEqualsLive(cp);
    }

    /// <summary>The allocator rebuild property: derived state recomputed from the objects equals the live one (nothing leaked or lost).</summary>
    private static void AssertRebuildEqualsLive(ControlPlane.ControlPlane cp)
    {
        var rebuilt = new ControlPlane.ControlPlane(cp.Config);
        foreach (var obj in cp.Store.All()) rebuilt.Apply(new StoreChange(ChangeType.Added, obj), obj.ResourceVersion);
        Assert.Empty(rebuilt.RebuildDerived());
        Assert.True(rebuilt.ServiceAllocator.SameAs(cp.ServiceAllocator));
        Assert.Equal(cp.LoadBalancerPools.Snapshot(), rebuilt.LoadBalancerPools.Snapshot());
    }

    [Fact]
    public void Writes_into_a_missing_namespace_are_not_found_and_system_namespaces_stay()
    {
        var cp = NewControlPlane();
        Assert.Equal("Error from server (NotFound): namespaces \"nope\" not found",
            cp.Create(ResourceKind.Service, "nope", Yaml.Service(Yaml.SeedManifest("svc-1-clusterip.yaml"))).Error!.KubectlMessage());
        Assert.Equal(403, cp.Delete(ResourceKind.Namespace, null, "default").Error!.Code);
        Commit(cp, cp.Create(ResourceKind.Namespace, null, new V1Namespace { ApiVersion = "v1", Kind = "Namespace", Metadata = new V1ObjectMeta { Name = "team-a" } }));
        Commit(cp, cp.Create(ResourceKind.Service, "team-a", Yaml.Service(Yaml.SeedManifest("svc-2-nodeport.yaml"))));
        Commit(cp, cp.Delete(ResourceKind.Namespace, null, "team-a"));
        Assert.Empty(cp.Store.All(ResourceKind.Service));
        Assert.Equal(0, cp.ServiceAllocator.NodePorts.Used);
        Assert.Equal("Error from server (NotFound): services \"svc-2\" not found", cp.Delete(ResourceKind.Service, "default", "svc-2").Error!.KubectlMessage());
    }

    [Fact]
    public void Deleting_a_namespace_releases_every_address_its_services_held()
    {
        var cp = NewControlPlane(new IPAddressPool("local", ["127.0.2.1-127.0.2.1"]));
        Commit(cp, cp.Create(ResourceKind.Namespace, null, new V1Namespace { ApiVersion = "v1", Kind = "Namespace", Metadata = new V1ObjectMeta { Name = "team-a" } }));
        var local = Yaml.Service(Yaml.SeedManifest("svc-4-loadbalancer.yaml"));
        local.Spec.ExternalTrafficPolicy = "Local"; // also takes a healthCheckNodePort
        var held = Commit(cp, cp.Create(ResourceKind.Service, "team-a", local))!.As<V1Service>();
        Assert.Equal("127.0.2.1", held.Status.LoadBalancer.Ingress.Single().Ip);
        Assert.NotNull(held.Spec.HealthCheckNodePort);
        // The pool is empty now: a LoadBalancer in another namespace waits.
        var waiting = Yaml.Service(Yaml.SeedManifest("svc-4-loadbalancer.yaml"));
        Assert.Empty(Commit(cp, cp.Create(ResourceKind.Service, "default", waiting))!.As<V1Service>().Status.LoadBalancer.Ingress ?? []);

        Commit(cp, cp.Delete(ResourceKind.Namespace, null, "team-a"));

        // The freed LoadBalancer IP went to the one waiting, and every allocation equals what a rebuild from the
        // remaining objects gives (nothing leaked: ClusterIP, node ports, health-check port).
        Assert.Equal("127.0.2.1", cp.Store.Get<V1Service>(ResourceKind.Service, "default", "svc-4")!.Status.LoadBalancer.Ingress.Single().Ip);
        AssertRebuildEqualsLive(cp);
    }

    [Fact]
    public void Events_older_than_the_ttl_are_deleted_and_newer_ones_stay()
    {
        var cp = NewControlPlane();
        var lb = Yaml.Service(Yaml.SeedManifest("svc-4-loadbalancer.yaml"));
        Commit(cp, cp.Create(ResourceKind.Service, "default", lb)); // no pool: an AllocationFailed Event
        _now = _now.AddMinutes(30);
        lb.Metadata.Name = "svc-5";
        Commit(cp, cp.Create(ResourceKind.Service, "default", lb));
        Assert.Equal(2, cp.Store.All(ResourceKind.Event).Count());
        _now = _now.AddMinutes(45);
        Commit(cp, cp.ExpireEvents(_now.AddHours(-1)));
        Assert.Equal("svc-5", cp.Store.All<Corev1Event>(ResourceKind.Event).Single().InvolvedObject.Name);
        Assert.Empty(cp.ExpireEvents(_now.AddHours(-1)).Changes);
    }

    [Fact]
    public void GenerateName_picks_a_free_name_from_the_prefix()
    {
        var cp = NewControlPlane();
        var names = new HashSet<string>();
        for (var i = 0; i < 20; i++)
        {
            var svc = Yaml.Service(Yaml.SeedManifest("svc-1-clusterip.yaml"));
            svc.Metadata.Name = null;
            svc.Metadata.GenerateName = "web-";
            var created = Commit(cp, cp.Create(ResourceKind.Service, "default", svc))!;
            Assert.Matches("^web-[bcdfghjklmnpqrstvwxz2456789]{5}$", created.Object.Metadata.Name);
            Assert.Equal("web-", created.Object.Metadata.GenerateName);
            names.Add(created.Object.Metadata.Name);
        }
        Assert.Equal(20, names.Count);
        Assert.Equal(58 + 5, ObjectMetaRules.GenerateName(new string('a', 80), "x").Length);
    }

    [Fact]
    public void Every_namespace_has_a_default_ServiceAccount_and_a_pod_must_name_one_that_exists()
    {
        var cp = NewControlPlane();
        foreach (var ns in new[] { "default", "kube-system", "kube-public", "kube-node-lease" })
            Assert.NotNull(cp.Store.Get<V1ServiceAccount>(ResourceKind.ServiceAccount, ns, "default"));
        // Created with its namespace, in the same write.
        var created = cp.Create(ResourceKind.Namespace, null, new V1Namespace { ApiVersion = "v1", Kind = "Namespace", Metadata = new V1ObjectMeta { Name = "team" } });
        Assert.Contains(created.Changes, c => c.Object.Kind == ResourceKind.ServiceAccount && c.Object.Object.Metadata.NamespaceProperty == "team");
        Commit(cp, created);

        // A pod gets the default one; one naming a ServiceAccount that is not there is refused as the admission plugin does.
        var pod = Commit(cp, cp.Create(ResourceKind.Pod, "default", Seed("pod-1.yaml")))!.As<V1Pod>();
        Assert.Equal(("default", "default"), (pod.Spec.ServiceAccountName, pod.Spec.ServiceAccount));
        var ghost = Seed("pod-2.yaml");
        ghost.Spec.ServiceAccountName = "ghost";
        var refused = cp.Create(ResourceKind.Pod, "default", ghost);
        Assert.False(refused.Ok);
        Assert.Equal(403, refused.Error!.Code);
        Assert.Equal("pods \"pod-2\" is forbidden: error looking up service account default/ghost: serviceaccount \"ghost\" not found", refused.Error.Message);

        // Deleted, the default one comes back with the controllers' resync.
        Commit(cp, cp.Delete(ResourceKind.ServiceAccount, "team", "default"));
        Assert.Null(cp.Store.Get<V1ServiceAccount>(ResourceKind.ServiceAccount, "team", "default"));
        Commit(cp, cp.Resync());
        Assert.NotNull(cp.Store.Get<V1ServiceAccount>(ResourceKind.ServiceAccount, "team", "default"));
    }
}
