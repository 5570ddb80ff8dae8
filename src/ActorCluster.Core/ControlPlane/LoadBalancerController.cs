using ActorCluster.Core.Allocation;
using ActorCluster.Core.Endpoints;
using ActorCluster.Core.Objects;
using k8s.Models;

namespace ActorCluster.Core.ControlPlane;

/// <summary>
/// The LoadBalancer IP controller, with MetalLB's semantics: a LoadBalancer Service without a class gets an address
/// from the pools (its <c>loadBalancerIP</c> if asked and free), or stays pending with an AllocationFailed Event;
/// addresses go back when a Service stops being a LoadBalancer or is deleted, and pending Services try again
/// whenever one may have come free. Allocations are undone if the decision is not committed.
/// </summary>
internal sealed class LoadBalancerController(ControllerContext context, LoadBalancerPools pools)
{
    public LoadBalancerPools Pools { get; private set; } = pools;

    /// <summary>Ownership recomputed from the stored Services (after recovery).</summary>
    public void Rebuild(IReadOnlyList<IPAddressPool> config, IEnumerable<V1Service> services) =>
        Pools = LoadBalancerPools.Rebuild(config,
            services.Where(s => s.Spec?.Type == ServiceTypes.LoadBalancer)
                .SelectMany(s => (s.Status?.LoadBalancer?.Ingress ?? []).Where(i => i.Ip is not null)
                    .Select(i => (ObjectKey.Of(s.Metadata).ToString(), i.Ip))));

    /// <summary>MetalLB's words, then how to give this cluster a pool (a Service stays &lt;pending&gt; without one).</summary>
    public const string NoPoolHint = " (this cluster has no LoadBalancer address pool: start it with --lb-pool, e.g. --lb-pool 127.0.1.240-127.0.1.250, or set actorcluster.load-balancer-pools)";

    /// <param name="announce">whether a failure is worth an Event (not on every retry)</param>
    public void Reconcile(DecisionBatch batch, ObjectKey key, bool announce)
    {
        var svc = batch.Get<V1Service>(ResourceKind.Service, key.Namespace, key.Name);
        if (svc?.Spec?.Type != ServiceTypes.LoadBalancer || svc.Spec.LoadBalancerClass is not null) return;
        if (svc.Status?.LoadBalancer?.Ingress is { Count: > 0 }) return;
        var pools = Pools;
        var ip = pools.Assign(key.ToString(), svc.Spec.LoadBalancerIP, out var error);
        if (ip is null)
        {
            if (announce)
                batch.Put(ChangeType.Added, ResourceKind.Event, context.NewEvent(ResourceKind.Service, svc.Metadata, "Warning", "AllocationFailed",
                    $"Failed to allocate IP for \"{key}\": {error}" + (pools.HasPools ? "" : NoPoolHint), "metallb-controller"));
            return;
        }
        batch.Transaction.OnRevert(() => pools.Release(key.ToString(), ip));
        var updated = KubeObjects.Clone(svc);
        updated.Status ??= new V1ServiceStatus();
        updated.Status.LoadBalancer = new V1LoadBalancerStatus { Ingress = [new V1LoadBalancerIngress { Ip = ip, IpMode = "VIP" }] };
        batch.Put(ChangeType.Modified, ResourceKind.Service, updated);
        batch.Put(ChangeType.Added, ResourceKind.Event, context.NewEvent(ResourceKind.Service, svc.Metadata, "Normal", "IPAllocated",
            $"Assigned IP [\"{ip}\"]", "metallb-controller"));
    }

    public void Release(DecisionBatch batch, V1Service svc)
    {
        var key = ObjectKey.Of(svc.Metadata).ToString();
        var pools = Pools;
        foreach (var ingress in svc.Status?.LoadBalancer?.Ingress ?? [])
        {
            if (ingress.Ip is not { } ip || pools.OwnerOf(ip) != key) continue;
            pools.Release(key, ip);
            batch.Transaction.OnRevert(() => pools.Assign(key, ip, out _));
        }
    }

    /// <summary>Pending LoadBalancers are tried again whenever an address may have come free (MetalLB's reprocess-all).</summary>
    public void RetryPending(DecisionBatch batch)
    {
        if (!Pools.HasPools) return;
        foreach (var svc in batch.All<V1Service>(ResourceKind.Service)
                     .Where(s => s.Spec?.Type == ServiceTypes.LoadBalancer && s.Status?.LoadBalancer?.Ingress is not { Count: > 0 })
                     .OrderBy(s => s.Metadata.CreationTimestamp).ToList())
            Reconcile(batch, ObjectKey.Of(svc.Metadata), announce: false);
    }
}
