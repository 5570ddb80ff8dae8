using ActorCluster.Core.Endpoints;
using ActorCluster.Core.Objects;
using ActorCluster.Core.Selectors;
using ActorCluster.Core.Workloads;
using k8s.Models;

namespace ActorCluster.Core.ControlPlane;

/// <summary>
/// Runs the Deployment and ReplicaSet controllers on what a decision changed, as their informers would: a pod
/// wakes the ReplicaSet that owns it (or one whose selector would adopt it), a ReplicaSet wakes itself and its
/// Deployment, a Deployment wakes itself. Each round handles the changes the previous one made, until nothing moves
/// (bounded: what is left is picked up by the next change or the periodic resync).
/// </summary>
internal sealed class WorkloadControllers(ControllerContext context, DeploymentController deployments, ReplicaSetController replicaSets, JobController jobs)
{
    private const int MaxRounds = 8;

    public void Reconcile(DecisionBatch batch)
    {
        var seen = 0;
        for (var round = 0; round < MaxRounds && seen < batch.Changes.Count; round++)
        {
            var changes = batch.Changes.Skip(seen).ToList();
            seen = batch.Changes.Count;
            var dirtyDeployments = new SortedSet<ObjectKey>(KeyOrder);
            var dirtyReplicaSets = new SortedSet<ObjectKey>(KeyOrder);
            var dirtyJobs = new SortedSet<ObjectKey>(KeyOrder);
            foreach (var change in changes)
            {
                var meta = change.Object.Object.Metadata;
                var ns = meta.NamespaceProperty ?? "";
                if (change.Object.Kind == ResourceKind.Deployment)
                {
                    if (change.Type != ChangeType.Deleted) dirtyDeployments.Add(ObjectKey.Of(meta));
                }
                else if (change.Object.Kind == ResourceKind.ReplicaSet)
                {
                    if (change.Type != ChangeType.Deleted) dirtyReplicaSets.Add(ObjectKey.Of(meta));
                    if (ControllerRefs.ControllerOf(meta) is { Kind: "Deployment" } owner) dirtyDeployments.Add(new ObjectKey(ns, owner.Name));
                }
                else if (change.Object.Kind == ResourceKind.Job)
                {
                    if (change.Type != ChangeType.Deleted) dirtyJobs.Add(ObjectKey.Of(meta));
                }
                else if (change.Object.Kind == ResourceKind.Pod && ControllerRefs.ControllerOf(meta) is { Kind: "Job" } job)
                {
                    dirtyJobs.Add(new ObjectKey(ns, job.Name));
                }
                else if (change.Object.Kind == ResourceKind.Pod)
                {
                    if (ControllerRefs.ControllerOf(meta) is { Kind: "ReplicaSet" } owner)
                    {
                        dirtyReplicaSets.Add(new ObjectKey(ns, owner.Name));
                        // A Recreate rollout waits for the old pods to be gone, not only asked to stop.
                        if (change.Type == ChangeType.Deleted
                            && batch.Get<V1ReplicaSet>(ResourceKind.ReplicaSet, ns, owner.Name) is { } rs
                            && ControllerRefs.ControllerOf(rs.Metadata) is { Kind: "Deployment" } deployment)
                            dirtyDeployments.Add(new ObjectKey(ns, deployment.Name));
                    }
                    else if (change.Type != ChangeType.Deleted && meta.DeletionTimestamp is null)
                    {
                        foreach (var rs in batch.All<V1ReplicaSet>(ResourceKind.ReplicaSet).Where(r => r.Metadata.NamespaceProperty == ns && Selects(r, meta)))
                            dirtyReplicaSets.Add(ObjectKey.Of(rs.Metadata));
                    }
                }
            }
            foreach (var key in dirtyDeployments) Guarded(batch, ResourceKind.Deployment, key, () => deployments.Sync(batch, key));
            foreach (var key in dirtyReplicaSets) Guarded(batch, ResourceKind.ReplicaSet, key, () => replicaSets.Sync(batch, key));
            foreach (var key in dirtyJobs) Guarded(batch, ResourceKind.Job, key, () => jobs.Sync(batch, key));
        }
    }

    /// <summary>Every Deployment and ReplicaSet, once (after recovery, and periodically for time-based conditions).</summary>
    public void ResyncAll(DecisionBatch batch)
    {
        foreach (var d in batch.All<V1Deployment>(ResourceKind.Deployment).Select(d => ObjectKey.Of(d.Metadata)).OrderBy(k => k, KeyOrder).ToList())
            Guarded(batch, ResourceKind.Deployment, d, () => deployments.Sync(batch, d));
        foreach (var rs in batch.All<V1ReplicaSet>(ResourceKind.ReplicaSet).Select(r => ObjectKey.Of(r.Metadata)).OrderBy(k => k, KeyOrder).ToList())
            Guarded(batch, ResourceKind.ReplicaSet, rs, () => replicaSets.Sync(batch, rs));
        foreach (var job in batch.All<V1Job>(ResourceKind.Job).Select(j => ObjectKey.Of(j.Metadata)).OrderBy(k => k, KeyOrder).ToList())
            Guarded(batch, ResourceKind.Job, job, () => jobs.Sync(batch, job));
    }

    /// <summary>
    /// A controller's failure on one object must not fail the write that woke it (nor every later one, which would
    /// stop the ApiServer in a loop): it becomes a Warning Event on the object, and the next sync tries again.
    /// </summary>
    private void Guarded(DecisionBatch batch, ResourceKind kind, ObjectKey key, Action sync)
    {
        try
        {
            sync();
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            var meta = batch.GetStored(new Store.ObjectRef(kind.Resource, key.Namespace, key.Name))?.Object.Metadata
                       ?? new V1ObjectMeta { Name = key.Name, NamespaceProperty = key.Namespace };
            batch.Put(ChangeType.Added, ResourceKind.Event, context.NewEvent(kind, meta, "Warning", "SyncFailed",
                $"{kind.Kind} controller failed: {e.GetType().Name}: {e.Message}", kind == ResourceKind.Deployment ? "deployment-controller" : "replicaset-controller"));
        }
    }

    private static bool Selects(V1ReplicaSet rs, V1ObjectMeta pod) => LabelSelector.TryFromApi(rs.Spec?.Selector)?.MatchesLabels(pod.Labels) == true;

    private static readonly IComparer<ObjectKey> KeyOrder = Comparer<ObjectKey>.Create((a, b) => string.CompareOrdinal(a.ToString(), b.ToString()));
}
