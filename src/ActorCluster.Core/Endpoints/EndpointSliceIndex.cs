using ActorCluster.Core.ControlPlane;
using ActorCluster.Core.Objects;
using ActorCluster.Core.Store;
using k8s.Models;

namespace ActorCluster.Core.Endpoints;

/// <summary>
/// EndpointSlices by the Service they belong to (their <c>kubernetes.io/service-name</c> label), kept from a store's
/// changes so that rebuilding one Service's routes does not scan every slice of the cluster.
/// </summary>
public sealed class EndpointSliceIndex
{
    private readonly Dictionary<ObjectKey, Dictionary<ObjectKey, V1EndpointSlice>> _byService = new();
    private readonly Dictionary<ObjectKey, ObjectKey> _serviceOfSlice = new();

    /// <summary>The Service a slice belongs to, by its label (null: not a Service's slice).</summary>
    public static string? ServiceNameOf(V1ObjectMeta slice) =>
        slice.Labels is { } labels && labels.TryGetValue(EndpointsComputer.ServiceNameLabel, out var name) ? name : null;

    /// <summary>The Service a stored object is or belongs to: a Service itself, or an EndpointSlice's Service; else null.</summary>
    public static ObjectKey? ServiceOf(StoredObject obj) => obj.Kind switch
    {
        var k when k == ResourceKind.Service => ObjectKey.Of(obj.Object.Metadata),
        var k when k == ResourceKind.EndpointSlice && ServiceNameOf(obj.Object.Metadata) is { } name => new ObjectKey(obj.Object.Metadata.NamespaceProperty ?? "", name),
        _ => null,
    };

    /// <summary>Starts again from every slice of the store (a relist).</summary>
    public void Rebuild(ObjectStore store)
    {
        _byService.Clear();
        _serviceOfSlice.Clear();
        foreach (var slice in store.All<V1EndpointSlice>(ResourceKind.EndpointSlice)) Put(slice, deleted: false);
    }

    /// <summary>Follows a batch of store changes (other kinds are ignored).</summary>
    public void Apply(IEnumerable<StoreChange> changes)
    {
        foreach (var c in changes.Where(c => c.Object.Kind == ResourceKind.EndpointSlice))
            Put(c.Object.As<V1EndpointSlice>(), c.Type == ChangeType.Deleted);
    }

    /// <summary>The Services that have slices (some may be gone: their slices are orphans).</summary>
    public IEnumerable<ObjectKey> Services => _byService.Keys;

    public IReadOnlyList<V1EndpointSlice> Of(ObjectKey service) =>
        _byService.TryGetValue(service, out var slices) ? slices.Values.ToList() : [];

    private void Put(V1EndpointSlice slice, bool deleted)
    {
        var sliceKey = ObjectKey.Of(slice.Metadata);
        if (_serviceOfSlice.Remove(sliceKey, out var before) && _byService.TryGetValue(before, out var old))
        {
            old.Remove(sliceKey);
            if (old.Count == 0) _byService.Remove(before);
        }
        if (deleted || ServiceNameOf(slice.Metadata) is not { } name) return;
        var service = new ObjectKey(slice.Metadata.NamespaceProperty ?? "", name);
        _serviceOfSlice[sliceKey] = service;
        if (!_byService.TryGetValue(service, out var slices)) _byService[service] = slices = new();
        slices[sliceKey] = slice;
    }
}
