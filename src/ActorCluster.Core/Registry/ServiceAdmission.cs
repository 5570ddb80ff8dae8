using ActorCluster.Core.Allocation;
using ActorCluster.Core.Api;
using ActorCluster.Core.Defaulting;
using ActorCluster.Core.Objects;
using ActorCluster.Core.Validation;
using k8s.Models;

namespace ActorCluster.Core.Registry;

/// <summary>
/// The Service write path of kube-apiserver as pure decisions: default, allocate (inside a transaction),
/// validate, and only then accept. Allocation precedes validation, as in the apiserver, so the errors
/// users see come in the same order; a rejected write reverts everything it allocated.
/// </summary>
public static class ServiceAdmission
{
    public static Admission<V1Service> Create(V1Service input, V1Service? existing, ServiceAllocator allocator, WriteContext ctx)
    {
        var txn = new AllocationTransaction();
        var svc = ServiceDefaults.Apply(input);
        var nsError = ObjectMetaRules.ApplyNamespace(svc.Metadata, ctx.Namespace);
        if (nsError is not null) return Admission<V1Service>.Reject(nsError, txn);
        ObjectMetaRules.PrepareCreate(svc.Metadata, ctx);
        // A client cannot set status on create.
        svc.Status = new V1ServiceStatus { LoadBalancer = new V1LoadBalancerStatus() };

        var allocError = allocator.AllocateCreate(svc, txn);
        if (allocError is not null) return Admission<V1Service>.Reject(allocError, txn);

        var errs = ServiceValidation.Validate(svc);
        if (errs.Count > 0) return Admission<V1Service>.Reject(ApiError.Invalid(ResourceKind.Service, svc.Metadata.Name ?? "", errs), txn);

        if (existing is not null)
            return Admission<V1Service>.Reject(ApiError.AlreadyExists(ResourceKind.Service, svc.Metadata.Name), txn);
        return Admission<V1Service>.Accept(svc, txn);
    }

    public static Admission<V1Service> Update(V1Service input, V1Service existing, ServiceAllocator allocator, WriteContext ctx)
    {
        var txn = new AllocationTransaction();
        var svc = ServiceDefaults.Apply(input);
        var nsError = ObjectMetaRules.ApplyNamespace(svc.Metadata, ctx.Namespace);
        if (nsError is not null) return Admission<V1Service>.Reject(nsError, txn);
        var metaError = ObjectMetaRules.PrepareUpdate(ResourceKind.Service, svc.Metadata, existing.Metadata,
            specChanged: !KubeObjects.SemanticEquals(svc.Spec, existing.Spec));
        if (metaError is not null) return Admission<V1Service>.Reject(metaError, txn);
        // The main resource cannot change status; that is what /status is for.
        svc.Status = KubeObjects.Clone(existing.Status ?? new V1ServiceStatus());

        var allocError = allocator.AllocateUpdate(svc, existing, txn);
        if (allocError is not null) return Admission<V1Service>.Reject(allocError, txn);

        var errs = ServiceValidation.ValidateUpdate(svc, existing);
        if (errs.Count > 0) return Admission<V1Service>.Reject(ApiError.Invalid(ResourceKind.Service, svc.Metadata.Name ?? "", errs), txn);
        // Recompute generation now that allocation may have filled in values the client left out.
        svc.Metadata.Generation = (existing.Metadata.Generation ?? 1) + (KubeObjects.SemanticEquals(svc.Spec, existing.Spec) ? 0 : 1);
        return Admission<V1Service>.Accept(svc, txn);
    }

    /// <summary>The /status subresource: only status changes; load balancer ingress addresses must be IPs.</summary>
    public static Admission<V1Service> UpdateStatus(V1Service input, V1Service existing) =>
        StatusAdmission.Update(ResourceKind.Service, input, existing, (svc, given) =>
        {
            svc.Status = KubeObjects.Clone(given.Status ?? new V1ServiceStatus());
            svc.Status.LoadBalancer ??= new V1LoadBalancerStatus();
        }, svc =>
        {
            var errs = new List<FieldError>();
            var ingress = svc.Status.LoadBalancer.Ingress ?? [];
            for (var i = 0; i < ingress.Count; i++)
            {
                var path = FieldPath.Root("status").Child("loadBalancer").Child("ingress").Index(i);
                if (!string.IsNullOrEmpty(ingress[i].Ip))
                {
                    if (!NameRules.IsValidIP(ingress[i].Ip))
                        errs.Add(FieldError.Invalid(path.Child("ip"), ingress[i].Ip, "must be a valid IP address"));
                    ingress[i].IpMode ??= "VIP"; // defaulted as kube-apiserver does
                }
                else if (ingress[i].IpMode is not null)
                {
                    errs.Add(FieldError.Forbidden(path.Child("ipMode"), "may not be specified when `ip` is not"));
                }
            }
            return errs;
        });

    /// <summary>A delete returns the Service's addresses and ports to the pools once it commits.</summary>
    public static AllocationTransaction Delete(V1Service existing, ServiceAllocator allocator)
    {
        var txn = new AllocationTransaction();
        allocator.ReleaseDelete(existing, txn);
        return txn;
    }
}
