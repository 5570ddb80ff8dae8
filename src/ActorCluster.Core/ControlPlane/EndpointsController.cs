using ActorCluster.Core.Endpoints;
using ActorCluster.Core.Objects;
using ActorCluster.Core.Registry;
using ActorCluster.Core.Selectors;
using ActorCluster.Core.Store;
using k8s;
using k8s.Models;

namespace ActorCluster.Core.ControlPlane;

/// <summary>
/// Kubernetes' endpoints and EndpointSlice controllers: a Service's Endpoints and slices follow the pods its selector
/// picks. A pod change reconciles only the Services indexed under its labels (<see cref="ServiceSelectorIndex"/>);
/// only slices this controller manages are changed (a selector-less Service's slices are the user's); only what
/// differs is written.
/// </summary>
internal sealed class EndpointsController(ControllerContext context)
{
    private ServiceSelectorIndex _index = ServiceSelectorIndex.Empty;
    private readonly EndpointSliceIndex _slices = new();

    /// <summary>Services that have slices (some may be gone: a resync removes their orphans).</summary>
    public IEnumerable<ObjectKey> ServicesWithSlices => _slices.Services;

    /// <summary>Keeps the selector index and the slices per Service in step with a persisted change.</summary>
    public void Observe(StoreChange change)
    {
        var obj = change.Object;
        if (obj.Kind == ResourceKind.Service)
        {
            var key = ObjectKey.Of(obj.Object.Metadata);
            _index = change.Type == ChangeType.Deleted ? _index.Remove(key) : _index.Put(obj.As<V1Service>());
        }
        else if (obj.Kind == ResourceKind.EndpointSlice)
        {
            _slices.Apply([change]);
        }
    }

    /// <summary>A pod came, changed or went: the Services that selected it before or select it now.</summary>
    public void ReconcilePod(DecisionBatch batch, V1Pod? before, V1Pod? after)
    {
        var affected = _index.AffectedBy(before is null ? null : PodEndpointView.From(before), after is null ? null : PodEndpointView.From(after));
        foreach (var key in affected.OrderBy(k => k.ToString(), StringComparer.Ordinal))
            Reconcile(batch, key);
    }

    /// <summary>Recomputes one Service's Endpoints and EndpointSlices and writes only what differs.</summary>
    public void Reconcile(DecisionBatch batch, ObjectKey key)
    {
        var svc = batch.Get<V1Service>(ResourceKind.Service, key.Namespace, key.Name);
        var existingEndpoints = batch.GetStored(new ObjectRef(ResourceKind.Endpoints.Resource, key.Namespace, key.Name));
        var existingSlices = _slices.Of(key).Select(s => batch.GetStored(ObjectRef.Of(ResourceKind.EndpointSlice, s.Metadata))).Where(s => s is not null).Select(s => s!)
            .Concat(batch.AddedSlicesFor(key)).DistinctBy(s => s.Ref).ToList();
        // Only slices this controller made are its to change: a selector-less Service's slices belong to the user.
        existingSlices = existingSlices.Where(s => s.Object.Metadata.Labels?.TryGetValue(EndpointsComputer.ManagedByLabel, out var m) == true
                                                   && m == EndpointsComputer.ManagedByController).ToList();
        if (svc is null)
        {
            if (existingEndpoints is not null) batch.Delete(existingEndpoints);
            foreach (var s in existingSlices) batch.Delete(s);
            return;
        }
        if (!EndpointsComputer.Manages(svc))
        {
            foreach (var s in existingSlices) batch.Delete(s); // a selector was removed: our slices go, the user's stay
            return;
        }
        // Match labels on the stored pods first: only selected pods are worth converting.
        var selector = LabelSelector.FromSet(svc.Spec!.Selector)!;
        var pods = batch.All<V1Pod>(ResourceKind.Pod)
            .Where(p => p.Metadata.NamespaceProperty == key.Namespace && p.Metadata.Labels is { } l && Selects(selector, l))
            .Select(PodEndpointView.From).ToList();

        var endpoints = EndpointsComputer.ComputeEndpoints(svc, pods);
        PutIfChanged(batch, ResourceKind.Endpoints, endpoints, existingEndpoints);

        var slices = EndpointsComputer.ComputeSlices(svc, pods);
        var keep = new HashSet<ObjectRef>();
        foreach (var slice in slices)
        {
            var sliceRef = ObjectRef.Of(ResourceKind.EndpointSlice, slice.Metadata);
            keep.Add(sliceRef);
            PutIfChanged(batch, ResourceKind.EndpointSlice, slice, existingSlices.FirstOrDefault(s => s.Ref == sliceRef));
        }
        foreach (var stale in existingSlices.Where(s => !keep.Contains(s.Ref))) batch.Delete(stale);
    }

    private static bool Selects(LabelSelector selector, IDictionary<string, string> labels)
    {
        foreach (var r in selector.Requirements)
        {
            if (!labels.TryGetValue(r.Key, out var v) || v != r.Values[0]) return false;
        }
        return true;
    }

    private void PutIfChanged(DecisionBatch batch, ResourceKind kind, IKubernetesObject<V1ObjectMeta> desired, StoredObject? existing)
    {
        if (existing is null)
        {
            ObjectMetaRules.PrepareCreate(desired.Metadata, context.Write(desired.Metadata.NamespaceProperty ?? ""));
            batch.Put(ChangeType.Added, kind, desired);
            return;
        }
        // Compare content, not bookkeeping: carry the existing identity over first.
        desired.Metadata.Uid = existing.Object.Metadata.Uid;
        desired.Metadata.CreationTimestamp = existing.Object.Metadata.CreationTimestamp;
        desired.Metadata.Generation = existing.Object.Metadata.Generation;
        desired.Metadata.ResourceVersion = existing.Object.Metadata.ResourceVersion;
        if (KubeObjects.SemanticEquals(desired, existing.Object)) return;
        desired.Metadata.Generation = (existing.Object.Metadata.Generation ?? 1) + 1;
        batch.Put(ChangeType.Modified, kind, desired);
    }
}
