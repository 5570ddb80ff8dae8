using ActorCluster.Core.Objects;
using k8s.Models;

namespace ActorCluster.Core.Defaulting;

/// <summary>
/// SetDefaults_Pod / PodSpec / Container (pkg/apis/core/v1/defaults.go) plus what the default admission
/// plugins add (DefaultTolerationSeconds, Priority), applied to a fresh clone: what `kubectl get -o yaml` shows.
/// </summary>
public static class PodDefaults
{
    public const int DefaultTerminationGracePeriodSeconds = 30;
    public const int DefaultTolerationSeconds = 300;

    public static V1Pod Apply(V1Pod input)
    {
        var pod = KubeObjects.Clone(input);
        pod.ApiVersion = "v1";
        pod.Kind = "Pod";
        pod.Metadata ??= new V1ObjectMeta();
        var spec = pod.Spec ??= new V1PodSpec();

        if (string.IsNullOrEmpty(spec.RestartPolicy)) spec.RestartPolicy = "Always";
        if (string.IsNullOrEmpty(spec.DnsPolicy)) spec.DnsPolicy = "ClusterFirst";
        if (string.IsNullOrEmpty(spec.SchedulerName)) spec.SchedulerName = "default-scheduler";
        spec.TerminationGracePeriodSeconds ??= DefaultTerminationGracePeriodSeconds;
        spec.SecurityContext ??= new V1PodSecurityContext();
        spec.EnableServiceLinks ??= true;
        spec.Priority ??= 0;
        spec.PreemptionPolicy ??= "PreemptLowerPriority";

        foreach (var c in spec.Containers ?? [])
        {
            if (string.IsNullOrEmpty(c.ImagePullPolicy)) c.ImagePullPolicy = DefaultPullPolicy(c.Image);
            if (string.IsNullOrEmpty(c.TerminationMessagePath)) c.TerminationMessagePath = "/dev/termination-log";
            if (string.IsNullOrEmpty(c.TerminationMessagePolicy)) c.TerminationMessagePolicy = "File";
            c.Resources ??= new V1ResourceRequirements();
            foreach (var p in c.Ports ?? [])
            {
                if (string.IsNullOrEmpty(p.Protocol)) p.Protocol = ServiceTypes.TCP;
            }
        }

        spec.Tolerations ??= [];
        AddDefaultToleration(spec, "node.kubernetes.io/not-ready");
        AddDefaultToleration(spec, "node.kubernetes.io/unreachable");
        return pod;
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

    private static void AddDefaultToleration(V1PodSpec spec, string key)
    {
        if (spec.Tolerations!.Any(t => t.Key == key && (t.Effect is null || t.Effect == "NoExecute"))) return;
        spec.Tolerations!.Add(new V1Toleration
        {
            Key = key,
            OperatorProperty = "Exists",
            Effect = "NoExecute",
            TolerationSeconds = DefaultTolerationSeconds,
        });
    }
}
