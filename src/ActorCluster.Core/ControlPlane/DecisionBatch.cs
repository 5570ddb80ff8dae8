using ActorCluster.Core.Allocation;
using ActorCluster.Core.Endpoints;
using ActorCluster.Core.Objects;
using ActorCluster.Core.Store;
using k8s;
using k8s.Models;

namespace ActorCluster.Core.ControlPlane;

/// <summary>
/// A decision under construction: the changes so far, over a working copy of the store, so each controller sees
/// what the ones before it decided. <see cref="Done"/> turns it into the <see cref="Decision"/> the ApiServer persists.
/// </summary>
internal sealed class DecisionBatch(ObjectStore store, Action<DecisionBatch>? beforeDone = null)
{
    private readonly List<StoreChange> _changes = [];
    private ObjectStore _working = store;
    private bool _done;

    /// <summary>The changes so far, in order.</summary>
    public IReadOnlyList<StoreChange> Changes => _changes;

    public AllocationTransaction Transaction { get; set; } = new();

    public T? Get<T>(ResourceKind kind, string ns, string name) where T : class, IKubernetesObject<V1ObjectMeta> =>
        _working.Get<T>(kind, ns, name);

    public StoredObject? GetStored(ObjectRef key) => _working.Get(key);

    public StoredObject? Latest(ObjectRef key) => _working.Get(key);

    public IEnumerable<T> All<T>(ResourceKind kind) where T : class, IKubernetesObject<V1ObjectMeta> => _working.All<T>(kind);

    /// <summary>Slices this batch created for a Service (not yet in the derived index).</summary>
    public IEnumerable<StoredObject> AddedSlicesFor(ObjectKey svc) =>
        _changes.Where(c => c.Type != ChangeType.Deleted && c.Object.Kind == ResourceKind.EndpointSlice
                            && c.Object.Object.Metadata.NamespaceProperty == svc.Namespace
                            && EndpointSliceIndex.ServiceNameOf(c.Object.Object.Metadata) == svc.Name)
            .Select(c => _working.Get(c.Object.Ref)).Where(o => o is not null).Select(o => o!);

    public StoredObject Put(ChangeType type, ResourceKind kind, IKubernetesObject<V1ObjectMeta> obj)
    {
        var stored = new StoredObject(kind, obj);
        // An object added and then changed within one decision is still an addition.
        var earlier = _changes.FindIndex(c => c.Object.Ref == stored.Ref && c.Type == ChangeType.Added);
        if (earlier >= 0) type = ChangeType.Added;
        _changes.Add(new StoreChange(type, stored));
        _working = _working.Put(stored, 0);
        return stored;
    }

    public void Delete(StoredObject obj)
    {
        _changes.Add(new StoreChange(ChangeType.Deleted, obj.DeepCopy()));
        _working = _working.Remove(obj.Ref, 0);
    }

    /// <summary>The decision: the controllers that follow every change (<paramref name="beforeDone"/>) run first, once.</summary>
    public Decision Done(StoredObject? reply)
    {
        if (!_done && _changes.Count > 0)
        {
            _done = true;
            beforeDone?.Invoke(this);
        }
        return new(_changes, reply, null, Transaction);
    }
}
