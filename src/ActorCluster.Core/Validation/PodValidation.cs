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

        var volumes = new HashSet<string>(StringComparer.Ordinal);
        errs.AddRange(ValidateVolumes(spec.Volumes ?? [], volumes, specPath.Child("volumes")));
        var containers = spec.Containers ?? [];
        if (containers.Count == 0)
            errs.Add(FieldError.Required(specPath.Child("containers")));
        var names = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < containers.Count; i++)
        {
            errs.AddRange(ValidateContainer(containers[i], names, specPath.Child("containers").Index(i)));
            errs.AddRange(ValidateVolumeMounts(containers[i].VolumeMounts ?? [], volumes, specPath.Child("containers").Index(i).Child("volumeMounts")));
        }

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

    /// <summary>ValidateVolumes: a DNS-label name, unique, exactly one volume type; a ConfigMap's or Secret's name and items.</summary>
    private static IEnumerable<FieldError> ValidateVolumes(IList<V1Volume> volumes, HashSet<string> names, FieldPath path)
    {
        for (var i = 0; i < volumes.Count; i++)
        {
            var v = volumes[i];
            var at = path.Index(i);
            if (string.IsNullOrEmpty(v.Name)) yield return FieldError.Required(at.Child("name"));
            else
            {
                foreach (var m in NameRules.IsDns1123Label(v.Name)) yield return FieldError.Invalid(at.Child("name"), v.Name, m);
                if (!names.Add(v.Name)) yield return FieldError.Duplicate(at.Child("name"), v.Name);
            }
            // Every volume source the model has (each a property besides the name); kube-apiserver names the second one set.
            var sources = typeof(V1Volume).GetProperties().Where(p => p.Name != nameof(V1Volume.Name) && p.GetValue(v) is not null)
                .Select(p => System.Text.Json.JsonNamingPolicy.CamelCase.ConvertName(p.Name)).ToList();
            if (sources.Count == 0) yield return FieldError.Required(at, "must specify a volume type");
            else if (sources.Count > 1) yield return FieldError.Forbidden(at.Child(sources[1]), "may not specify more than 1 volume type");
            if (v.ConfigMap is { } cm)
            {
                if (string.IsNullOrEmpty(cm.Name)) yield return FieldError.Required(at.Child("configMap").Child("name"));
                foreach (var e in ValidateItems(cm.Items, at.Child("configMap").Child("items"))) yield return e;
            }
            if (v.Secret is { } secret)
            {
                if (string.IsNullOrEmpty(secret.SecretName)) yield return FieldError.Required(at.Child("secret").Child("secretName"));
                foreach (var e in ValidateItems(secret.Items, at.Child("secret").Child("items"))) yield return e;
            }
        }
    }

    private static IEnumerable<FieldError> ValidateItems(IList<V1KeyToPath>? items, FieldPath path)
    {
        for (var i = 0; i < (items?.Count ?? 0); i++)
        {
            var item = items![i];
            if (string.IsNullOrEmpty(item.Key)) yield return FieldError.Required(path.Index(i).Child("key"));
            if (string.IsNullOrEmpty(item.Path)) yield return FieldError.Required(path.Index(i).Child("path"));
            else foreach (var e in LocalDescendingPath(item.Path, path.Index(i).Child("path"))) yield return e;
        }
    }

    /// <summary>validateLocalDescendingPath: relative, and never up through "..".</summary>
    private static IEnumerable<FieldError> LocalDescendingPath(string value, FieldPath path)
    {
        if (value.StartsWith('/')) yield return FieldError.Invalid(path, value, "must be a relative path");
        if (value.Split('/', '\\').Contains("..")) yield return FieldError.Invalid(path, value, "must not contain '..'");
    }

    /// <summary>ValidateVolumeMounts: each names a volume of the pod and a unique, non-empty mount path.</summary>
    private static IEnumerable<FieldError> ValidateVolumeMounts(IList<V1VolumeMount> mounts, HashSet<string> volumes, FieldPath path)
    {
        var mountPoints = new HashSet<string>(StringComparer.Ordinal);
        for (var i = 0; i < mounts.Count; i++)
        {
            var m = mounts[i];
            var at = path.Index(i);
            if (string.IsNullOrEmpty(m.Name)) yield return FieldError.Required(at.Child("name"));
            if (!volumes.Contains(m.Name ?? "")) yield return FieldError.NotFound(at.Child("name"), m.Name ?? "");
            if (string.IsNullOrEmpty(m.MountPath)) yield return FieldError.Required(at.Child("mountPath"));
            else if (!mountPoints.Add(m.MountPath)) yield return FieldError.Invalid(at.Child("mountPath"), m.MountPath, "must be unique");
            if (!string.IsNullOrEmpty(m.SubPath)) foreach (var e in LocalDescendingPath(m.SubPath, at.Child("subPath"))) yield return e;
        }
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
