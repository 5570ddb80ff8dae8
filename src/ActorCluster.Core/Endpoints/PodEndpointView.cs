using ActorCluster.Core.Objects;
using k8s.Models;

namespace ActorCluster.Core.Endpoints;

/// <summary>A named or numbered container port, as endpoint resolution needs it.</summary>
public sealed record ContainerPortInfo(string Name, int Port, string Protocol);

/// <summary>
/// The immutable facts about a Pod that endpoint computation reads, taken once from the V1Pod
/// (podutil.IsPodReady, ShouldPodBeInEndpoints and the container ports).
/// </summary>
public sealed record PodEndpointView(
    string Namespace,
    string Name,
    string Uid,
    string? NodeName,
    string? IP,
    bool Ready,
    bool Terminating,
    bool Finished,
    IReadOnlyDictionary<string, string> Labels,
    IReadOnlyList<ContainerPortInfo> Ports)
{
    public static PodEndpointView From(V1Pod pod)
    {
        var phase = pod.Status?.Phase;
        var restart = pod.Spec?.RestartPolicy ?? "Always";
        // ShouldPodBeInEndpoints: a pod that has run to completion never serves again.
        var finished = restart switch
        {
            "Never" => phase is "Failed" or "Succeeded",
            "OnFailure" => phase is "Succeeded",
            _ => false,
        };
        var ready = pod.Status?.Conditions?.Any(c => c.Type == "Ready" && c.Status == "True") == true;
        var ip = !string.IsNullOrEmpty(pod.Status?.PodIP) ? pod.Status.PodIP : pod.Status?.PodIPs?.FirstOrDefault()?.Ip;
        return new PodEndpointView(
            pod.Metadata?.NamespaceProperty ?? "",
            pod.Metadata?.Name ?? "",
            pod.Metadata?.Uid ?? "",
            pod.Spec?.NodeName,
            string.IsNullOrEmpty(ip) ? null : ip,
            ready,
            pod.Metadata?.DeletionTimestamp is not null,
            finished,
            pod.Metadata?.Labels is { } labels ? new Dictionary<string, string>(labels) : new Dictionary<string, string>(),
            (pod.Spec?.Containers ?? [])
                .SelectMany(c => c.Ports ?? [])
                .Select(p => new ContainerPortInfo(p.Name ?? "", p.ContainerPort, p.Protocol ?? ServiceTypes.TCP))
                .ToList());
    }

    /// <summary>podutil.FindPort: a number is used as is; a name resolves to the container port of that name and protocol.</summary>
    public int? ResolveTargetPort(IntOrString? targetPort, string protocol)
    {
        if (PortValue.TryNumber(targetPort, out var n)) return n;
        var name = targetPort?.Value;
        if (string.IsNullOrEmpty(name)) return null;
        foreach (var p in Ports)
        {
            if (p.Name == name && p.Protocol == protocol) return p.Port;
        }
        return null;
    }
}
