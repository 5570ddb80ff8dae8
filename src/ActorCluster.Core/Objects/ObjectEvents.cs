using k8s.Models;

namespace ActorCluster.Core.Objects;

/// <summary>
/// A core/v1 Event about an object, as Kubernetes' event recorders fill it in: the object (and the part of it, such as
/// <c>spec.containers{app}</c>), the component that reports, and the first and last time, counted once. The control
/// plane's controllers and the node-side components (kubelet, kube-proxy) all make theirs here.
/// </summary>
public static class ObjectEvents
{
    /// <param name="host">the reporting node, or null for the control plane's components</param>
    public static Corev1Event About(ResourceKind kind, V1ObjectMeta about, string? fieldPath, string type, string reason, string message,
        string component, string? host, string name, DateTime now)
    {
        var ns = about.NamespaceProperty;
        return new Corev1Event
        {
            ApiVersion = "v1", Kind = "Event",
            Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = ns },
            InvolvedObject = new V1ObjectReference
            {
                ApiVersion = kind.ApiVersion, Kind = kind.Kind, Name = about.Name, NamespaceProperty = ns, Uid = about.Uid,
                ResourceVersion = about.ResourceVersion, FieldPath = fieldPath,
            },
            Type = type, Reason = reason, Message = message,
            Source = new V1EventSource { Component = component, Host = host },
            ReportingComponent = component, ReportingInstance = host ?? "",
            FirstTimestamp = now, LastTimestamp = now, Count = 1,
        };
    }
}
