using ActorCluster.Core.Api;
using k8s.Models;

namespace ActorCluster.Core.Validation;

/// <summary>Which name rule an object kind uses (apimachinery ValidateNameFunc).</summary>
public delegate IReadOnlyList<string> NameRule(string name);

/// <summary>ValidateObjectMeta / ValidateObjectMetaUpdate and the label and annotation rules (v1.32 texts).</summary>
public static class MetadataValidation
{
    public const int TotalAnnotationSizeLimitBytes = 256 * 1024;

    public static IReadOnlyList<string> ServiceName(string name) => NameRules.IsDns1035Label(name);

    public static IReadOnlyList<string> DnsSubdomainName(string name) => NameRules.IsDns1123Subdomain(name);

    public static IReadOnlyList<string> DnsLabelName(string name) => NameRules.IsDns1123Label(name);

    public static List<FieldError> ValidateObjectMeta(V1ObjectMeta? meta, bool requiresNamespace, NameRule nameRule)
    {
        var path = FieldPath.Metadata;
        var errs = new List<FieldError>();
        meta ??= new V1ObjectMeta();
        if (!string.IsNullOrEmpty(meta.GenerateName))
        {
            // A generateName prefix may end in '-': Kubernetes masks a trailing dash before checking.
            var masked = meta.GenerateName.EndsWith('-') ? meta.GenerateName[..^1] + "a" : meta.GenerateName;
            errs.AddRange(nameRule(masked).Select(m => FieldError.Invalid(path.Child("generateName"), meta.GenerateName, m)));
        }
        if (string.IsNullOrEmpty(meta.Name))
            errs.Add(FieldError.Required(path.Child("name"), "name or generateName is required"));
        else
            errs.AddRange(nameRule(meta.Name).Select(m => FieldError.Invalid(path.Child("name"), meta.Name, m)));

        if (requiresNamespace)
        {
            if (string.IsNullOrEmpty(meta.NamespaceProperty))
                errs.Add(FieldError.Required(path.Child("namespace")));
            else
                errs.AddRange(NameRules.IsDns1123Label(meta.NamespaceProperty)
                    .Select(m => FieldError.Invalid(path.Child("namespace"), meta.NamespaceProperty, m)));
        }
        else if (!string.IsNullOrEmpty(meta.NamespaceProperty))
        {
            errs.Add(FieldError.Forbidden(path.Child("namespace"), "not allowed on this type"));
        }

        if (meta.Generation is < 0)
            errs.Add(FieldError.Invalid(path.Child("generation"), meta.Generation.Value, "must be greater than or equal to 0"));
        errs.AddRange(ValidateLabels(meta.Labels, path.Child("labels")));
        errs.AddRange(ValidateAnnotations(meta.Annotations, path.Child("annotations")));
        return errs;
    }

    /// <summary>
    /// Label maps (metadata.labels, spec.selector, spec.nodeSelector). Go walks the map in random order;
    /// we walk keys in ordinal order so the same input always gives the same message.
    /// </summary>
    public static List<FieldError> ValidateLabels(IDictionary<string, string>? labels, FieldPath path)
    {
        var errs = new List<FieldError>();
        if (labels is null) return errs;
        foreach (var (k, v) in labels.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            errs.AddRange(NameRules.IsQualifiedName(k).Select(m => FieldError.Invalid(path, k, m)));
            errs.AddRange(NameRules.IsValidLabelValue(v ?? "").Select(m => FieldError.Invalid(path, v ?? "", m)));
        }
        return errs;
    }

    public static List<FieldError> ValidateAnnotations(IDictionary<string, string>? annotations, FieldPath path)
    {
        var errs = new List<FieldError>();
        if (annotations is null) return errs;
        long total = 0;
        foreach (var (k, v) in annotations.OrderBy(kv => kv.Key, StringComparer.Ordinal))
        {
            errs.AddRange(NameRules.IsQualifiedName(k.ToLowerInvariant()).Select(m => FieldError.Invalid(path, k, m)));
            total += System.Text.Encoding.UTF8.GetByteCount(k) + System.Text.Encoding.UTF8.GetByteCount(v ?? "");
        }
        if (total > TotalAnnotationSizeLimitBytes)
            errs.Add(new FieldError(FieldErrorType.TooLong, path.ToString(), "", $"may not be more than {TotalAnnotationSizeLimitBytes} bytes"));
        return errs;
    }

    /// <summary>ValidateObjectMetaUpdate: identity fields may not change.</summary>
    public static List<FieldError> ValidateObjectMetaUpdate(V1ObjectMeta newMeta, V1ObjectMeta oldMeta)
    {
        var path = FieldPath.Metadata;
        var errs = new List<FieldError>();
        if (newMeta.Name != oldMeta.Name)
            errs.Add(FieldError.Invalid(path.Child("name"), newMeta.Name, "field is immutable"));
        if (newMeta.NamespaceProperty != oldMeta.NamespaceProperty)
            errs.Add(FieldError.Invalid(path.Child("namespace"), newMeta.NamespaceProperty, "field is immutable"));
        if (newMeta.Uid != oldMeta.Uid)
            errs.Add(FieldError.Invalid(path.Child("uid"), newMeta.Uid, "field is immutable"));
        errs.AddRange(ValidateLabels(newMeta.Labels, path.Child("labels")));
        errs.AddRange(ValidateAnnotations(newMeta.Annotations, path.Child("annotations")));
        return errs;
    }
}
