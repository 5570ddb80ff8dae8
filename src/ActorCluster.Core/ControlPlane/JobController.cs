using ActorCluster.Core.Endpoints;
using ActorCluster.Core.Objects;
using ActorCluster.Core.Store;
using ActorCluster.Core.Workloads;
using k8s.Models;

namespace ActorCluster.Core.ControlPlane;

/// <summary>
/// kube-controller-manager's job controller, for NonIndexed Jobs: keeps up to <c>parallelism</c> pods running until
/// <c>completions</c> of them have succeeded (condition <c>Complete</c>), or more than <c>backoffLimit</c> have
/// failed or it ran past <c>activeDeadlineSeconds</c> (condition <c>Failed</c>, reason <c>BackoffLimitExceeded</c> or
/// <c>DeadlineExceeded</c>, the active pods deleted); counts active, ready, succeeded and failed pods in the status,
/// with the controller's Events. A finished Job with <c>ttlSecondsAfterFinished</c> is deleted with its pods once
/// that time has passed (the ttl-after-finished controller). Time-based outcomes come with the periodic resync.
/// </summary>
internal sealed class JobController(ControllerContext context, PodWrites pods, GarbageCollector gc)
{
    private const string Component = "job-controller";

    public void Sync(DecisionBatch batch, ObjectKey key)
    {
        var job = batch.Get<V1Job>(ResourceKind.Job, key.Namespace, key.Name);
        if (job is null || job.Metadata.DeletionTimestamp is not null || job.Spec?.Suspend == true) return;
        var owned = batch.All<V1Pod>(ResourceKind.Pod)
            .Where(p => p.Metadata.NamespaceProperty == key.Namespace && ControllerRefs.IsControlledBy(p.Metadata, job.Metadata)).ToList();
        var active = owned.Where(ControllerRefs.IsActive).ToList();
        var succeeded = owned.Count(p => p.Status?.Phase == "Succeeded");
        var failed = owned.Count(p => p.Status?.Phase == "Failed");
        var completions = job.Spec!.Completions ?? 1;
        var parallelism = job.Spec.Parallelism ?? 1;
        var finished = Finished(job);
        var now = context.Now();
        var conditions = (job.Status?.Conditions ?? []).ToList();

        if (finished is not null && job.Spec.TtlSecondsAfterFinished is { } ttl
            && job.Status?.Conditions?.FirstOrDefault(c => c.Type == finished)?.LastTransitionTime is { } since && since.AddSeconds(ttl) <= now)
        {
            gc.Delete(batch, batch.GetStored(ObjectRef.Of(ResourceKind.Job, job.Metadata))!, DeletePropagation.Background);
            return;
        }
        if (finished is null && job.Spec.ActiveDeadlineSeconds is { } deadline && job.Status?.StartTime is { } started && started.AddSeconds(deadline) <= now)
        {
            finished = "Failed";
            conditions.Add(Condition("Failed", "DeadlineExceeded", "Job was active longer than specified deadline", now));
            batch.Put(ChangeType.Added, ResourceKind.Event, context.NewEvent(ResourceKind.Job, job.Metadata, "Warning", "DeadlineExceeded", "Job was active longer than specified deadline", Component));
        }
        else if (finished is null && failed > (job.Spec.BackoffLimit ?? Validation.JobValidation.DefaultBackoffLimit))
        {
            finished = "Failed";
            conditions.Add(Condition("Failed", "BackoffLimitExceeded", "Job has reached the specified backoff limit", now));
            batch.Put(ChangeType.Added, ResourceKind.Event, context.NewEvent(ResourceKind.Job, job.Metadata, "Warning", "BackoffLimitExceeded", "Job has reached the specified backoff limit", Component));
        }
        else if (finished is null && succeeded >= completions)
        {
            finished = "Complete";
            conditions.Add(Condition("Complete", null, null, now));
            batch.Put(ChangeType.Added, ResourceKind.Event, context.NewEvent(ResourceKind.Job, job.Metadata, "Normal", "Completed", "Job completed", Component));
        }

        if (finished is not null)
        {
            // A finished Job runs nothing more (a failed one stops what still runs).
            foreach (var pod in active) pods.Delete(batch, batch.GetStored(ObjectRef.Of(ResourceKind.Pod, pod.Metadata))!, null);
            active.Clear();
        }
        else
        {
            var want = Math.Min(parallelism, completions - succeeded);
            for (var i = active.Count; i < want; i++)
            {
                if (CreatePod(batch, job) is { } created) active.Add(created);
            }
        }

        var status = new V1JobStatus
        {
            Active = ControllerRefs.OmitZero(active.Count),
            Ready = active.Count(ControllerRefs.IsReady),
            Succeeded = ControllerRefs.OmitZero(succeeded),
            Failed = ControllerRefs.OmitZero(failed),
            Terminating = 0,
            StartTime = job.Status?.StartTime ?? now,
            CompletionTime = finished == "Complete" ? job.Status?.CompletionTime ?? now : null,
            Conditions = conditions.Count == 0 ? null : conditions,
            UncountedTerminatedPods = new V1UncountedTerminatedPods(),
        };
        if (KubeObjects.SemanticEquals(status, job.Status)) return;
        var updated = KubeObjects.Clone(job);
        updated.Status = status;
        batch.Put(ChangeType.Modified, ResourceKind.Job, updated);
    }

    /// <summary>"Complete" or "Failed" once the Job has that condition, else null.</summary>
    public static string? Finished(V1Job job) =>
        job.Status?.Conditions?.FirstOrDefault(c => c.Type is "Complete" or "Failed" && c.Status == "True")?.Type;

    private static V1JobCondition Condition(string type, string? reason, string? message, DateTime now) =>
        new() { Type = type, Status = "True", Reason = reason, Message = message, LastProbeTime = now, LastTransitionTime = now };

    private V1Pod? CreatePod(DecisionBatch batch, V1Job job) =>
        pods.CreateFromTemplate(batch, job.Spec.Template, ResourceKind.Job, job.Metadata, Component);
}
