using ActorCluster.Core.Allocation;
using ActorCluster.Core.Api;
using ActorCluster.Core.Objects;
using ActorCluster.Core.Validation;
using k8s;
using k8s.Models;

namespace ActorCluster.Core.Registry;

/// <summary>
/// The outcome of deciding a write: the object to store (and the allocation transaction to commit once it is
/// durable, or to revert if persisting fails), or the Kubernetes error to return. Nothing is half-applied:
/// on an error every allocation has already been reverted.
/// </summary>
public sealed record Admission<T>(T? Object, ApiError? Error, AllocationTransaction Transaction)
    where T : class
{
    public bool Ok => Error is null;

    public static Admission<T> Accept(T obj, AllocationTransaction txn) => new(obj, null, txn);

    public static Admission<T> Reject(ApiError error, AllocationTransaction txn)
    {
        txn.Revert();
        return new Admission<T>(null, error, txn);
    }
}

/// <summary>The /status subresource, for any kind: only the status changes, and only on the version the client read.</summary>
public static class StatusAdmission
{
    /// <param name="takeStatus">copies (and defaults) the client's status into the copy of the stored object</param>
    /// <param name="validate">the kind's status rules, on the result</param>
    public static Admission<T> Update<T>(ResourceKind kind, T input, T existing, Action<T, T> takeStatus, Func<T, List<FieldError>> validate)
        where T : class, IKubernetesObject<V1ObjectMeta>
    {
        var txn = new AllocationTransaction();
        if (ObjectMetaRules.StaleVersion(kind, input.Metadata, existing.Metadata) is { } stale) return Admission<T>.Reject(stale, txn);
        var updated = KubeObjects.Clone(existing);
        takeStatus(updated, input);
        var errs = validate(updated);
        return errs.Count > 0 ? Admission<T>.Reject(ApiError.Invalid(kind, updated.Metadata.Name ?? "", errs), txn) : Admission<T>.Accept(updated, txn);
    }
}

/// <summary>Identity for a write: the clock and the uid source, passed in so decisions stay pure and testable.</summary>
public sealed record WriteContext(string Namespace, DateTime Now, Func<string> NewUid)
{
    public static WriteContext For(string ns) => new(ns, DateTime.UtcNow, () => Guid.NewGuid().ToString());
}
