using ActorCluster.Core.Objects;
using k8s.Models;

namespace ActorCluster.Core.Defaulting;

/// <summary>
/// SetDefaults_Pod / PodSpec / Container (pkg/apis/core/v1/defaults.go) plus what the default admission
/// plugins add (DefaultTolerationSeconds, Priority), applied to a fresh clone: what `kubectl get -o yaml` shows.
/// </summary>
public static class PodDefaults
{
    /// <summary>The ServiceAccount every namespace has and a pod runs as unless it names another.</summary>
    public const string DefaultServiceAccountName = "default";

    public const int DefaultTerminationGracePeriodSeconds = 30;
    public const int DefaultTolerationSeconds = 300;
    public const string NotReadyTaint = "node.kubernetes.io/not-ready";
    public const string UnreachableTaint = "node.kubernetes.io/unreachable";

    public static V1Pod Apply(V1Pod input, long tolerationSeconds = DefaultTolerationSeconds)
    {
        var pod = KubeObjects.Clone(input);
        pod.ApiVersion = "v1";
        pod.Kind = "Pod";
        pod.Metadata ??= new V1ObjectMeta();
        var spec = pod.Spec ??= new V1PodSpec();
        ApplySpec(spec);
        spec.EnableServiceLinks ??= true;
        // The ServiceAccount admission plugin's default; v1 also shows it under the deprecated serviceAccount.
        if (string.IsNullOrEmpty(spec.ServiceAccountName)) spec.ServiceAccountName = string.IsNullOrEmpty(spec.ServiceAccount) ? DefaultServiceAccountName : spec.ServiceAccount;
        spec.ServiceAccount = spec.ServiceAccountName;
        spec.Priority ??= 0;
        spec.PreemptionPolicy ??= "PreemptLowerPriority";
        spec.Tolerations ??= [];
        AddDefaultToleration(spec, NotReadyTaint, tolerationSeconds);
        AddDefaultToleration(spec, UnreachableTaint, tolerationSeconds);
        return pod;
    }

    /// <summary>
    /// SetDefaults_PodSpec and the containers' defaults: what a pod template gets too (a Deployment's, a
    /// ReplicaSet's). Service links, priority and the default tolerations belong to pods only (admission adds them).
    /// </summary>
    public static void ApplySpec(V1PodSpec spec)
    {
        if (string.IsNullOrEmpty(spec.RestartPolicy)) spec.RestartPolicy = "Always";
        if (string.IsNullOrEmpty(spec.DnsPolicy)) spec.DnsPolicy = "ClusterFirst";
        if (string.IsNullOrEmpty(spec.SchedulerName)) spec.SchedulerName = "default-scheduler";
        spec.TerminationGracePeriodSeconds ??= DefaultTerminationGracePeriodSeconds;
        spec.SecurityContext ??= new V1PodSecurityContext();

        foreach (var c in spec.Containers ?? [])
        {
            if (string.IsNullOrEmpty(c.ImagePullPolicy)) c.ImagePullPolicy = DefaultPullPolicy(c.Image);
            if (string.IsNullOrEmpty(c.TerminationMessagePath)) c.TerminationMessagePath = "/dev/termination-log";
            if (string.IsNullOrEmpty(c.TerminationMessagePolicy)) c.TerminationMessagePolicy = "File";
            c.Resources ??= new V1ResourceRequirements();
            foreach (var probe in new[] { c.LivenessProbe, c.ReadinessProbe, c.StartupProbe })
            {
                if (probe is null) continue;
                probe.TimeoutSeconds ??= 1;
                probe.PeriodSeconds ??= 10;
                probe.SuccessThreshold ??= 1;
                probe.FailureThreshold ??= 3;
                if (probe.HttpGet is { } get) get.Scheme ??= "HTTP";
            }
            foreach (var p in c.Ports ?? [])
            {
                if (string.IsNullOrEmpty(p.Protocol)) p.Protocol = ServiceTypes.TCP;
            }
        }
    }

    /// <summary>Always for ":latest" or an untagged image, IfNotPresent otherwise (digests included).</summary>
    public static string DefaultPullPolicy(string? image)
    {
        if (string.IsNullOrEmpty(image)) return "Always";
        if (image.Contains('@')) return "IfNotPresent";
        var lastSlash = image.LastIndexOf('/');
        var colon = image.IndexOf(':', lastSlash + 1);
        if (colon < 0) return "Always";
        return image[(colon + 1)..] == "latest" ? "Always" : "IfNotPresent";
    }

    private static void AddDefaultToleration(V1PodSpec spec, string key, long seconds)
    {
        if (spec.Tolerations!.Any(t => t.Key == key && (t.Effect is null || t.Effect == "NoExecute"))) return;
        spec.Tolerations!.Add(new V1Toleration
        {
            Key = key,
            OperatorProperty = "Exists",
            Effect = "NoExecute",
            TolerationSeconds = seconds,
        });
    }
}
