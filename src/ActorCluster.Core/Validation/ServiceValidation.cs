// Over 350 lines on purpose: it follows Kubernetes' ValidateService (pkg/apis/core/validation) rule by rule, in its
// order, so each message can be checked against the original side by side.
using ActorCluster.Core.Api;
using ActorCluster.Core.Objects;
using k8s.Models;
using static ActorCluster.Core.Objects.ServiceTypes;

namespace ActorCluster.Core.Validation;

/// <summary>
/// kube-apiserver's ValidateService and ValidateServiceUpdate (pkg/apis/core/validation, v1.32), rule by rule
/// and in the same order, so combined errors print in the order kubectl users see.
/// Works on a defaulted object (defaults run before validation, as in the apiserver).
/// </summary>
public static class ServiceValidation
{
    private const int KubeletPort = 10250;

    public static List<FieldError> Validate(V1Service svc)
    {
        var errs = MetadataValidation.ValidateObjectMeta(svc.Metadata, requiresNamespace: true, MetadataValidation.ServiceName);
        var spec = svc.Spec ?? new V1ServiceSpec();
        var specPath = FieldPath.Spec;
        var ports = spec.Ports ?? [];
        var headless = IsHeadless(svc);

        if (ports.Count == 0 && !headless && spec.Type != ExternalName)
            errs.Add(FieldError.Required(specPath.Child("ports")));

        switch (spec.Type)
        {
            case LoadBalancer:
                if (headless)
                    errs.Add(FieldError.Invalid(specPath.Child("clusterIPs").Index(0), spec.ClusterIPs![0], "may not be set to 'None' for LoadBalancer services"));
                for (var i = 0; i < ports.Count; i++)
                {
                    if (ports[i].Port == KubeletPort)
                        errs.Add(FieldError.Invalid(specPath.Child("ports").Index(i), ports[i].Port,
                            $"may not expose port {KubeletPort} externally since it is used by kubelet"));
                }
                break;
            case NodePort:
                if (headless)
                    errs.Add(FieldError.Invalid(specPath.Child("clusterIPs").Index(0), spec.ClusterIPs![0], "may not be set to 'None' for NodePort services"));
                break;
            case ExternalName:
                if (spec.ClusterIPs is { Count: > 0 })
                    errs.Add(FieldError.Forbidden(specPath.Child("clusterIPs"), "may not be set for ExternalName services"));
                if (spec.IpFamilies is { Count: > 0 })
                    errs.Add(FieldError.Forbidden(specPath.Child("ipFamilies"), "may not be set for ExternalName services"));
                if (spec.IpFamilyPolicy is not null)
                    errs.Add(FieldError.Forbidden(specPath.Child("ipFamilyPolicy"), "may not be set for ExternalName services"));
                // The value (a CNAME) may carry one trailing dot to mark it fully qualified.
                var cname = spec.ExternalName ?? "";
                if (cname.EndsWith('.')) cname = cname[..^1];
                if (cname.Length > 0)
                    errs.AddRange(NameRules.IsDns1123Subdomain(cname).Select(m => FieldError.Invalid(specPath.Child("externalName"), cname, m)));
                else
                    errs.Add(FieldError.Required(specPath.Child("externalName")));
                break;
        }

        var portNames = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < ports.Count; i++)
            errs.AddRange(ValidateServicePort(ports[i], ports.Count > 1, portNames, specPath.Child("ports").Index(i)));

        if (spec.Selector is not null)
            errs.AddRange(MetadataValidation.ValidateLabels(spec.Selector, specPath.Child("selector")));

        if (string.IsNullOrEmpty(spec.SessionAffinity))
            errs.Add(FieldError.Required(specPath.Child("sessionAffinity")));
        else if (!SupportedAffinities.Contains(spec.SessionAffinity))
            errs.Add(FieldError.NotSupported(specPath.Child("sessionAffinity"), spec.SessionAffinity, SupportedAffinities));

        if (spec.SessionAffinity == AffinityClientIP)
            errs.AddRange(ValidateClientIPAffinityConfig(spec.SessionAffinityConfig, specPath.Child("sessionAffinityConfig")));
        else if (spec.SessionAffinity == AffinityNone && spec.SessionAffinityConfig is not null)
            errs.Add(FieldError.Forbidden(specPath.Child("sessionAffinityConfig"), $"must not be set when session affinity is {AffinityNone}"));

        errs.AddRange(ValidateClusterIPsRelatedFields(svc));

        var externalIPs = spec.ExternalIPs ?? [];
        for (var i = 0; i < externalIPs.Count; i++)
        {
            var idx = specPath.Child("externalIPs").Index(i);
            if (!NameRules.IsValidIP(externalIPs[i]))
                errs.Add(FieldError.Invalid(idx, externalIPs[i], "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"));
            else
                errs.AddRange(ValidateNonSpecialIP(externalIPs[i], idx));
        }

        if (string.IsNullOrEmpty(spec.Type))
            errs.Add(FieldError.Required(specPath.Child("type")));
        else if (!SupportedTypes.Contains(spec.Type))
            errs.Add(FieldError.NotSupported(specPath.Child("type"), spec.Type, SupportedTypes));

        if (spec.Type == ClusterIP)
        {
            for (var i = 0; i < ports.Count; i++)
            {
                if (ports[i].NodePort is { } np && np != 0)
                    errs.Add(FieldError.Forbidden(specPath.Child("ports").Index(i).Child("nodePort"), "may not be used when `type` is 'ClusterIP'"));
            }
        }

        var nodePorts = new HashSet<(string?, int)>();
        for (var i = 0; i < ports.Count; i++)
        {
            if (ports[i].NodePort is not { } np || np == 0) continue;
            if (!nodePorts.Add((ports[i].Protocol, np)))
                errs.Add(FieldError.Duplicate(specPath.Child("ports").Index(i).Child("nodePort"), np));
        }

        var servicePorts = new HashSet<(string?, int)>();
        for (var i = 0; i < ports.Count; i++)
        {
            if (!servicePorts.Add((ports[i].Protocol, ports[i].Port)))
                errs.Add(FieldError.Duplicate(specPath.Child("ports").Index(i), new ServicePortKey(ports[i].Protocol ?? "", ports[i].Port)));
        }

        if (spec.LoadBalancerSourceRanges is { Count: > 0 } ranges)
        {
            // Kubernetes spells this path with a capital L; kept as is.
            var rangesPath = specPath.Child("LoadBalancerSourceRanges");
            if (spec.Type != LoadBalancer)
                errs.Add(FieldError.Forbidden(rangesPath, "may only be used when `type` is 'LoadBalancer'"));
            for (var i = 0; i < ranges.Count; i++)
            {
                var value = ranges[i].Trim();
                if (!NameRules.IsValidCidr(value))
                    errs.Add(FieldError.Invalid(rangesPath.Index(i), value, "must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)"));
            }
        }

        if (spec.AllocateLoadBalancerNodePorts is not null && spec.Type != LoadBalancer)
            errs.Add(FieldError.Forbidden(specPath.Child("allocateLoadBalancerNodePorts"), "may only be used when `type` is 'LoadBalancer'"));
        if (spec.Type == LoadBalancer && spec.AllocateLoadBalancerNodePorts is null)
            // Kubernetes reports this one without the "spec." prefix.
            errs.Add(FieldError.Required(FieldPath.Root("allocateLoadBalancerNodePorts")));

        if (spec.LoadBalancerClass is not null)
        {
            if (spec.Type != LoadBalancer)
                errs.Add(FieldError.Forbidden(specPath.Child("loadBalancerClass"), "may only be used when `type` is 'LoadBalancer'"));
            else
                errs.AddRange(NameRules.IsQualifiedName(spec.LoadBalancerClass)
                    .Select(m => FieldError.Invalid(specPath.Child("loadBalancerClass"), spec.LoadBalancerClass, m)));
        }

        errs.AddRange(ValidateExternalTrafficPolicy(svc));
        errs.AddRange(ValidateInternalTrafficPolicy(svc));

        if (spec.TrafficDistribution is not null && spec.TrafficDistribution != "PreferClose")
            errs.Add(FieldError.NotSupported(specPath.Child("trafficDistribution"), spec.TrafficDistribution, ["PreferClose"]));

        return errs;
    }

    /// <summary>ValidateServiceUpdate: metadata identity, immutable cluster IPs, health check port, then the full object.</summary>
    public static List<FieldError> ValidateUpdate(V1Service svc, V1Service old)
    {
        var errs = MetadataValidation.ValidateObjectMetaUpdate(svc.Metadata, old.Metadata);
        errs.AddRange(ValidateClusterIPsUpdate(old, svc));
        if (old.Spec?.LoadBalancerClass is { } oldClass && old.Spec.Type == LoadBalancer && svc.Spec?.Type == LoadBalancer
            && svc.Spec.LoadBalancerClass != oldClass)
            errs.Add(FieldError.Invalid(FieldPath.Spec.Child("loadBalancerClass"), svc.Spec.LoadBalancerClass, "may not change once set"));
        if (NeedsHealthCheck(old) && NeedsHealthCheck(svc) && old.Spec!.HealthCheckNodePort != svc.Spec!.HealthCheckNodePort)
            errs.Add(FieldError.Forbidden(FieldPath.Spec.Child("healthCheckNodePort"), "field is immutable"));
        errs.AddRange(Validate(svc));
        return errs;
    }

    private static IEnumerable<FieldError> ValidateServicePort(V1ServicePort sp, bool requireName, HashSet<string> names, FieldPath path)
    {
        if (requireName && string.IsNullOrEmpty(sp.Name))
            yield return FieldError.Required(path.Child("name"));
        else if (!string.IsNullOrEmpty(sp.Name))
        {
            foreach (var m in NameRules.IsDns1123Label(sp.Name))
                yield return FieldError.Invalid(path.Child("name"), sp.Name, m);
            if (!names.Add(sp.Name))
                yield return FieldError.Duplicate(path.Child("name"), sp.Name);
        }

        foreach (var m in NameRules.IsValidPortNum(sp.Port))
            yield return FieldError.Invalid(path.Child("port"), sp.Port, m);

        if (string.IsNullOrEmpty(sp.Protocol))
            yield return FieldError.Required(path.Child("protocol"));
        else if (!SupportedProtocols.Contains(sp.Protocol))
            yield return FieldError.NotSupported(path.Child("protocol"), sp.Protocol, SupportedProtocols);

        foreach (var e in ValidatePortNumOrName(sp.TargetPort, path.Child("targetPort")))
            yield return e;

        if (sp.AppProtocol is not null)
        {
            foreach (var m in NameRules.IsQualifiedName(sp.AppProtocol))
                yield return FieldError.Invalid(path.Child("appProtocol"), sp.AppProtocol, m);
        }
    }

    /// <summary>ValidatePortNumOrName: numbers 1-65535, names by the IANA service-name rules.</summary>
    public static IEnumerable<FieldError> ValidatePortNumOrName(IntOrString? port, FieldPath path)
    {
        var value = port?.Value ?? "";
        if (PortValue.TryNumber(port, out var n))
        {
            foreach (var m in NameRules.IsValidPortNum(n))
                yield return FieldError.Invalid(path, n, m);
        }
        else
        {
            foreach (var m in NameRules.IsValidPortName(value))
                yield return FieldError.Invalid(path, value, m);
        }
    }

    private static IEnumerable<FieldError> ValidateClientIPAffinityConfig(V1SessionAffinityConfig? config, FieldPath path)
    {
        var detail = $"when session affinity type is {AffinityClientIP}";
        if (config is null)
            yield return FieldError.Required(path, detail);
        else if (config.ClientIP is null)
            yield return FieldError.Required(path.Child("clientIP"), detail);
        else if (config.ClientIP.TimeoutSeconds is not { } timeout)
            yield return FieldError.Required(path.Child("clientIP").Child("timeoutSeconds"), detail);
        else if (timeout <= 0 || timeout > MaxClientIPAffinitySeconds)
            yield return FieldError.Invalid(path.Child("clientIP").Child("timeoutSeconds"), timeout,
                $"must be greater than 0 and less than {MaxClientIPAffinitySeconds}");
    }

    private static IEnumerable<FieldError> ValidateNonSpecialIP(string value, FieldPath path)
    {
        var ip = NameRules.ParseIP(value)!;
        var bytes = ip.GetAddressBytes();
        var v4 = bytes.Length == 4;
        if (ip.Equals(System.Net.IPAddress.Any) || ip.Equals(System.Net.IPAddress.IPv6Any))
            yield return FieldError.Invalid(path, value, $"may not be unspecified ({value})");
        if (System.Net.IPAddress.IsLoopback(ip))
            yield return FieldError.Invalid(path, value, "may not be in the loopback range (127.0.0.0/8, ::1/128)");
        if ((v4 && bytes[0] == 169 && bytes[1] == 254) || (!v4 && ip.IsIPv6LinkLocal))
            yield return FieldError.Invalid(path, value, "may not be in the link-local range (169.254.0.0/16, fe80::/10)");
        if ((v4 && bytes[0] == 224 && bytes[1] == 0 && bytes[2] == 0) || (!v4 && bytes[0] == 0xff && (bytes[1] & 0x0f) == 2))
            yield return FieldError.Invalid(path, value, "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)");
    }

    private static List<FieldError> ValidateClusterIPsRelatedFields(V1Service svc)
    {
        var errs = new List<FieldError>();
        var spec = svc.Spec!;
        if (spec.Type == ExternalName) return errs;
        var clusterIPsPath = FieldPath.Spec.Child("clusterIPs");
        var clusterIPs = spec.ClusterIPs ?? [];

        if (!string.IsNullOrEmpty(spec.ClusterIP))
        {
            if (clusterIPs.Count == 0)
                errs.Add(FieldError.Required(clusterIPsPath));
            else if (clusterIPs[0] != spec.ClusterIP)
                errs.Add(FieldError.Invalid(clusterIPsPath, clusterIPs, "first value must match `clusterIP`"));
        }
        else if (clusterIPs.Count != 0)
        {
            errs.Add(FieldError.Invalid(clusterIPsPath, clusterIPs, "must be empty when `clusterIP` is not specified"));
        }

        var families = spec.IpFamilies ?? [];
        var seen = new HashSet<string>();
        for (var i = 0; i < families.Count; i++)
        {
            if (!SupportedIPFamilies.Contains(families[i]))
                errs.Add(FieldError.NotSupported(FieldPath.Spec.Child("ipFamilies").Index(i), families[i], SupportedIPFamilies));
            if (!seen.Add(families[i]))
                errs.Add(FieldError.Duplicate(FieldPath.Spec.Child("ipFamilies").Index(i), families[i]));
        }

        if (spec.IpFamilyPolicy is not null && !SupportedIPFamilyPolicies.Contains(spec.IpFamilyPolicy))
            errs.Add(FieldError.NotSupported(FieldPath.Spec.Child("ipFamilyPolicy"), spec.IpFamilyPolicy, SupportedIPFamilyPolicies));

        var hasInvalidIPs = false;
        for (var i = 0; i < clusterIPs.Count; i++)
        {
            if (i == 0 && clusterIPs[i] == None)
            {
                if (clusterIPs.Count > 1)
                {
                    hasInvalidIPs = true;
                    errs.Add(FieldError.Invalid(clusterIPsPath, clusterIPs, "'None' must be the first and only value"));
                }
                continue;
            }
            if (!NameRules.IsValidIP(clusterIPs[i]))
            {
                hasInvalidIPs = true;
                errs.Add(FieldError.Invalid(clusterIPsPath.Index(i), clusterIPs[i], "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)"));
            }
        }

        if (clusterIPs.Count > 2)
            errs.Add(FieldError.Invalid(clusterIPsPath, clusterIPs, "may only hold up to 2 values"));

        if (hasInvalidIPs) return errs;

        if (clusterIPs.Count > 1)
        {
            var isV6 = clusterIPs.Select(ip => ip.Contains(':')).ToList();
            var dualStack = clusterIPs.Count == 2 && isV6[0] != isV6[1];
            if (!dualStack)
                errs.Add(FieldError.Invalid(clusterIPsPath, clusterIPs, "may specify no more than one IP for each IP family"));
        }

        if (!IsHeadless(svc) && clusterIPs.Count > 0 && families.Count > 0)
        {
            for (var i = 0; i < clusterIPs.Count && i < families.Count; i++)
            {
                var v6 = clusterIPs[i].Contains(':');
                if (families[i] == IPv4 && v6)
                    errs.Add(FieldError.Invalid(clusterIPsPath.Index(i), clusterIPs[i], $"expected an IPv4 value as indicated by `ipFamilies[{i}]`"));
                if (families[i] == IPv6 && !v6)
                    errs.Add(FieldError.Invalid(clusterIPsPath.Index(i), clusterIPs[i], $"expected an IPv6 value as indicated by `ipFamilies[{i}]`"));
            }
        }
        return errs;
    }

    private static List<FieldError> ValidateExternalTrafficPolicy(V1Service svc)
    {
        var errs = new List<FieldError>();
        var spec = svc.Spec!;
        var path = FieldPath.Spec;
        if (!ExternallyAccessible(svc))
        {
            if (!string.IsNullOrEmpty(spec.ExternalTrafficPolicy))
                errs.Add(FieldError.Invalid(path.Child("externalTrafficPolicy"), spec.ExternalTrafficPolicy, "may only be set for externally-accessible services"));
        }
        else if (string.IsNullOrEmpty(spec.ExternalTrafficPolicy))
        {
            errs.Add(FieldError.Required(path.Child("externalTrafficPolicy")));
        }
        else if (!SupportedTrafficPolicies.Contains(spec.ExternalTrafficPolicy))
        {
            errs.Add(FieldError.NotSupported(path.Child("externalTrafficPolicy"), spec.ExternalTrafficPolicy, SupportedTrafficPolicies));
        }

        var hc = spec.HealthCheckNodePort ?? 0;
        if (NeedsHealthCheck(svc))
        {
            if (hc == 0)
                errs.Add(FieldError.Required(path.Child("healthCheckNodePort")));
            else
                errs.AddRange(NameRules.IsValidPortNum(hc).Select(m => FieldError.Invalid(path.Child("healthCheckNodePort"), hc, m)));
        }
        else if (hc != 0)
        {
            errs.Add(FieldError.Invalid(path.Child("healthCheckNodePort"), hc,
                "may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"));
        }
        return errs;
    }

    private static List<FieldError> ValidateInternalTrafficPolicy(V1Service svc)
    {
        var errs = new List<FieldError>();
        var spec = svc.Spec!;
        if (spec.Type is ClusterIP or NodePort or LoadBalancer)
        {
            var path = FieldPath.Spec.Child("internalTrafficPolicy");
            if (spec.InternalTrafficPolicy is null)
                errs.Add(FieldError.Required(path));
            else if (!SupportedTrafficPolicies.Contains(spec.InternalTrafficPolicy))
                errs.Add(FieldError.NotSupported(path, spec.InternalTrafficPolicy, SupportedTrafficPolicies));
        }
        return errs;
    }

    private static List<FieldError> ValidateClusterIPsUpdate(V1Service old, V1Service svc)
    {
        var errs = new List<FieldError>();
        if (svc.Spec?.Type == ExternalName || old.Spec?.Type == ExternalName) return errs;
        if (IsHeadless(old) && IsHeadless(svc)) return errs;
        var oldIPs = old.Spec?.ClusterIPs ?? [];
        var newIPs = svc.Spec?.ClusterIPs ?? [];
        var path = FieldPath.Spec.Child("clusterIPs");
        if (oldIPs.Count == newIPs.Count)
        {
            for (var i = 0; i < oldIPs.Count; i++)
            {
                if (oldIPs[i] != newIPs[i])
                    errs.Add(FieldError.Invalid(path.Index(i), newIPs, "may not change once set"));
            }
        }
        else if (oldIPs.Count > newIPs.Count)
        {
            if (newIPs.Count == 0)
                errs.Add(FieldError.Invalid(path.Index(0), newIPs, "primary clusterIP can not be unset"));
            if (oldIPs.Count > 0 && newIPs.Count > 0 && newIPs[0] != oldIPs[0])
                errs.Add(FieldError.Invalid(path.Index(0), newIPs, "may not change once set"));
            if (newIPs.Count == 1 && svc.Spec?.IpFamilyPolicy != SingleStack)
                errs.Add(FieldError.Invalid(path.Index(0), newIPs, "must be set to 'SingleStack' when releasing the secondary clusterIP"));
        }
        else if (oldIPs.Count > 0 && newIPs[0] != oldIPs[0])
        {
            errs.Add(FieldError.Invalid(path.Index(0), newIPs, "may not change once set"));
        }
        return errs;
    }
}

/// <summary>The (protocol, port) key Kubernetes prints, as a whole Go struct, for a duplicate service port.</summary>
public sealed record ServicePortKey(string Protocol, int Port) : IGoValue
{
    public string GoSyntax() =>
        $"core.ServicePort{{Name:\"\", Protocol:{GoFormat.Quote(Protocol)}, AppProtocol:(*string)(nil), Port:{Port}, " +
        "TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}, NodePort:0}";
}
