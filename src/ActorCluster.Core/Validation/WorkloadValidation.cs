using ActorCluster.Core.Api;
using ActorCluster.Core.Selectors;
using k8s.Models;

namespace ActorCluster.Core.Validation;

/// <summary>ValidateDeployment / ValidateReplicaSet (pkg/apis/apps/validation, v1.32), with Kubernetes' words.</summary>
public static class WorkloadValidation
{
    private static readonly string[] StrategyTypes = ["Recreate", "RollingUpdate"];

    public static List<FieldError> Validate(V1Deployment d)
    {
        var errs = MetadataValidation.ValidateObjectMeta(d.Metadata, requiresNamespace: true, MetadataValidation.DnsSubdomainName);
        var spec = d.Spec ?? new V1DeploymentSpec();
        var path = FieldPath.Spec;
        errs.AddRange(NonNegative(spec.Replicas, path.Child("replicas")));
        var selector = ValidateSelector(spec.Selector, path.Child("selector"), errs);
        errs.AddRange(ValidateTemplate(spec.Template, selector, path.Child("template")));
        errs.AddRange(ValidateStrategy(spec.Strategy, path.Child("strategy")));
        errs.AddRange(NonNegative(spec.MinReadySeconds, path.Child("minReadySeconds")));
        errs.AddRange(NonNegative(spec.RevisionHistoryLimit, path.Child("revisionHistoryLimit")));
        if (spec.ProgressDeadlineSeconds is { } deadline)
        {
            errs.AddRange(NonNegative(deadline, path.Child("progressDeadlineSeconds")));
            if (deadline <= (spec.MinReadySeconds ?? 0))
                errs.Add(FieldError.Invalid(path.Child("progressDeadlineSeconds"), deadline, "must be greater than minReadySeconds"));
        }
        return errs;
    }

    public static List<FieldError> Validate(V1ReplicaSet rs)
    {
        var errs = MetadataValidation.ValidateObjectMeta(rs.Metadata, requiresNamespace: true, MetadataValidation.DnsSubdomainName);
        var spec = rs.Spec ?? new V1ReplicaSetSpec();
        var path = FieldPath.Spec;
        errs.AddRange(NonNegative(spec.Replicas, path.Child("replicas")));
        errs.AddRange(NonNegative(spec.MinReadySeconds, path.Child("minReadySeconds")));
        var selector = ValidateSelector(spec.Selector, path.Child("selector"), errs);
        errs.AddRange(ValidateTemplate(spec.Template, selector, path.Child("template")));
        return errs;
    }

    /// <summary>An update: metadata identity, the spec rules, and (apps/v1) a selector that never changes.</summary>
    public static List<FieldError> ValidateUpdate(V1LabelSelector? selector, V1LabelSelector? oldSelector)
    {
        var errs = new List<FieldError>();
        if (!Objects.KubeObjects.SemanticEquals(selector, oldSelector))
            errs.Add(FieldError.Invalid(FieldPath.Spec.Child("selector"), new GoSelector(selector), "field is immutable"));
        return errs;
    }

    private static LabelSelector? ValidateSelector(V1LabelSelector? selector, FieldPath path, List<FieldError> errs)
    {
        if (selector is null)
        {
            errs.Add(FieldError.Required(path));
            return null;
        }
        foreach (var (key, value) in selector.MatchLabels ?? new Dictionary<string, string>())
        {
            errs.AddRange(NameRules.IsQualifiedName(key).Select(m => FieldError.Invalid(path.Child("matchLabels"), key, m)));
            errs.AddRange(NameRules.IsValidLabelValue(value).Select(m => FieldError.Invalid(path.Child("matchLabels"), value, m)));
        }
        var expressions = selector.MatchExpressions ?? [];
        for (var i = 0; i < expressions.Count; i++)
        {
            var e = expressions[i];
            var at = path.Child("matchExpressions").Index(i);
            switch (e.OperatorProperty)
            {
                case "In" or "NotIn":
                    if (e.Values is not { Count: > 0 }) errs.Add(FieldError.Required(at.Child("values"), "must be specified when `operator` is 'In' or 'NotIn'"));
                    break;
                case "Exists" or "DoesNotExist":
                    if (e.Values is { Count: > 0 }) errs.Add(FieldError.Forbidden(at.Child("values"), "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"));
                    break;
                default:
                    errs.Add(FieldError.Invalid(at.Child("operator"), e.OperatorProperty ?? "", "not a valid selector operator"));
                    break;
            }
            errs.AddRange(NameRules.IsQualifiedName(e.Key ?? "").Select(m => FieldError.Invalid(at.Child("key"), e.Key ?? "", m)));
        }
        if ((selector.MatchLabels?.Count ?? 0) + expressions.Count == 0)
        {
            errs.Add(FieldError.Invalid(path, new GoSelector(selector), "empty selector is invalid for deployment"));
            return null;
        }
        return LabelSelector.TryFromApi(selector); // a malformed one is reported above
    }

    /// <summary>ValidatePodTemplateSpecForReplicaSet: labels the selector matches, a valid pod spec, restartPolicy Always.</summary>
    private static List<FieldError> ValidateTemplate(V1PodTemplateSpec? template, LabelSelector? selector, FieldPath path)
    {
        var errs = new List<FieldError>();
        if (template is null)
        {
            errs.Add(FieldError.Required(path));
            return errs;
        }
        var labels = template.Metadata?.Labels;
        if (selector is not null && !selector.MatchesLabels(labels))
            errs.Add(FieldError.Invalid(path.Child("metadata").Child("labels"), new GoMap(labels), "`selector` does not match template `labels`"));
        errs.AddRange(MetadataValidation.ValidateLabels(labels, path.Child("metadata").Child("labels")));
        errs.AddRange(MetadataValidation.ValidateAnnotations(template.Metadata?.Annotations, path.Child("metadata").Child("annotations")));
        var spec = template.Spec ?? new V1PodSpec();
        errs.AddRange(PodValidation.ValidateSpec(spec, path.Child("spec")));
        if (!string.IsNullOrEmpty(spec.RestartPolicy) && spec.RestartPolicy != "Always" && PodValidation.RestartPolicies.Contains(spec.RestartPolicy))
            errs.Add(FieldError.NotSupported(path.Child("spec").Child("restartPolicy"), spec.RestartPolicy, ["Always"]));
        if (spec.ActiveDeadlineSeconds is not null)
            errs.Add(FieldError.Forbidden(path.Child("spec").Child("activeDeadlineSeconds"), "activeDeadlineSeconds in ReplicaSet is not Supported"));
        return errs;
    }

    private static List<FieldError> ValidateStrategy(V1DeploymentStrategy? strategy, FieldPath path)
    {
        var errs = new List<FieldError>();
        var type = strategy?.Type ?? "";
        switch (type)
        {
            case "Recreate":
                if (strategy!.RollingUpdate is not null)
                    errs.Add(FieldError.Forbidden(path.Child("rollingUpdate"), "may not be specified when strategy `type` is 'Recreate'"));
                break;
            case "RollingUpdate":
                var rolling = strategy!.RollingUpdate;
                if (rolling is null)
                {
                    errs.Add(FieldError.Required(path.Child("rollingUpdate"), "this should be defaulted and never be nil"));
                    break;
                }
                var unavailablePath = path.Child("rollingUpdate").Child("maxUnavailable");
                errs.AddRange(PositiveIntOrPercent(rolling.MaxUnavailable, unavailablePath));
                if (Percent(rolling.MaxUnavailable) is > 100)
                    errs.Add(FieldError.Invalid(unavailablePath, (string)rolling.MaxUnavailable!, "must not be greater than 100%"));
                errs.AddRange(PositiveIntOrPercent(rolling.MaxSurge, path.Child("rollingUpdate").Child("maxSurge")));
                if (IsZero(rolling.MaxUnavailable) && IsZero(rolling.MaxSurge))
                    errs.Add(FieldError.Invalid(unavailablePath, GoIntOrString(rolling.MaxUnavailable), "may not be 0 when `maxSurge` is 0"));
                break;
            case "":
                errs.Add(FieldError.Required(path.Child("type")));
                break;
            default:
                errs.Add(FieldError.NotSupported(path.Child("type"), type, StrategyTypes));
                break;
        }
        return errs;
    }

    private static IEnumerable<FieldError> NonNegative(long? value, FieldPath path)
    {
        if (value is < 0) yield return FieldError.Invalid(path, value.Value, "must be greater than or equal to 0");
    }

    private static IEnumerable<FieldError> PositiveIntOrPercent(IntOrString? value, FieldPath path)
    {
        if (value?.Value is not { } text) yield break;
        if (int.TryParse(text, System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out var n) && !text.EndsWith('%'))
        {
            if (n < 0) yield return FieldError.Invalid(path, n, "must be greater than or equal to 0");
            yield break;
        }
        if (Percent(value) is not { } percent)
        {
            yield return FieldError.Invalid(path, text, "must be an integer or percentage (e.g '5%')");
            yield break;
        }
        if (percent < 0) yield return FieldError.Invalid(path, percent, "must be greater than or equal to 0");
    }

    /// <summary>The number of a percentage ("25%" -> 25), null for an integer or anything else.</summary>
    private static int? Percent(IntOrString? value) =>
        value?.Value is { } text && text.EndsWith('%')
        && int.TryParse(text[..^1], System.Globalization.NumberStyles.AllowLeadingSign, System.Globalization.CultureInfo.InvariantCulture, out var p)
            ? p
            : null;

    private static bool IsZero(IntOrString? value) => value?.Value is "0" or "0%";

    private static object GoIntOrString(IntOrString? value) =>
        value?.Value is { } text && !text.EndsWith('%') && int.TryParse(text, System.Globalization.CultureInfo.InvariantCulture, out var n) ? n : value?.Value ?? "";

    /// <summary>A label map as Go's %#v prints it inside a field error.</summary>
    private sealed record GoMap(IDictionary<string, string>? Labels) : IGoValue
    {
        public string GoSyntax() =>
            Labels is null ? "map[string]string(nil)" : "map[string]string{" + string.Join(", ", Labels.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{GoFormat.Quote(kv.Key)}:{GoFormat.Quote(kv.Value)}")) + "}";
    }

    /// <summary>A *metav1.LabelSelector as %#v prints it (the pointer's address cannot be reproduced; its value can).</summary>
    private sealed record GoSelector(V1LabelSelector? Selector) : IGoValue
    {
        public string GoSyntax() => Selector is null ? "(*v1.LabelSelector)(nil)" : $"&v1.LabelSelector{{MatchLabels:{new GoMap(Selector.MatchLabels).GoSyntax()}, MatchExpressions:[]v1.LabelSelectorRequirement{(Selector.MatchExpressions is { Count: > 0 } ? "{...}" : "(nil)")}}}";
    }
}
