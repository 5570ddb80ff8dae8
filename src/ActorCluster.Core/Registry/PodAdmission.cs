using ActorCluster.Core.Allocation;
using ActorCluster.Core.Api;
using ActorCluster.Core.Defaulting;
using ActorCluster.Core.Objects;
using ActorCluster.Core.Validation;
using k8s.Models;

namespace ActorCluster.Core.Registry;

/// <summary>The Pod write path: default, validate, accept; status starts Pending and changes only through /status.</summary>
public static class PodAdmission
{
    public static Admission<V1Pod> Create(V1Pod input, V1Pod? existing, WriteContext ctx, long tolerationSeconds = PodDefaults.DefaultTolerationSeconds)
    {
        var txn = new AllocationTransaction();
        var pod = PodDefaults.Apply(input, tolerationSeconds);
        var nsError = ObjectMetaRules.ApplyNamespace(pod.Metadata, ctx.Namespace);
        if (nsError is not null) return Admission<V1Pod>.Reject(nsError, txn);
        ObjectMetaRules.PrepareCreate(pod.Metadata, ctx);
        pod.Status = new V1PodStatus { Phase = "Pending", QosClass = QosClass(pod) };

        var errs = PodValidation.Validate(pod);
        if (errs.Count > 0) return Admission<V1Pod>.Reject(ApiError.Invalid(ResourceKind.Pod, pod.Metadata.Name ?? "", errs), txn);
        if (existing is not null) return Admission<V1Pod>.Reject(ApiError.AlreadyExists(ResourceKind.Pod, pod.Metadata.Name), txn);
        return Admission<V1Pod>.Accept(pod, txn);
    }

    public static Admission<V1Pod> Update(V1Pod input, V1Pod existing)
    {
        var txn = new AllocationTransaction();
        var pod = PodDefaults.Apply(input);
        var nsError = ObjectMetaRules.ApplyNamespace(pod.Metadata, existing.Metadata.NamespaceProperty);
        if (nsError is not null) return Admission<V1Pod>.Reject(nsError, txn);
        var metaError = ObjectMetaRules.PrepareUpdate(ResourceKind.Pod, pod.Metadata, existing.Metadata,
            specChanged: !KubeObjects.SemanticEquals(pod.Spec, existing.Spec));
        if (metaError is not null) return Admission<V1Pod>.Reject(metaError, txn);
        pod.Status = KubeObjects.Clone(existing.Status);
        var errs = PodValidation.ValidateUpdate(pod, existing);
        errs.AddRange(PodValidation.Validate(pod));
        if (errs.Count > 0) return Admission<V1Pod>.Reject(ApiError.Invalid(ResourceKind.Pod, pod.Metadata.Name ?? "", errs), txn);
        return Admission<V1Pod>.Accept(pod, txn);
    }

    public static Admission<V1Pod> UpdateStatus(V1Pod input, V1Pod existing) =>
        StatusAdmission.Update(ResourceKind.Pod, input, existing, (pod, given) => pod.Status = KubeObjects.Clone(given.Status ?? new V1PodStatus()), pod =>
        {
            var errs = new List<FieldError>();
            var ips = pod.Status.PodIPs ?? [];
            for (var i = 0; i < ips.Count; i++)
            {
                if (!NameRules.IsValidIP(ips[i].Ip))
                    errs.Add(FieldError.Invalid(FieldPath.Root("status").Child("podIPs").Index(i), ips[i].Ip, "must be a valid IP address"));
            }
            if (!string.IsNullOrEmpty(pod.Status.PodIP) && ips.Count > 0 && ips[0].Ip != pod.Status.PodIP)
                errs.Add(FieldError.Invalid(FieldPath.Root("status").Child("podIPs").Index(0), ips[0].Ip, "must match `podIP`"));
            return errs;
        });

    /// <summary>qos.GetPodQOS, reduced to what our pods declare: no requests or limits means BestEffort.</summary>
    public static string QosClass(V1Pod pod)
    {
        var resources = (pod.Spec?.Containers ?? []).Select(c => c.Resources).ToList();
        var anyRequests = resources.Any(r => r?.Requests is { Count: > 0 } || r?.Limits is { Count: > 0 });
        if (!anyRequests) return "BestEffort";
        var guaranteed = resources.All(r => r?.Limits is { Count: > 0 } l
            && (r.Requests is null || r.Requests.All(kv => l.TryGetValue(kv.Key, out var lim) && lim == kv.Value))
            && l.ContainsKey("cpu") && l.ContainsKey("memory"));
        return guaranteed ? "Guaranteed" : "Burstable";
    }
}
