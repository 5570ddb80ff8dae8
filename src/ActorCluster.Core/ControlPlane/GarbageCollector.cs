using ActorCluster.Core.Objects;
using ActorCluster.Core.Store;
using k8s.Models;

namespace ActorCluster.Core.ControlPlane;

/// <summary>DeleteOptions.propagationPolicy: what happens to the objects a deleted one owns.</summary>
public enum DeletePropagation
{
    /// <summary>The dependents go too (kube-apiserver's default for apps/v1 and core objects).</summary>
    Background,

    /// <summary>As Background here: the dependents go in the same write as their owner, so nothing is left to wait for.</summary>
    Foreground,

    /// <summary>The dependents stay, without the owner's reference (<c>kubectl delete --cascade=orphan</c>).</summary>
    Orphan,
}

public static class DeletePropagations
{
    /// <summary>DeleteOptions.propagationPolicy as sent (validated by the API); none is Background.</summary>
    public static DeletePropagation Parse(string? policy) => policy switch
    {
        "Orphan" => DeletePropagation.Orphan,
        "Foreground" => DeletePropagation.Foreground,
        _ => DeletePropagation.Background,
    };
}

/// <summary>
/// The garbage collector for what the workload controllers own (ReplicaSets, pods of ReplicaSets and Jobs): when an owner is deleted its
/// dependents lose the reference (Orphan) or are deleted themselves, recursively, unless another owner remains.
/// Kubernetes does this asynchronously; here it happens in the owner's own decision, so no dependent is ever
/// observed without its owner.
/// </summary>
internal sealed class GarbageCollector(PodWrites pods)
{
    private static readonly ResourceKind[] DependentKinds = [ResourceKind.ReplicaSet, ResourceKind.Pod];

    /// <summary>Deletes an object and handles its dependents.</summary>
    public void Delete(DecisionBatch batch, StoredObject obj, DeletePropagation propagation)
    {
        if (obj.Object is V1Pod) pods.Delete(batch, obj, null);
        else batch.Delete(obj);
        OwnerDeleted(batch, obj.Object.Metadata, propagation);
    }

    /// <summary>An owner is gone: its dependents are orphaned or deleted.</summary>
    public void OwnerDeleted(DecisionBatch batch, V1ObjectMeta owner, DeletePropagation propagation)
    {
        if (string.IsNullOrEmpty(owner.Uid)) return;
        foreach (var kind in DependentKinds)
        {
            foreach (var dependent in batch.All<k8s.IKubernetesObject<V1ObjectMeta>>(kind).ToList())
            {
                var meta = dependent.Metadata;
                if (meta.NamespaceProperty != owner.NamespaceProperty || meta.OwnerReferences?.Any(o => o.Uid == owner.Uid) != true) continue;
                var stored = batch.GetStored(ObjectRef.Of(kind, meta));
                if (stored is null) continue;
                var others = meta.OwnerReferences.Where(o => o.Uid != owner.Uid).ToList();
                if (propagation == DeletePropagation.Orphan || others.Any(o => OwnerExists(batch, meta.NamespaceProperty, o)))
                {
                    var updated = stored.DeepCopy();
                    updated.Object.Metadata.OwnerReferences = others.Count == 0 ? null : others;
                    batch.Put(ChangeType.Modified, kind, updated.Object);
                    continue;
                }
                if (meta.DeletionTimestamp is not null) continue;
                Delete(batch, stored, propagation);
            }
        }
    }

    private static bool OwnerExists(DecisionBatch batch, string ns, V1OwnerReference owner)
    {
        var kind = ResourceKind.ByKind(owner.ApiVersion ?? "", owner.Kind ?? "");
        return kind is not null && batch.GetStored(new ObjectRef(kind.Resource, kind.Namespaced ? ns : "", owner.Name ?? ""))?.Object.Metadata.Uid == owner.Uid;
    }
}
