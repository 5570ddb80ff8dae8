using ActorCluster.Core.Objects;
using k8s.Models;
using static ActorCluster.Core.Objects.ServiceTypes;

namespace ActorCluster.Core.Defaulting;

/// <summary>SetDefaults_Service (pkg/apis/core/v1/defaults.go), applied to a fresh clone.</summary>
public static class ServiceDefaults
{
    public static V1Service Apply(V1Service input)
    {
        var svc = KubeObjects.Clone(input);
        svc.ApiVersion = "v1";
        svc.Kind = "Service";
        svc.Metadata ??= new V1ObjectMeta();
        var spec = svc.Spec ??= new V1ServiceSpec();

        if (string.IsNullOrEmpty(spec.SessionAffinity)) spec.SessionAffinity = AffinityNone;
        if (spec.SessionAffinity == AffinityNone) spec.SessionAffinityConfig = null;
        if (spec.SessionAffinity == AffinityClientIP && spec.SessionAffinityConfig?.ClientIP?.TimeoutSeconds is null)
        {
            spec.SessionAffinityConfig = new V1SessionAffinityConfig
            {
                ClientIP = new V1ClientIPConfig { TimeoutSeconds = DefaultClientIPAffinitySeconds },
            };
        }

        if (string.IsNullOrEmpty(spec.Type)) spec.Type = ClusterIP;

        foreach (var port in spec.Ports ?? [])
        {
            if (string.IsNullOrEmpty(port.Protocol)) port.Protocol = TCP;
            if (PortValue.IsEmpty(port.TargetPort)) port.TargetPort = port.Port;
        }

        if (ExternallyAccessible(svc) && string.IsNullOrEmpty(spec.ExternalTrafficPolicy))
            spec.ExternalTrafficPolicy = PolicyCluster;

        if (spec.InternalTrafficPolicy is null && spec.Type is NodePort or LoadBalancer or ClusterIP)
            spec.InternalTrafficPolicy = PolicyCluster;

        if (spec.Type == LoadBalancer)
        {
            spec.AllocateLoadBalancerNodePorts ??= true;
            foreach (var ingress in svc.Status?.LoadBalancer?.Ingress ?? [])
            {
                if (!string.IsNullOrEmpty(ingress.Ip) && ingress.IpMode is null) ingress.IpMode = "VIP";
            }
        }

        svc.Status ??= new V1ServiceStatus();
        svc.Status.LoadBalancer ??= new V1LoadBalancerStatus();
        return svc;
    }
}
