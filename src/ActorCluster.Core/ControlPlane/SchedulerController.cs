using ActorCluster.Core.Objects;
using k8s.Models;

namespace ActorCluster.Core.ControlPlane;

/// <summary>
/// kube-scheduler's loop around the pure <see cref="Scheduler"/>: a pod without a node gets one (PodScheduled True),
/// or stays Pending with PodScheduled False and a FailedScheduling Event (once per distinct reason); pending pods are
/// tried again when a node becomes Ready.
/// </summary>
internal sealed class SchedulerController(ControllerContext context)
{
    /// <summary>Schedules <paramref name="pod"/> in place (a fresh copy the caller will write).</summary>
    public void Schedule(DecisionBatch batch, V1Pod pod)
    {
        if (!string.IsNullOrEmpty(pod.Spec.NodeName))
        {
            SetPodScheduled(pod, "True", null, null);
            return;
        }
        var nodes = batch.All<V1Node>(ResourceKind.Node).ToList();
        // Pods on their way out do not count: a rolling update would otherwise crowd the new pods together.
        var placed = batch.All<V1Pod>(ResourceKind.Pod).Where(p => p.Spec?.NodeName is not null && Workloads.ControllerRefs.IsActive(p)).ToList();
        var load = placed.GroupBy(p => p.Spec.NodeName).ToDictionary(g => g.Key, g => g.Count());
        var owner = Workloads.ControllerRefs.ControllerOf(pod.Metadata)?.Uid;
        var peers = owner is null
            ? null
            : placed.Where(p => Workloads.ControllerRefs.ControllerOf(p.Metadata)?.Uid == owner).GroupBy(p => p.Spec.NodeName).ToDictionary(g => g.Key, g => g.Count());
        var result = Scheduler.Schedule(pod, nodes, load, peers);
        if (result.NodeName is not null)
        {
            pod.Spec.NodeName = result.NodeName;
            SetPodScheduled(pod, "True", null, null);
            batch.Put(ChangeType.Added, ResourceKind.Event, context.NewEvent(ResourceKind.Pod, pod.Metadata, "Normal", "Scheduled",
                $"Successfully assigned {pod.Metadata.NamespaceProperty}/{pod.Metadata.Name} to {result.NodeName}", "default-scheduler"));
            return;
        }
        var already = pod.Status?.Conditions?.FirstOrDefault(c => c.Type == "PodScheduled");
        if (already is { Status: "False" } && already.Message == result.Message) return;
        SetPodScheduled(pod, "False", "Unschedulable", result.Message);
        batch.Put(ChangeType.Added, ResourceKind.Event, context.NewEvent(ResourceKind.Pod, pod.Metadata, "Warning", "FailedScheduling", result.Message, "default-scheduler"));
    }

    /// <summary>Every pod still without a node, tried again (a node came or became Ready).</summary>
    public void ScheduleAllPending(DecisionBatch batch)
    {
        foreach (var pending in batch.All<V1Pod>(ResourceKind.Pod).Where(p => string.IsNullOrEmpty(p.Spec?.NodeName) && p.Metadata.DeletionTimestamp is null).ToList())
        {
            var pod = KubeObjects.Clone(pending);
            var before = KubeObjects.ToJson(pod);
            Schedule(batch, pod);
            if (KubeObjects.ToJson(pod) == before) continue;
            batch.Put(ChangeType.Modified, ResourceKind.Pod, pod);
        }
    }

    private void SetPodScheduled(V1Pod pod, string status, string? reason, string? message)
    {
        pod.Status ??= new V1PodStatus { Phase = "Pending" };
        pod.Status.Conditions = (pod.Status.Conditions ?? []).Where(c => c.Type != "PodScheduled").ToList();
        pod.Status.Conditions.Insert(0, new V1PodCondition
        {
            Type = "PodScheduled", Status = status, Reason = reason, Message = message,
            LastTransitionTime = context.Now(),
        });
    }
}
