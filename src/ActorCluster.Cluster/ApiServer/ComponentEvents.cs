using ActorCluster.Core.Objects;
using k8s.Models;

namespace ActorCluster.Cluster.ApiServer;

/// <summary>
/// An Event a node-side component records (kubelet about a pod's containers, kube-proxy about a Service), written
/// through the ApiServer like any client's, fire and forget as Kubernetes' event recorders are.
/// </summary>
public static class ComponentEvents
{
    /// <param name="fieldPath">the part of the object it is about (<c>spec.containers{app}</c>), or null</param>
    public static CreateObject About(ResourceKind kind, V1ObjectMeta about, string? fieldPath, string type, string reason, string message,
        string component, string node)
    {
        var now = DateTime.UtcNow;
        var ns = about.NamespaceProperty;
        var ev = new Corev1Event
        {
            ApiVersion = "v1", Kind = "Event",
            Metadata = new V1ObjectMeta { Name = $"{about.Name}.{now.Ticks:x}{Random.Shared.Next(0x1000):x3}", NamespaceProperty = ns },
            InvolvedObject = new V1ObjectReference
            {
                ApiVersion = kind.ApiVersion, Kind = kind.Kind, Name = about.Name, NamespaceProperty = ns, Uid = about.Uid, FieldPath = fieldPath,
            },
            Type = type, Reason = reason, Message = message,
            Source = new V1EventSource { Component = component, Host = node },
            ReportingComponent = component, ReportingInstance = node,
            FirstTimestamp = now, LastTimestamp = now, Count = 1,
        };
        return new CreateObject("events", ns, KubeObjects.ToJson(ev));
    }
}
