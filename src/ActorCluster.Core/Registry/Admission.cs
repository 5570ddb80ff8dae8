using ActorCluster.Core.Allocation;
using ActorCluster.Core.Api;

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

/// <summary>Identity for a write: the clock and the uid source, passed in so decisions stay pure and testable.</summary>
public sealed record WriteContext(string Namespace, DateTime Now, Func<string> NewUid)
{
    public static WriteContext For(string ns) => new(ns, DateTime.UtcNow, () => Guid.NewGuid().ToString());
}
