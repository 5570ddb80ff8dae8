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
        var ev = ObjectEvents.About(kind, about, fieldPath, type, reason, message, component, node, $"{about.Name}.{now.Ticks:x}{Random.Shared.Next(0x1000):x3}", now);
        return new CreateObject("events", about.NamespaceProperty, KubeObjects.ToJson(ev));
    }
}
