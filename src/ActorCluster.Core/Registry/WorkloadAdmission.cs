using ActorCluster.Core.Allocation;
using ActorCluster.Core.Api;
using ActorCluster.Core.Defaulting;
using ActorCluster.Core.Objects;
using ActorCluster.Core.Validation;
using k8s.Models;

namespace ActorCluster.Core.Registry;

/// <summary>
/// The apps/v1 write path (deployment and replicaset strategies): default, validate, accept. The main resource
/// ignores status and the status subresource ignores the rest; the generation moves with the spec (and, for a
/// Deployment, its annotations, which it copies to its ReplicaSets); the selector never changes.
/// </summary>
public static class WorkloadAdmission
{
    public static Admission<V1Deployment> Create(V1Deployment input, bool exists, WriteContext ctx)
    {
        var d = KubeObjects.Clone(input);
        WorkloadDefaults.Apply(d);
        return Create(ResourceKind.Deployment, d, exists, ctx, () => d.Status = new V1DeploymentStatus(), () => WorkloadValidation.Validate(d));
    }

    public static Admission<V1ReplicaSet> Create(V1ReplicaSet input, bool exists, WriteContext ctx)
    {
        var rs = KubeObjects.Clone(input);
        WorkloadDefaults.Apply(rs);
        return Create(ResourceKind.ReplicaSet, rs, exists, ctx, () => rs.Status = new V1ReplicaSetStatus { Replicas = 0 }, () => WorkloadValidation.Validate(rs));
    }

    public static Admission<V1Deployment> Update(V1Deployment input, V1Deployment existing)
    {
        var d = KubeObjects.Clone(input);
        WorkloadDefaults.Apply(d);
        d.Metadata ??= new V1ObjectMeta();
        var changed = !KubeObjects.SemanticEquals(d.Spec, existing.Spec) || !KubeObjects.SemanticEquals(d.Metadata.Annotations, existing.Metadata.Annotations);
        return Update(ResourceKind.Deployment, d, existing, changed, () => d.Status = KubeObjects.Clone(existing.Status),
            () => [.. WorkloadValidation.ValidateUpdate(d.Spec.Selector, existing.Spec.Selector), .. WorkloadValidation.Validate(d)]);
    }

    public static Admission<V1ReplicaSet> Update(V1ReplicaSet input, V1ReplicaSet existing)
    {
        var rs = KubeObjects.Clone(input);
        WorkloadDefaults.Apply(rs);
        rs.Metadata ??= new V1ObjectMeta();
        return Update(ResourceKind.ReplicaSet, rs, existing, !KubeObjects.SemanticEquals(rs.Spec, existing.Spec), () => rs.Status = KubeObjects.Clone(existing.Status),
            () => [.. WorkloadValidation.ValidateUpdate(rs.Spec.Selector, existing.Spec.Selector), .. WorkloadValidation.Validate(rs)]);
    }

    public static Admission<V1Deployment> UpdateStatus(V1Deployment input, V1Deployment existing) =>
        StatusAdmission.Update(ResourceKind.Deployment, input, existing, (d, given) => d.Status = KubeObjects.Clone(given.Status ?? new V1DeploymentStatus()), _ => []);

    public static Admission<V1ReplicaSet> UpdateStatus(V1ReplicaSet input, V1ReplicaSet existing) =>
        StatusAdmission.Update(ResourceKind.ReplicaSet, input, existing, (rs, given) => rs.Status = KubeObjects.Clone(given.Status ?? new V1ReplicaSetStatus()), _ => []);

    private static Admission<T> Create<T>(ResourceKind kind, T obj, bool exists, WriteContext ctx, Action resetStatus, Func<List<FieldError>> validate)
        where T : class, k8s.IKubernetesObject<V1ObjectMeta>
    {
        var txn = new AllocationTransaction();
        obj.Metadata ??= new V1ObjectMeta();
        if (ObjectMetaRules.ApplyNamespace(obj.Metadata, ctx.Namespace) is { } nsError) return Admission<T>.Reject(nsError, txn);
        ObjectMetaRules.PrepareCreate(obj.Metadata, ctx);
        resetStatus();
        var errs = validate();
        if (errs.Count > 0) return Admission<T>.Reject(ApiError.Invalid(kind, obj.Metadata.Name ?? "", errs), txn);
        if (exists) return Admission<T>.Reject(ApiError.AlreadyExists(kind, obj.Metadata.Name), txn);
        return Admission<T>.Accept(obj, txn);
    }

    private static Admission<T> Update<T>(ResourceKind kind, T obj, T existing, bool specChanged, Action keepStatus, Func<List<FieldError>> validate)
        where T : class, k8s.IKubernetesObject<V1ObjectMeta>
    {
        var txn = new AllocationTransaction();
        if (ObjectMetaRules.ApplyNamespace(obj.Metadata, existing.Metadata.NamespaceProperty) is { } nsError) return Admission<T>.Reject(nsError, txn);
        if (ObjectMetaRules.PrepareUpdate(kind, obj.Metadata, existing.Metadata, specChanged) is { } metaError) return Admission<T>.Reject(metaError, txn);
        keepStatus();
        var errs = MetadataValidation.ValidateObjectMetaUpdate(obj.Metadata, existing.Metadata);
        errs.AddRange(validate());
        if (errs.Count > 0) return Admission<T>.Reject(ApiError.Invalid(kind, obj.Metadata.Name ?? "", errs), txn);
        return Admission<T>.Accept(obj, txn);
    }
}
