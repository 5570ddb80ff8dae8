using ActorCluster.Core.Api;
using ActorCluster.Core.Objects;
using k8s.Models;

namespace ActorCluster.Core.Validation;

/// <summary>The Pod rules of ValidatePodCreate / ValidatePodUpdate (v1.32) that users of ActorCluster meet.</summary>
public static class PodValidation
{
    public static readonly string[] RestartPolicies = ["Always", "OnFailure", "Never"];
    public static readonly string[] DnsPolicies = ["ClusterFirstWithHostNet", "ClusterFirst", "Default", "None"];
    public static readonly string[] PullPolicies = ["Always", "IfNotPresent", "Never"];

    /// <summary>The fixed head of Kubernetes' message for a forbidden pod spec change.</summary>
    public const string SpecUpdateForbidden =
        "pod updates may not change fields other than `spec.containers[*].image`,`spec.initContainers[*].image`,`spec.activeDeadlineSeconds`,`spec.tolerations` (only additions to existing tolerations),`spec.terminationGracePeriodSeconds` (allow it to be set to 1 if it was previously negative)";

    public static List<FieldError> Validate(V1Pod pod)
    {
        var errs = MetadataValidation.ValidateObjectMeta(pod.Metadata, requiresNamespace: true, MetadataValidation.DnsSubdomainName);
        errs.AddRange(ValidateSpec(pod.Spec ?? new V1PodSpec(), FieldPath.Spec));
        return errs;
    }

    /// <summary>ValidatePodSpec at <paramref name="specPath"/> (<c>spec</c> of a pod, <c>spec.template.spec</c> of a template).</summary>
    public static List<FieldError> ValidateSpec(V1PodSpec spec, FieldPath specPath)
    {
        var errs = new List<FieldError>();

        var containers = spec.Containers ?? [];
        if (containers.Count == 0)
            errs.Add(FieldError.Required(specPath.Child("containers")));
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < containers.Count; i++)
            errs.AddRange(ValidateContainer(containers[i], names, specPath.Child("containers").Index(i)));

        var restart = spec.RestartPolicy ?? "";
        if (restart.Length == 0)
            errs.Add(FieldError.Required(specPath.Child("restartPolicy")));
        else if (!RestartPolicies.Contains(restart))
            errs.Add(FieldError.NotSupported(specPath.Child("restartPolicy"), restart, RestartPolicies));

        var dns = spec.DnsPolicy ?? "";
        if (dns.Length == 0)
            errs.Add(FieldError.Required(specPath.Child("dnsPolicy")));
        else if (!DnsPolicies.Contains(dns))
            errs.Add(FieldError.NotSupported(specPath.Child("dnsPolicy"), dns, DnsPolicies));

        errs.AddRange(MetadataValidation.ValidateLabels(spec.NodeSelector, specPath.Child("nodeSelector")));

        if (!string.IsNullOrEmpty(spec.NodeName))
            errs.AddRange(NameRules.IsDns1123Subdomain(spec.NodeName).Select(m => FieldError.Invalid(specPath.Child("nodeName"), spec.NodeName, m)));

        if (spec.TerminationGracePeriodSeconds is < 0)
            errs.Add(FieldError.Invalid(specPath.Child("terminationGracePeriodSeconds"), spec.TerminationGracePeriodSeconds.Value, "must be greater than or equal to 0"));
        return errs;
    }

    /// <summary>
    /// ValidatePodUpdate: metadata identity, then only images, activeDeadlineSeconds, added tolerations and
    /// a grace period change are allowed in the spec. (Kubernetes appends a field diff to the message; we do not.)
    /// </summary>
    public static List<FieldError> ValidateUpdate(V1Pod pod, V1Pod old)
    {
        var errs = MetadataValidation.ValidateObjectMetaUpdate(pod.Metadata, old.Metadata);
        var mutable = KubeObjects.Clone(pod.Spec ?? new V1PodSpec());
        var oldSpec = old.Spec ?? new V1PodSpec();
        // Mask the mutable fields with the old values; what remains must be identical.
        for (var i = 0; i < (mutable.Containers?.Count ?? 0) && i < (oldSpec.Containers?.Count ?? 0); i++)
            mutable.Containers![i].Image = oldSpec.Containers![i].Image;
        mutable.ActiveDeadlineSeconds = oldSpec.ActiveDeadlineSeconds;
        mutable.Tolerations = oldSpec.Tolerations;
        mutable.TerminationGracePeriodSeconds = oldSpec.TerminationGracePeriodSeconds;
        if (!KubeObjects.SemanticEquals(mutable, oldSpec))
            errs.Add(FieldError.Forbidden(FieldPath.Spec, SpecUpdateForbidden));
        return errs;
    }

    /// <summary>validateProbe: one handler, non-negative numbers, successThreshold 1 for liveness and startup probes.</summary>
    private static IEnumerable<FieldError> ValidateProbe(V1Probe? probe, FieldPath path, bool successMustBeOne)
    {
        if (probe is null) yield break;
        var handlers = new (string Name, bool Set)[] { ("exec", probe.Exec is not null), ("httpGet", probe.HttpGet is not null), ("tcpSocket", probe.TcpSocket is not null), ("grpc", probe.Grpc is not null) };
        var set = handlers.Where(h => h.Set).ToList();
        if (set.Count == 0) yield return FieldError.Required(path, "must specify a handler type");
        foreach (var extra in set.Skip(1)) yield return FieldError.Forbidden(path.Child(extra.Name), "may not specify more than 1 handler type");
        foreach (var (name, value) in new (string, int?)[]
                 {
                     ("initialDelaySeconds", probe.InitialDelaySeconds), ("timeoutSeconds", probe.TimeoutSeconds), ("periodSeconds", probe.PeriodSeconds),
                     ("successThreshold", probe.SuccessThreshold), ("failureThreshold", probe.FailureThreshold),
                 })
        {
            if (value is < 0) yield return FieldError.Invalid(path.Child(name), value.Value, "must be greater than or equal to 0");
        }
        if (successMustBeOne && probe.SuccessThreshold is { } success && success != 1)
            yield return FieldError.Invalid(path.Child("successThreshold"), success, "must be 1");
        var port = probe.HttpGet?.Port ?? probe.TcpSocket?.Port;
        var portPath = path.Child(probe.HttpGet is not null ? "httpGet" : "tcpSocket").Child("port");
        if (port?.Value is { } text)
        {
            var numeric = int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var number);
            foreach (var m in numeric ? NameRules.IsValidPortNum(number) : NameRules.IsValidPortName(text))
                yield return FieldError.Invalid(portPath, numeric ? number : text, m);
        }
        if (probe.Exec is { } exec && exec.Command is not { Count: > 0 })
            yield return FieldError.Required(path.Child("exec").Child("command"));
    }

    private static IEnumerable<FieldError> ValidateContainer(V1Container c, HashSet<string> names, FieldPath path)
    {
        if (string.IsNullOrEmpty(c.Name))
            yield return FieldError.Required(path.Child("name"));
        else
        {
            foreach (var m in NameRules.IsDns1123Label(c.Name))
                yield return FieldError.Invalid(path.Child("name"), c.Name, m);
            if (!names.Add(c.Name))
                yield return FieldError.Duplicate(path.Child("name"), c.Name);
        }

        if (string.IsNullOrEmpty(c.Image))
            yield return FieldError.Required(path.Child("image"));
        else if (c.Image != c.Image.Trim())
            yield return FieldError.Invalid(path.Child("image"), c.Image, "must not have leading or trailing whitespace");

        if (!string.IsNullOrEmpty(c.ImagePullPolicy) && !PullPolicies.Contains(c.ImagePullPolicy))
            yield return FieldError.NotSupported(path.Child("imagePullPolicy"), c.ImagePullPolicy, PullPolicies);

        foreach (var e in ValidateProbe(c.LivenessProbe, path.Child("livenessProbe"), successMustBeOne: true)) yield return e;
        foreach (var e in ValidateProbe(c.ReadinessProbe, path.Child("readinessProbe"), successMustBeOne: false)) yield return e;
        foreach (var e in ValidateProbe(c.StartupProbe, path.Child("startupProbe"), successMustBeOne: true)) yield return e;

        var portNames = new HashSet<string>(StringComparer.Ordinal);
        var ports = c.Ports ?? [];
        for (var i = 0; i < ports.Count; i++)
        {
            var p = ports[i];
            var idx = path.Child("ports").Index(i);
            if (!string.IsNullOrEmpty(p.Name))
            {
                var msgs = NameRules.IsValidPortName(p.Name);
                foreach (var m in msgs)
                    yield return FieldError.Invalid(idx.Child("name"), p.Name, m);
                if (msgs.Count == 0 && !portNames.Add(p.Name))
                    yield return FieldError.Duplicate(idx.Child("name"), p.Name);
            }
            if (p.ContainerPort == 0)
                yield return FieldError.Required(idx.Child("containerPort"));
            else
            {
                foreach (var m in NameRules.IsValidPortNum(p.ContainerPort))
                    yield return FieldError.Invalid(idx.Child("containerPort"), p.ContainerPort, m);
            }
            if (p.HostPort is { } hp && hp != 0)
            {
                foreach (var m in NameRules.IsValidPortNum(hp))
                    yield return FieldError.Invalid(idx.Child("hostPort"), hp, m);
            }
            if (string.IsNullOrEmpty(p.Protocol))
                yield return FieldError.Required(idx.Child("protocol"));
            else if (!ServiceTypes.SupportedProtocols.Contains(p.Protocol))
                yield return FieldError.NotSupported(idx.Child("protocol"), p.Protocol, ServiceTypes.SupportedProtocols);
        }
    }
}
