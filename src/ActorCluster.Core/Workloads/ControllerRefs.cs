using k8s.Models;

namespace ActorCluster.Core.Workloads;

/// <summary>ownerReferences as the controllers use them (metav1.GetControllerOf, NewControllerRef).</summary>
public static class ControllerRefs
{
    /// <summary>The owner with <c>controller: true</c>, if any.</summary>
    public static V1OwnerReference? ControllerOf(V1ObjectMeta meta) => meta.OwnerReferences?.FirstOrDefault(o => o.Controller == true);

    public static bool IsControlledBy(V1ObjectMeta meta, V1ObjectMeta owner) => ControllerOf(meta)?.Uid == owner.Uid;

    public static V1OwnerReference For(string apiVersion, string kind, V1ObjectMeta owner) => new()
    {
        ApiVersion = apiVersion, Kind = kind, Name = owner.Name, Uid = owner.Uid, Controller = true, BlockOwnerDeletion = true,
    };

    /// <summary>podutil.IsPodReady: the Ready condition is True.</summary>
    public static bool IsReady(V1Pod pod) => pod.Status?.Conditions?.Any(c => c.Type == "Ready" && c.Status == "True") == true;

    /// <summary>podutil.IsPodAvailable: ready for at least minReadySeconds.</summary>
    public static bool IsAvailable(V1Pod pod, int minReadySeconds, DateTime now)
    {
        if (!IsReady(pod)) return false;
        if (minReadySeconds == 0) return true;
        var since = pod.Status!.Conditions!.First(c => c.Type == "Ready").LastTransitionTime;
        return since is null || since.Value.AddSeconds(minReadySeconds) <= now;
    }

    /// <summary>A count as Kubernetes writes an omitempty int32: absent when 0.</summary>
    public static int? OmitZero(int n) => n == 0 ? null : n;

    /// <summary>controller.IsPodActive: not finished and not being deleted.</summary>
    public static bool IsActive(V1Pod pod) =>
        pod.Metadata.DeletionTimestamp is null && pod.Status?.Phase is not ("Succeeded" or "Failed");
}
