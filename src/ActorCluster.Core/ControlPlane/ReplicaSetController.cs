using ActorCluster.Core.Endpoints;
using ActorCluster.Core.Objects;
using ActorCluster.Core.Selectors;
using ActorCluster.Core.Workloads;
using k8s.Models;

namespace ActorCluster.Core.ControlPlane;

/// <summary>
/// kube-controller-manager's ReplicaSet controller: a ReplicaSet's active pods (its own, and orphans its selector
/// matches, which it adopts) are brought to spec.replicas: missing pods are created from the template, extra ones
/// deleted (unscheduled, pending, not ready and young ones first); its status counts what is there.
/// </summary>
internal sealed class ReplicaSetController(ControllerContext context, PodWrites pods)
{
    private const string Component = "replicaset-controller";

    /// <summary>A burst as Kubernetes bounds it (burstReplicas): the rest on the next sync.</summary>
    private const int BurstReplicas = 500;

    public void Sync(DecisionBatch batch, ObjectKey key)
    {
        var rs = batch.Get<V1ReplicaSet>(ResourceKind.ReplicaSet, key.Namespace, key.Name);
        if (rs is null || rs.Metadata.DeletionTimestamp is not null) return;
        if (LabelSelector.TryFromApi(rs.Spec.Selector) is not { } selector) return;

        var owned = new List<V1Pod>();
        foreach (var pod in batch.All<V1Pod>(ResourceKind.Pod).Where(p => p.Metadata.NamespaceProperty == key.Namespace))
        {
            if (ControllerRefs.IsControlledBy(pod.Metadata, rs.Metadata)) owned.Add(pod);
            else if (ControllerRefs.ControllerOf(pod.Metadata) is null && ControllerRefs.IsActive(pod) && selector.MatchesLabels(pod.Metadata.Labels))
                owned.Add(Adopt(batch, pod, rs));
        }
        var active = owned.Where(ControllerRefs.IsActive).ToList();
        var want = rs.Spec.Replicas ?? 1;
        var diff = active.Count - want;
        if (diff < 0)
        {
            for (var i = 0; i < Math.Min(-diff, BurstReplicas); i++)
            {
                if (CreatePod(batch, rs) is { } pod) active.Add(pod);
            }
        }
        else if (diff > 0)
        {
            foreach (var pod in DeletionOrder(active).Take(Math.Min(diff, BurstReplicas)).ToList())
            {
                var stored = batch.GetStored(Store.ObjectRef.Of(ResourceKind.Pod, pod.Metadata));
                if (stored is null) continue;
                pods.Delete(batch, stored, null);
                active.Remove(pod);
                batch.Put(ChangeType.Added, ResourceKind.Event, context.NewEvent(ResourceKind.ReplicaSet, rs.Metadata, "Normal", "SuccessfulDelete", $"Deleted pod: {pod.Metadata.Name}", Component));
            }
        }
        UpdateStatus(batch, rs, active);
    }

    private V1Pod Adopt(DecisionBatch batch, V1Pod pod, V1ReplicaSet rs)
    {
        var adopted = KubeObjects.Clone(pod);
        adopted.Metadata.OwnerReferences = [.. adopted.Metadata.OwnerReferences ?? [], ControllerRefs.For("apps/v1", "ReplicaSet", rs.Metadata)];
        batch.Put(ChangeType.Modified, ResourceKind.Pod, adopted);
        return adopted;
    }

    private V1Pod? CreatePod(DecisionBatch batch, V1ReplicaSet rs) =>
        pods.CreateFromTemplate(batch, rs.Spec.Template, ResourceKind.ReplicaSet, rs.Metadata, Component);

    /// <summary>controller.ActivePods ordering: unscheduled, then pending, then not ready, then the youngest first.</summary>
    private static IEnumerable<V1Pod> DeletionOrder(IEnumerable<V1Pod> active) =>
        active.OrderBy(p => string.IsNullOrEmpty(p.Spec?.NodeName) ? 0 : 1)
            .ThenBy(p => p.Status?.Phase switch { "Pending" => 0, "Unknown" => 1, "Running" => 2, _ => 3 })
            .ThenBy(p => ControllerRefs.IsReady(p) ? 1 : 0)
            .ThenByDescending(p => p.Metadata.CreationTimestamp ?? DateTime.MinValue)
            .ThenBy(p => p.Metadata.Name, StringComparer.Ordinal);

    private void UpdateStatus(DecisionBatch batch, V1ReplicaSet rs, List<V1Pod> active)
    {
        var current = batch.Get<V1ReplicaSet>(ResourceKind.ReplicaSet, rs.Metadata.NamespaceProperty, rs.Metadata.Name) ?? rs;
        var templateLabels = rs.Spec.Template?.Metadata?.Labels ?? new Dictionary<string, string>();
        var minReady = rs.Spec.MinReadySeconds ?? 0;
        var now = context.Clock();
        var status = new V1ReplicaSetStatus
        {
            Replicas = active.Count,
            FullyLabeledReplicas = ControllerRefs.OmitZero(active.Count(p => templateLabels.All(kv => p.Metadata.Labels?.TryGetValue(kv.Key, out var v) == true && v == kv.Value))),
            ReadyReplicas = ControllerRefs.OmitZero(active.Count(ControllerRefs.IsReady)),
            AvailableReplicas = ControllerRefs.OmitZero(active.Count(p => ControllerRefs.IsAvailable(p, minReady, now))),
            ObservedGeneration = rs.Metadata.Generation,
            Conditions = current.Status?.Conditions,
        };
        if (KubeObjects.SemanticEquals(status, current.Status)) return;
        var updated = KubeObjects.Clone(current);
        updated.Status = status;
        batch.Put(ChangeType.Modified, ResourceKind.ReplicaSet, updated);
    }
}
