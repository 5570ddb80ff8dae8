// Over 350 lines on purpose: it follows registry/core/service/storage/alloc.go function by function (ClusterIPs,
// NodePorts, healthCheckNodePort on create, update and delete), so it can be compared with the original.
using ActorCluster.Core.Api;
using ActorCluster.Core.Objects;
using ActorCluster.Core.Validation;
using k8s.Models;
using static ActorCluster.Core.Objects.ServiceTypes;

namespace ActorCluster.Core.Allocation;

/// <summary>Where Service addresses come from: the service CIDR and the NodePort range.</summary>
public sealed record ServiceNetworkConfig(string ServiceCidr, PortRange NodePortRange)
{
    /// <summary>The local cluster's default: a loopback /12, so every ClusterIP is bindable on one machine.</summary>
    public static readonly ServiceNetworkConfig Default = new("127.96.0.0/12", PortRange.DefaultNodePorts);
}

/// <summary>
/// ClusterIPs, NodePorts and healthCheckNodePorts for Services (k8s registry/core/service/storage/alloc.go):
/// what is allocated on create, changed on update and released on delete, always inside an
/// <see cref="AllocationTransaction"/>. The allocators are derived state: <see cref="Rebuild"/> recomputes
/// them from the stored Services, so after a restart they cannot drift from the objects.
/// </summary>
public sealed class ServiceAllocator
{
    public ServiceAllocator(ServiceNetworkConfig config, Random? random = null)
    {
        Config = config;
        ClusterIPs = new IPAllocator(config.ServiceCidr, random);
        NodePorts = new PortAllocator(config.NodePortRange, random);
    }

    public ServiceNetworkConfig Config { get; }

    public IPAllocator ClusterIPs { get; }

    public PortAllocator NodePorts { get; }

    /// <summary>
    /// Recomputes the allocators from stored Services (the repair controller's pass, run once).
    /// Conflicts are reported in the repair controller's words and the first owner keeps the value.
    /// </summary>
    public static ServiceAllocator Rebuild(ServiceNetworkConfig config, IEnumerable<V1Service> services, List<string>? problems = null, Random? random = null)
    {
        var rebuilt = new ServiceAllocator(config, random);
        foreach (var svc in services)
        {
            var id = $"{svc.Metadata?.NamespaceProperty}/{svc.Metadata?.Name}";
            if (NeedsClusterIP(svc))
            {
                foreach (var ip in svc.Spec?.ClusterIPs ?? [])
                {
                    var err = rebuilt.ClusterIPs.Allocate(ip);
                    if (err?.Kind == AllocationErrorKind.Allocated)
                        problems?.Add($"the ClusterIP {ip} for service {id} was assigned to multiple services; please recreate service");
                    else if (err?.Kind == AllocationErrorKind.NotInRange)
                        problems?.Add($"the ClusterIP {ip} for service {id} is not within the service CIDR {rebuilt.ClusterIPs.Cidr}; please recreate");
                }
            }
            foreach (var port in ServiceNodePortsOf(svc).Distinct())
            {
                var err = rebuilt.NodePorts.Allocate(port);
                if (err?.Kind == AllocationErrorKind.Allocated)
                    problems?.Add($"the node port {port} for service {id} was assigned to multiple services; please recreate");
                else if (err?.Kind == AllocationErrorKind.NotInRange)
                    problems?.Add($"the port {port} for service {id} is not within the port range {config.NodePortRange}; please recreate");
            }
        }
        return rebuilt;
    }

    public bool SameAs(ServiceAllocator other) => ClusterIPs.SameAs(other.ClusterIPs) && NodePorts.SameAs(other.NodePorts);

    /// <summary>
    /// The node ports a stored Service holds: its ports' nodePorts when its type uses them (NodePort,
    /// LoadBalancer) and its healthCheckNodePort when it needs one. Kubernetes accepts a nodePort on an
    /// ExternalName Service without allocating it; counting only what allocation takes keeps the rebuild
    /// equal to the incremental state, and a delete from giving back a port someone else holds.
    /// </summary>
    public static IEnumerable<int> ServiceNodePortsOf(V1Service svc)
    {
        if (svc.Spec?.Type is NodePort or LoadBalancer)
        {
            foreach (var p in svc.Spec.Ports ?? [])
            {
                if (p.NodePort is { } np && np != 0) yield return np;
            }
        }
        if (NeedsHealthCheck(svc) && svc.Spec!.HealthCheckNodePort is { } hc && hc != 0) yield return hc;
    }

    /// <summary>allocateCreate: IP families, ClusterIPs, NodePorts, healthCheckNodePort. Mutates <paramref name="svc"/>.</summary>
    public ApiError? AllocateCreate(V1Service svc, AllocationTransaction txn)
    {
        NormalizeClusterIPs(svc, null);
        var error = InitIPFamilyFields(svc);
        if (error is not null) return error;
        if (NeedsClusterIP(svc))
        {
            error = AllocateClusterIPs(svc, txn);
            if (error is not null) return error;
        }
        if (svc.Spec!.Type is NodePort or LoadBalancer)
        {
            error = InitNodePorts(svc, txn);
            if (error is not null) return error;
        }
        if (NeedsHealthCheck(svc))
            return AllocateHealthCheckNodePort(svc, txn);
        return null;
    }

    /// <summary>
    /// allocateUpdate, preceded by what the registry does first: keep values the client left out
    /// (patchAllocatedValues), sync clusterIP/clusterIPs, and drop fields the new type no longer uses.
    /// </summary>
    public ApiError? AllocateUpdate(V1Service svc, V1Service old, AllocationTransaction txn)
    {
        PatchAllocatedValues(svc, old);
        NormalizeClusterIPs(svc, old);
        DropTypeDependentFields(svc, old);
        var error = InitIPFamilyFields(svc);
        if (error is not null) return error;

        // ClusterIPs: allocated when leaving ExternalName, released when entering it; otherwise immutable.
        if (old.Spec?.Type == ExternalName && svc.Spec!.Type != ExternalName && NeedsClusterIP(svc))
        {
            error = AllocateClusterIPs(svc, txn);
            if (error is not null) return error;
        }
        else if (NeedsClusterIP(old) && !NeedsClusterIP(svc))
        {
            foreach (var ip in old.Spec?.ClusterIPs ?? [])
                txn.ReleaseOnCommit(() => ClusterIPs.Release(ip));
        }

        if (old.Spec?.Type is NodePort or LoadBalancer && svc.Spec!.Type is ExternalName or ClusterIP)
        {
            foreach (var port in ServiceNodePortsOf(old))
                txn.ReleaseOnCommit(() => NodePorts.Release(port));
        }
        if (svc.Spec!.Type is NodePort or LoadBalancer)
        {
            error = UpdateNodePorts(svc, old, txn);
            if (error is not null) return error;
        }

        var neededHealthCheck = NeedsHealthCheck(old);
        var needsHealthCheck = NeedsHealthCheck(svc);
        if (!neededHealthCheck && needsHealthCheck)
            return AllocateHealthCheckNodePort(svc, txn);
        if (neededHealthCheck && !needsHealthCheck && old.Spec!.HealthCheckNodePort is { } oldHc && oldHc != 0)
            txn.ReleaseOnCommit(() => NodePorts.Release(oldHc));
        return null;
    }

    /// <summary>Everything a deleted Service held goes back to the pools when the delete commits.</summary>
    public void ReleaseDelete(V1Service old, AllocationTransaction txn)
    {
        if (NeedsClusterIP(old))
        {
            foreach (var ip in old.Spec?.ClusterIPs ?? [])
                txn.ReleaseOnCommit(() => ClusterIPs.Release(ip));
        }
        foreach (var port in ServiceNodePortsOf(old).Distinct())
            txn.ReleaseOnCommit(() => NodePorts.Release(port));
    }

    private ApiError? InitIPFamilyFields(V1Service svc)
    {
        var spec = svc.Spec!;
        if (spec.Type == ExternalName) return null;
        var errs = new List<FieldError>();
        if (spec.IpFamilyPolicy == SingleStack)
        {
            if (spec.ClusterIPs is { Count: 2 })
                errs.Add(FieldError.Invalid(FieldPath.Spec.Child("ipFamilyPolicy"), spec.IpFamilyPolicy, "must be RequireDualStack or PreferDualStack when multiple IPs are specified"));
            if (spec.IpFamilies is { Count: 2 })
                errs.Add(FieldError.Invalid(FieldPath.Spec.Child("ipFamilyPolicy"), spec.IpFamilyPolicy, "must be RequireDualStack or PreferDualStack when multiple IP families are specified"));
        }
        var clusterIPs = spec.ClusterIPs ?? [];
        spec.IpFamilies ??= [];
        for (var i = 0; i < clusterIPs.Count; i++)
        {
            if (clusterIPs[i] == None) break;
            var ip = NameRules.ParseIP(clusterIPs[i]);
            if (ip is null) continue; // validation reports it
            var family = ip.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork ? IPv4 : IPv6;
            if (i >= spec.IpFamilies.Count)
            {
                if (family != IPv4)
                    errs.Add(FieldError.Invalid(FieldPath.Spec.Child("clusterIPs").Index(i), clusterIPs, $"{family} is not configured on this cluster"));
                else
                    spec.IpFamilies.Add(family);
            }
        }
        if (errs.Count > 0) return ApiError.Invalid(ResourceKind.Service, svc.Metadata?.Name ?? "", errs);

        if (spec.ClusterIP == None && (spec.Selector is null || spec.Selector.Count == 0))
        {
            spec.IpFamilyPolicy ??= RequireDualStack;
            if (spec.IpFamilies.Count == 0) spec.IpFamilies.Add(IPv4);
            return null;
        }

        spec.IpFamilyPolicy ??= SingleStack;
        for (var i = 0; i < spec.IpFamilies.Count; i++)
        {
            if (spec.IpFamilies[i] != IPv4)
                errs.Add(FieldError.Invalid(FieldPath.Spec.Child("ipFamilies").Index(i), spec.IpFamilies[i], "not configured on this cluster"));
        }
        if (spec.IpFamilyPolicy == RequireDualStack)
            errs.Add(FieldError.Invalid(FieldPath.Spec.Child("ipFamilyPolicy"), spec.IpFamilyPolicy, "this cluster is not configured for dual-stack services"));
        if (errs.Count > 0) return ApiError.Invalid(ResourceKind.Service, svc.Metadata?.Name ?? "", errs);
        if (spec.IpFamilies.Count == 0) spec.IpFamilies.Add(IPv4);
        return null;
    }

    private ApiError? AllocateClusterIPs(V1Service svc, AllocationTransaction txn)
    {
        var spec = svc.Spec!;
        // clusterIPs without clusterIP is a client error that validation words; allocate nothing for it.
        if (string.IsNullOrEmpty(spec.ClusterIP) && spec.ClusterIPs is { Count: > 0 }) return null;
        if (string.IsNullOrEmpty(spec.ClusterIP))
        {
            var err = ClusterIPs.AllocateNext(out var ip);
            if (err is not null) return ApiError.InternalError($"failed to allocate a serviceIP: {err}");
            txn.OnRevert(() => ClusterIPs.Release(ip));
            spec.ClusterIP = ip;
            spec.ClusterIPs = [ip];
            return null;
        }
        var requested = spec.ClusterIPs ?? [spec.ClusterIP];
        foreach (var ip in requested)
        {
            if (NameRules.ParseIP(ip) is null) continue; // invalid: validation reports it, nothing to hold
            var err = ClusterIPs.Allocate(ip);
            if (err is not null)
                return ApiError.Invalid(ResourceKind.Service, svc.Metadata?.Name ?? "",
                    [FieldError.Invalid(FieldPath.Spec.Child("clusterIPs"), requested.ToList(), $"failed to allocate IP {ip}: {err}")]);
            txn.OnRevert(() => ClusterIPs.Release(ip));
        }
        return null;
    }

    private static bool ShouldAllocateNodePorts(V1Service svc) =>
        svc.Spec!.Type == NodePort || (svc.Spec.Type == LoadBalancer && svc.Spec.AllocateLoadBalancerNodePorts != false);

    private ApiError? AllocatePort(int port, V1Service svc, int index, AllocationTransaction txn)
    {
        var err = NodePorts.Allocate(port);
        if (err is not null)
            return ApiError.Invalid(ResourceKind.Service, svc.Metadata?.Name ?? "",
                [FieldError.Invalid(FieldPath.Spec.Child("ports").Index(index).Child("nodePort"), port, err.Message)]);
        txn.OnRevert(() => NodePorts.Release(port));
        return null;
    }

    private ApiError? AllocateNextPort(AllocationTransaction txn, out int port)
    {
        var err = NodePorts.AllocateNext(out port);
        if (err is not null) return ApiError.InternalError($"failed to allocate a nodePort: {err}");
        var p = port;
        txn.OnRevert(() => NodePorts.Release(p));
        return null;
    }

    /// <summary>initNodePorts: ports sharing a port number (TCP and UDP 53) share one node port.</summary>
    private ApiError? InitNodePorts(V1Service svc, AllocationTransaction txn)
    {
        var ports = svc.Spec!.Ports ?? [];
        var byServicePort = new Dictionary<int, int>();
        for (var i = 0; i < ports.Count; i++)
        {
            var sp = ports[i];
            var requested = sp.NodePort ?? 0;
            if (requested == 0 && !ShouldAllocateNodePorts(svc)) continue;
            if (!byServicePort.TryGetValue(sp.Port, out var allocated))
            {
                var np = ports.FirstOrDefault(p => p.Port == sp.Port && (p.NodePort ?? 0) != 0)?.NodePort ?? 0;
                if (np != 0)
                {
                    var err = AllocatePort(np, svc, i, txn);
                    if (err is not null) return err;
                    sp.NodePort = np;
                    byServicePort[sp.Port] = np;
                }
                else
                {
                    var err = AllocateNextPort(txn, out var next);
                    if (err is not null) return err;
                    sp.NodePort = next;
                    byServicePort[sp.Port] = next;
                }
            }
            else if (requested != allocated)
            {
                if (requested == 0)
                    sp.NodePort = allocated;
                else
                {
                    var err = AllocatePort(requested, svc, i, txn);
                    if (err is not null) return err;
                }
            }
        }
        return null;
    }

    /// <summary>updateNodePorts: keep what the old object held, allocate the new, release what is gone (on commit).</summary>
    private ApiError? UpdateNodePorts(V1Service svc, V1Service old, AllocationTransaction txn)
    {
        // Only what the old object really holds (an ExternalName's nodePort was never allocated).
        var oldPorts = old.Spec?.Type is NodePort or LoadBalancer
            ? (old.Spec.Ports ?? []).Where(p => (p.NodePort ?? 0) != 0).Select(p => p.NodePort!.Value).ToList()
            : [];
        var ports = svc.Spec!.Ports ?? [];
        var seen = new HashSet<(string?, int)>();
        var allocatedNow = new HashSet<int>();
        for (var i = 0; i < ports.Count; i++)
        {
            var sp = ports[i];
            var np = sp.NodePort ?? 0;
            if (np == 0 && !ShouldAllocateNodePorts(svc)) continue;
            if (np != 0)
            {
                if (!oldPorts.Contains(np) && !allocatedNow.Contains(np))
                {
                    var err = AllocatePort(np, svc, i, txn);
                    if (err is not null) return err;
                    allocatedNow.Add(np);
                }
            }
            else
            {
                var err = AllocateNextPort(txn, out var next);
                if (err is not null) return err;
                sp.NodePort = np = next;
            }
            if (!seen.Add((sp.Protocol, np)))
                return ApiError.InternalError($"duplicate nodePort: {{{sp.Protocol} {np}}}");
        }
        var newPorts = ports.Where(p => (p.NodePort ?? 0) != 0).Select(p => p.NodePort!.Value).ToHashSet();
        foreach (var oldPort in oldPorts.Where(p => !newPorts.Contains(p)))
            txn.ReleaseOnCommit(() => NodePorts.Release(oldPort));
        return null;
    }

    private ApiError? AllocateHealthCheckNodePort(V1Service svc, AllocationTransaction txn)
    {
        var requested = svc.Spec!.HealthCheckNodePort ?? 0;
        if (requested != 0)
        {
            var err = NodePorts.Allocate(requested);
            if (err is not null)
                return ApiError.InternalError($"failed to allocate requested HealthCheck NodePort {requested}: {err}");
            txn.OnRevert(() => NodePorts.Release(requested));
            return null;
        }
        var nextErr = NodePorts.AllocateNext(out var port);
        if (nextErr is not null)
            return ApiError.InternalError($"failed to allocate a HealthCheck NodePort {port}: {nextErr}");
        txn.OnRevert(() => NodePorts.Release(port));
        svc.Spec.HealthCheckNodePort = port;
        return null;
    }

    /// <summary>NormalizeClusterIPs: keep clusterIP and clusterIPs in step for clients that set only one.</summary>
    private static void NormalizeClusterIPs(V1Service svc, V1Service? old)
    {
        var spec = svc.Spec!;
        if (old is null)
        {
            if (!string.IsNullOrEmpty(spec.ClusterIP) && (spec.ClusterIPs is null || spec.ClusterIPs.Count == 0))
                spec.ClusterIPs = [spec.ClusterIP];
            return;
        }
        var oldSpec = old.Spec!;
        if (string.IsNullOrEmpty(spec.ClusterIP) && !string.IsNullOrEmpty(oldSpec.ClusterIP)
            && SameList(spec.ClusterIPs, oldSpec.ClusterIPs))
            spec.ClusterIPs = null;
        if (spec.ClusterIP != oldSpec.ClusterIP && oldSpec.ClusterIPs is { Count: > 0 } && SameList(spec.ClusterIPs, oldSpec.ClusterIPs))
            spec.ClusterIPs = string.IsNullOrEmpty(spec.ClusterIP) ? null : [spec.ClusterIP];
    }

    /// <summary>patchAllocatedValues: a resubmitted manifest without the allocated values keeps them.</summary>
    private static void PatchAllocatedValues(V1Service svc, V1Service old)
    {
        var spec = svc.Spec!;
        var oldSpec = old.Spec!;
        if (NeedsClusterIP(old) && NeedsClusterIP(svc))
        {
            if (string.IsNullOrEmpty(spec.ClusterIP)) spec.ClusterIP = oldSpec.ClusterIP;
            if ((spec.ClusterIPs is null || spec.ClusterIPs.Count == 0) && oldSpec.ClusterIPs is { Count: > 0 })
                spec.ClusterIPs = oldSpec.ClusterIPs.ToList();
        }
        if (oldSpec.Type is NodePort or LoadBalancer && spec.Type is NodePort or LoadBalancer)
        {
            var oldUsed = (oldSpec.Ports ?? []).Select(p => p.NodePort ?? 0).Where(p => p != 0).ToHashSet();
            var newUsed = (spec.Ports ?? []).Select(p => p.NodePort ?? 0).Where(p => p != 0).ToHashSet();
            oldUsed.IntersectWith(newUsed);
            var byName = new Dictionary<string, int>();
            foreach (var p in oldSpec.Ports ?? []) byName[p.Name ?? ""] = p.NodePort ?? 0;
            foreach (var p in spec.Ports ?? [])
            {
                if ((p.NodePort ?? 0) != 0) continue;
                if (byName.TryGetValue(p.Name ?? "", out var oldValue) && oldValue != 0 && !oldUsed.Contains(oldValue))
                    p.NodePort = oldValue;
            }
        }
        if (NeedsHealthCheck(old) && NeedsHealthCheck(svc) && (spec.HealthCheckNodePort ?? 0) == 0)
            spec.HealthCheckNodePort = oldSpec.HealthCheckNodePort;
    }

    /// <summary>dropTypeDependentFields: wipe what the new type does not use, unless the user changed it too.</summary>
    private static void DropTypeDependentFields(V1Service svc, V1Service old)
    {
        var spec = svc.Spec!;
        var oldSpec = old.Spec!;
        if (NeedsClusterIP(old) && !NeedsClusterIP(svc))
        {
            if (spec.ClusterIP == oldSpec.ClusterIP && SameList(spec.ClusterIPs, oldSpec.ClusterIPs))
            {
                spec.ClusterIP = null;
                spec.ClusterIPs = null;
            }
            if (SameList(spec.IpFamilies, oldSpec.IpFamilies)) spec.IpFamilies = null;
            if (spec.IpFamilyPolicy == oldSpec.IpFamilyPolicy) spec.IpFamilyPolicy = null;
        }
        static bool NeedsNodePort(V1Service s) => s.Spec?.Type is NodePort or LoadBalancer;
        if (NeedsNodePort(old) && !NeedsNodePort(svc) && SameNodePorts(svc, old))
        {
            foreach (var p in spec.Ports ?? []) p.NodePort = null;
        }
        if (NeedsHealthCheck(old) && !NeedsHealthCheck(svc) && spec.HealthCheckNodePort == oldSpec.HealthCheckNodePort)
            spec.HealthCheckNodePort = null;
        if (oldSpec.Type == LoadBalancer && spec.Type != LoadBalancer)
        {
            if (spec.AllocateLoadBalancerNodePorts is not null && spec.AllocateLoadBalancerNodePorts == oldSpec.AllocateLoadBalancerNodePorts)
                spec.AllocateLoadBalancerNodePorts = null;
            if (spec.LoadBalancerClass == oldSpec.LoadBalancerClass) spec.LoadBalancerClass = null;
        }
        if (ExternallyAccessible(old) && !ExternallyAccessible(svc) && spec.ExternalTrafficPolicy == oldSpec.ExternalTrafficPolicy)
            spec.ExternalTrafficPolicy = null;
        if (spec.Type != LoadBalancer)
        {
            svc.Status ??= new V1ServiceStatus();
            svc.Status.LoadBalancer = new V1LoadBalancerStatus();
        }
    }

    private static bool SameNodePorts(V1Service a, V1Service b)
    {
        var pa = a.Spec?.Ports ?? [];
        var pb = b.Spec?.Ports ?? [];
        return pa.Count == pb.Count && pa.Zip(pb).All(x => (x.First.NodePort ?? 0) == (x.Second.NodePort ?? 0));
    }

    private static bool SameList(IList<string>? a, IList<string>? b) =>
        (a ?? []).SequenceEqual(b ?? []);
}
