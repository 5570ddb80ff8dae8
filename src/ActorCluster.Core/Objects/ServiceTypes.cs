using k8s.Models;

namespace ActorCluster.Core.Objects;

/// <summary>The string enums of core/v1 Service, and the predicates kube-apiserver uses on them.</summary>
public static class ServiceTypes
{
    public const string ClusterIP = "ClusterIP";
    public const string NodePort = "NodePort";
    public const string LoadBalancer = "LoadBalancer";
    public const string ExternalName = "ExternalName";

    public const string None = "None";

    public const string AffinityNone = "None";
    public const string AffinityClientIP = "ClientIP";
    public const int DefaultClientIPAffinitySeconds = 10800;
    public const int MaxClientIPAffinitySeconds = 86400;

    public const string PolicyCluster = "Cluster";
    public const string PolicyLocal = "Local";

    public const string TCP = "TCP";
    public const string UDP = "UDP";
    public const string SCTP = "SCTP";

    public const string IPv4 = "IPv4";
    public const string IPv6 = "IPv6";
    public const string SingleStack = "SingleStack";
    public const string PreferDualStack = "PreferDualStack";
    public const string RequireDualStack = "RequireDualStack";

    /// <summary>sets.List order (sorted), as kube-apiserver prints "supported values".</summary>
    public static readonly string[] SupportedTypes = [ClusterIP, ExternalName, LoadBalancer, NodePort];
    public static readonly string[] SupportedProtocols = [SCTP, TCP, UDP];
    public static readonly string[] SupportedAffinities = [AffinityClientIP, AffinityNone];
    public static readonly string[] SupportedTrafficPolicies = [PolicyCluster, PolicyLocal];
    public static readonly string[] SupportedIPFamilies = [IPv4, IPv6];
    public static readonly string[] SupportedIPFamilyPolicies = [PreferDualStack, RequireDualStack, SingleStack];

    public static bool IsHeadless(V1Service svc) =>
        svc.Spec?.ClusterIPs is { Count: 1 } ips && ips[0] == None;

    /// <summary>apiservice.ExternallyAccessible.</summary>
    public static bool ExternallyAccessible(V1Service svc) =>
        svc.Spec?.Type is LoadBalancer or NodePort
        || (svc.Spec?.Type == ClusterIP && svc.Spec.ExternalIPs is { Count: > 0 });

    /// <summary>apiservice.NeedsHealthCheck: LoadBalancer with externalTrafficPolicy Local.</summary>
    public static bool NeedsHealthCheck(V1Service svc) =>
        svc.Spec?.Type == LoadBalancer && svc.Spec.ExternalTrafficPolicy == PolicyLocal;

    public static bool NeedsClusterIP(V1Service svc) =>
        svc.Spec?.Type is not ExternalName && !IsHeadless(svc);

    public static bool IsLocal(string? policy) => policy == PolicyLocal;
}
