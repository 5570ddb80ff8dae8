using ActorCluster.Core.Api;
using ActorCluster.Core.Defaulting;
using k8s.Models;

namespace ActorCluster.Core.Validation;

/// <summary>
/// batch/v1 Jobs as kube-apiserver takes them: SetDefaults_Job (one completion, parallelism 1, backoffLimit 6,
/// NonIndexed), the job controller's labels and selector on the pod template (the Job's uid and name), and
/// ValidateJob's rules that users meet, with its messages.
/// </summary>
public static class JobValidation
{
    public const string ControllerUidLabel = "batch.kubernetes.io/controller-uid";
    public const string JobNameLabel = "batch.kubernetes.io/job-name";
    public static readonly string[] RestartPolicies = ["OnFailure", "Never"];

    /// <summary>SetDefaults_Job's backoffLimit: the failed pods a Job tolerates before it fails.</summary>
    public const int DefaultBackoffLimit = 6;

    /// <summary>The defaults and generated selector of a new Job (its uid is set by then).</summary>
    public static void Prepare(V1Job job)
    {
        var spec = job.Spec ??= new V1JobSpec();
        if (spec.Completions is null && spec.Parallelism is null) spec.Completions = 1;
        spec.Parallelism ??= 1;
        spec.BackoffLimit ??= DefaultBackoffLimit;
        spec.CompletionMode ??= "NonIndexed";
        spec.Suspend ??= false;
        spec.PodReplacementPolicy ??= "TerminatingOrFailed";
        spec.Template ??= new V1PodTemplateSpec();
        spec.Template.Metadata ??= new V1ObjectMeta();
        if (spec.ManualSelector != true)
        {
            var labels = spec.Template.Metadata.Labels ??= new Dictionary<string, string>();
            labels[ControllerUidLabel] = job.Metadata.Uid;
            labels[JobNameLabel] = job.Metadata.Name;
            labels["controller-uid"] = job.Metadata.Uid;
            labels["job-name"] = job.Metadata.Name;
            spec.Selector = new V1LabelSelector { MatchLabels = new Dictionary<string, string> { [ControllerUidLabel] = job.Metadata.Uid } };
        }
        spec.Template.Spec ??= new V1PodSpec();
        PodDefaults.ApplySpec(spec.Template.Spec);
    }

    public static List<FieldError> Validate(V1Job job)
    {
        var errs = new List<FieldError>();
        var spec = job.Spec ?? new V1JobSpec();
        var path = FieldPath.Spec;
        foreach (var (name, value) in new[] { ("parallelism", spec.Parallelism), ("completions", spec.Completions), ("backoffLimit", spec.BackoffLimit), ("ttlSecondsAfterFinished", spec.TtlSecondsAfterFinished) })
        {
            if (value is < 0) errs.Add(FieldError.Invalid(path.Child(name), value, "must be greater than or equal to 0"));
        }
        if (spec.ActiveDeadlineSeconds is <= 0) errs.Add(FieldError.Invalid(path.Child("activeDeadlineSeconds"), spec.ActiveDeadlineSeconds, "must be greater than 0"));
        var templateSpec = spec.Template?.Spec ?? new V1PodSpec();
        errs.AddRange(PodValidation.ValidateSpec(templateSpec, path.Child("template").Child("spec"))
            .Where(e => e.Field != "spec.template.spec.restartPolicy"));
        if (!RestartPolicies.Contains(templateSpec.RestartPolicy))
            errs.Add(FieldError.NotSupported(path.Child("template").Child("spec").Child("restartPolicy"), templateSpec.RestartPolicy ?? "", RestartPolicies));
        return errs;
    }
}
