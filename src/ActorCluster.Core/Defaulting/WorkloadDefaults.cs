using k8s.Models;

namespace ActorCluster.Core.Defaulting;

/// <summary>apps/v1 SetDefaults_Deployment and SetDefaults_ReplicaSet, plus the pod template's spec defaults.</summary>
public static class WorkloadDefaults
{
    public const string RollingUpdate = "RollingUpdate";
    public const string Recreate = "Recreate";

    public static void Apply(V1Deployment d)
    {
        d.ApiVersion = "apps/v1";
        d.Kind = "Deployment";
        var spec = d.Spec ??= new V1DeploymentSpec();
        spec.Replicas ??= 1;
        var strategy = spec.Strategy ??= new V1DeploymentStrategy();
        if (string.IsNullOrEmpty(strategy.Type)) strategy.Type = RollingUpdate;
        if (strategy.Type == RollingUpdate)
        {
            var rolling = strategy.RollingUpdate ??= new V1RollingUpdateDeployment();
            rolling.MaxUnavailable ??= "25%";
            rolling.MaxSurge ??= "25%";
        }
        spec.RevisionHistoryLimit ??= 10;
        spec.ProgressDeadlineSeconds ??= 600;
        ApplyTemplate(spec.Template ??= new V1PodTemplateSpec());
    }

    public static void Apply(V1ReplicaSet rs)
    {
        rs.ApiVersion = "apps/v1";
        rs.Kind = "ReplicaSet";
        var spec = rs.Spec ??= new V1ReplicaSetSpec();
        spec.Replicas ??= 1;
        ApplyTemplate(spec.Template ??= new V1PodTemplateSpec());
    }

    private static void ApplyTemplate(V1PodTemplateSpec template)
    {
        template.Metadata ??= new V1ObjectMeta();
        PodDefaults.ApplySpec(template.Spec ??= new V1PodSpec());
    }
}
