using System.Text;
using System.Text.Json;
using System.Text.RegularExpressions;
using ActorCluster.Core.Api;
using k8s.Models;

namespace ActorCluster.Core.Validation;

/// <summary>
/// ConfigMaps and Secrets as kube-apiserver takes them: a Secret's defaults and its write-only <c>stringData</c>
/// merged into <c>data</c> (SetDefaults_Secret and the v1 conversion), then ValidateConfigMap / ValidateSecret and
/// their update rules (immutable data once <c>immutable</c> is set; a Secret's type never changes), with their messages.
/// </summary>
public static partial class ConfigValidation
{
    /// <summary>core.MaxSecretSize: the most bytes of values a ConfigMap or a Secret may hold.</summary>
    public const int MaxSize = 1024 * 1024;
    private const string ImmutableWhenSet = "field is immutable when `immutable` is set";

    /// <summary>Defaults a Secret's type and folds its stringData into data (stringData wins, and is never stored).</summary>
    public static void Prepare(V1Secret secret)
    {
        secret.Type = string.IsNullOrEmpty(secret.Type) ? "Opaque" : secret.Type;
        if (secret.StringData is not { } strings) return;
        secret.Data ??= new Dictionary<string, byte[]>();
        foreach (var (key, value) in strings) secret.Data[key] = Encoding.UTF8.GetBytes(value);
        secret.StringData = null;
    }

    public static List<FieldError> ValidateConfigMap(V1ConfigMap cm)
    {
        var errs = new List<FieldError>();
        var size = 0L;
        var data = FieldPath.Root("data");
        foreach (var (key, value) in Sorted(cm.Data))
        {
            errs.AddRange(ConfigKeyErrors(key).Select(m => FieldError.Invalid(data.Key(key), key, m)));
            if (cm.BinaryData?.ContainsKey(key) == true) errs.Add(FieldError.Invalid(data.Key(key), key, "duplicate of key present in binaryData"));
            size += Encoding.UTF8.GetByteCount(value ?? "");
        }
        foreach (var (key, value) in Sorted(cm.BinaryData))
        {
            errs.AddRange(ConfigKeyErrors(key).Select(m => FieldError.Invalid(FieldPath.Root("binaryData").Key(key), key, m)));
            size += value?.Length ?? 0;
        }
        // The whole object: apimachinery prints field.NewPath("") as "[]".
        if (size > MaxSize) errs.Add(new FieldError(FieldErrorType.TooLong, "[]", null, $"may not be more than {MaxSize} bytes"));
        return errs;
    }

    public static List<FieldError> ValidateConfigMapUpdate(V1ConfigMap cm, V1ConfigMap old)
    {
        var errs = new List<FieldError>();
        if (old.Immutable == true)
        {
            if (cm.Immutable != true) errs.Add(FieldError.Forbidden(FieldPath.Root("immutable"), ImmutableWhenSet));
            if (!SameMap(cm.Data, old.Data, string.Equals)) errs.Add(FieldError.Forbidden(FieldPath.Root("data"), ImmutableWhenSet));
            if (!SameMap(cm.BinaryData, old.BinaryData, SameBytes)) errs.Add(FieldError.Forbidden(FieldPath.Root("binaryData"), ImmutableWhenSet));
        }
        errs.AddRange(ValidateConfigMap(cm));
        return errs;
    }

    public static List<FieldError> ValidateSecret(V1Secret secret)
    {
        var errs = new List<FieldError>();
        var data = FieldPath.Root("data");
        var size = 0L;
        foreach (var (key, value) in Sorted(secret.Data))
        {
            errs.AddRange(ConfigKeyErrors(key).Select(m => FieldError.Invalid(data.Key(key), key, m)));
            size += value?.Length ?? 0;
        }
        if (size > MaxSize) errs.Add(new FieldError(FieldErrorType.TooLong, "data", null, $"may not be more than {MaxSize} bytes"));
        var values = secret.Data ?? new Dictionary<string, byte[]>();
        switch (secret.Type)
        {
            case "kubernetes.io/service-account-token":
                if (secret.Metadata?.Annotations is not { } annotations || !annotations.TryGetValue("kubernetes.io/service-account.name", out var account) || account.Length == 0)
                    errs.Add(FieldError.Required(FieldPath.Metadata.Child("annotations").Key("kubernetes.io/service-account.name")));
                break;
            case "kubernetes.io/dockercfg":
                errs.AddRange(JsonKey(values, data, ".dockercfg"));
                break;
            case "kubernetes.io/dockerconfigjson":
                errs.AddRange(JsonKey(values, data, ".dockerconfigjson"));
                break;
            case "kubernetes.io/basic-auth":
                // Either may be empty, but one of them must be there.
                if (!values.ContainsKey("username") && !values.ContainsKey("password"))
                    errs.AddRange([FieldError.Required(data.Key("username")), FieldError.Required(data.Key("password"))]);
                break;
            case "kubernetes.io/ssh-auth":
                if (!values.TryGetValue("ssh-privatekey", out var key) || key.Length == 0) errs.Add(FieldError.Required(data.Key("ssh-privatekey")));
                break;
            case "kubernetes.io/tls":
                if (!values.ContainsKey("tls.crt")) errs.Add(FieldError.Required(data.Key("tls.crt")));
                if (!values.ContainsKey("tls.key")) errs.Add(FieldError.Required(data.Key("tls.key")));
                break;
        }
        return errs;
    }

    public static List<FieldError> ValidateSecretUpdate(V1Secret secret, V1Secret old)
    {
        var errs = new List<FieldError>();
        if (secret.Type != old.Type) errs.Add(FieldError.Invalid(FieldPath.Root("type"), secret.Type, "field is immutable"));
        if (old.Immutable == true)
        {
            if (secret.Immutable != true) errs.Add(FieldError.Forbidden(FieldPath.Root("immutable"), ImmutableWhenSet));
            if (!SameMap(secret.Data, old.Data, SameBytes)) errs.Add(FieldError.Forbidden(FieldPath.Root("data"), ImmutableWhenSet));
        }
        errs.AddRange(ValidateSecret(secret));
        return errs;
    }

    /// <summary>validation.IsConfigMapKey: the messages for a key of data or binaryData.</summary>
    public static IReadOnlyList<string> ConfigKeyErrors(string key)
    {
        var errs = new List<string>();
        if (key.Length > 253) errs.Add(NameRules.MaxLenError(253));
        if (!ConfigKey().IsMatch(key))
            errs.Add(NameRules.RegexError("a valid config key must consist of alphanumeric characters, '-', '_' or '.'", "[-._a-zA-Z0-9]+", "key.name", "KEY_NAME", "key-name"));
        if (key == ".") errs.Add("must not be '.'");
        else if (key == "..") errs.Add("must not be '..'");
        else if (key.StartsWith("..", StringComparison.Ordinal)) errs.Add("must not start with '..'");
        return errs;
    }

    /// <summary>A docker config key must be there and hold JSON (its contents are never echoed).</summary>
    private static IEnumerable<FieldError> JsonKey(IDictionary<string, byte[]> values, FieldPath data, string key)
    {
        if (!values.TryGetValue(key, out var bytes)) return [FieldError.Required(data.Key(key))];
        try
        {
            using var _ = JsonDocument.Parse(bytes);
            return [];
        }
        catch (JsonException e)
        {
            return [FieldError.Invalid(data.Key(key), "<secret contents redacted>", e.Message)];
        }
    }

    private static IEnumerable<KeyValuePair<string, T>> Sorted<T>(IDictionary<string, T>? map) =>
        (map ?? new Dictionary<string, T>()).OrderBy(e => e.Key, StringComparer.Ordinal);

    private static bool SameMap<T>(IDictionary<string, T>? a, IDictionary<string, T>? b, Func<T, T, bool> same) =>
        (a?.Count ?? 0) == (b?.Count ?? 0) && (a ?? new Dictionary<string, T>()).All(e => b!.TryGetValue(e.Key, out var v) && same(e.Value, v));

    private static bool SameBytes(byte[]? a, byte[]? b) => (a ?? []).AsSpan().SequenceEqual(b ?? []);

    [GeneratedRegex(@"^[-._a-zA-Z0-9]+\z")]
    private static partial Regex ConfigKey();
}
