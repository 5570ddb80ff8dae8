using k8s.Models;

namespace ActorCluster.Core.Objects;

/// <summary>
/// The resources ActorCluster serves: kind, plural resource name, API group and scope, and the client library's model
/// type for it (what stored JSON is read into, and what the OpenAPI schemas describe).
/// </summary>
public sealed record ResourceKind(string Kind, string Resource, string Group, string Version, bool Namespaced, string ShortName, Type Model)
{
    public static readonly ResourceKind Pod = new("Pod", "pods", "", "v1", true, "po", typeof(V1Pod));
    public static readonly ResourceKind Service = new("Service", "services", "", "v1", true, "svc", typeof(V1Service));
    public static readonly ResourceKind Node = new("Node", "nodes", "", "v1", false, "no", typeof(V1Node));
    public static readonly ResourceKind Namespace = new("Namespace", "namespaces", "", "v1", false, "ns", typeof(V1Namespace));
    public static readonly ResourceKind Event = new("Event", "events", "", "v1", true, "ev", typeof(Corev1Event));
    public static readonly ResourceKind Endpoints = new("Endpoints", "endpoints", "", "v1", true, "ep", typeof(V1Endpoints));
    public static readonly ResourceKind EndpointSlice = new("EndpointSlice", "endpointslices", "discovery.k8s.io", "v1", true, "", typeof(V1EndpointSlice));
    public static readonly ResourceKind Lease = new("Lease", "leases", "coordination.k8s.io", "v1", true, "", typeof(V1Lease));
    public static readonly ResourceKind ConfigMap = new("ConfigMap", "configmaps", "", "v1", true, "cm", typeof(V1ConfigMap));
    public static readonly ResourceKind Secret = new("Secret", "secrets", "", "v1", true, "", typeof(V1Secret));
    public static readonly ResourceKind ServiceAccount = new("ServiceAccount", "serviceaccounts", "", "v1", true, "sa", typeof(V1ServiceAccount));

    public static readonly ResourceKind ReplicaSet = new("ReplicaSet", "replicasets", "apps", "v1", true, "rs", typeof(V1ReplicaSet));
    public static readonly ResourceKind Deployment = new("Deployment", "deployments", "apps", "v1", true, "deploy", typeof(V1Deployment));
    public static readonly ResourceKind Job = new("Job", "jobs", "batch", "v1", true, "", typeof(V1Job));

    public static IReadOnlyList<ResourceKind> All { get; } = [Pod, Service, Node, Namespace, Event, Endpoints, EndpointSlice, Lease, ConfigMap, Secret, ServiceAccount, ReplicaSet, Deployment, Job];

    /// <summary>Kinds with a <c>scale</c> subresource (autoscaling/v1 Scale over spec.replicas).</summary>
    public bool Scalable => this == ReplicaSet || this == Deployment;

    /// <summary>Kinds with a <c>status</c> subresource: their main resource ignores status, and status ignores the rest.</summary>
    public bool HasStatus => this == Pod || this == Service || this == Node || this == Namespace || this == ReplicaSet || this == Deployment || this == Job;

    /// <summary>The API groups besides the core one that serve resources here (<c>discovery.k8s.io/v1</c>, ...).</summary>
    public static IReadOnlyList<string> GroupVersions { get; } = [.. All.Where(k => k.Group.Length > 0).Select(k => k.ApiVersion).Distinct()];

    /// <summary><c>v1</c> or <c>discovery.k8s.io/v1</c>.</summary>
    public string ApiVersion => Group.Length == 0 ? Version : Group + "/" + Version;

    /// <summary>schema.GroupResource.String(): <c>services</c>, <c>endpointslices.discovery.k8s.io</c>.</summary>
    public string QualifiedResource => Group.Length == 0 ? Resource : Resource + "." + Group;

    /// <summary>schema.GroupKind.String(): <c>Service</c>, <c>EndpointSlice.discovery.k8s.io</c>.</summary>
    public string QualifiedKind => Group.Length == 0 ? Kind : Kind + "." + Group;

    public static ResourceKind? ByKind(string apiVersion, string kind) =>
        All.FirstOrDefault(r => r.Kind == kind && r.ApiVersion == apiVersion);
}
