using System.Text.Json;
using System.Text.Json.Nodes;
using ActorCluster.Core.Api;
using k8s;
using k8s.Models;

namespace ActorCluster.Core.Objects;

/// <summary>
/// The Kubernetes wire format, through the official client's model types and serializers:
/// multi-document YAML and JSON in, kubectl-shaped YAML and JSON out. The model types are mutable
/// classes, so the rest of Core treats a stored object as frozen and changes only fresh clones.
/// </summary>
public static class KubeObjects
{
    /// <summary>
    /// How deep a document may nest: the JSON reader's own limit (System.Text.Json's default), so YAML and JSON
    /// bodies are held to the same rule, and a hostile document is refused before a parser recurses into it.
    /// </summary>
    public const int MaxDepth = 64;

    /// <summary>Parses one or more YAML (or JSON) documents into typed objects; unknown kinds are a BadRequest.</summary>
    public static IReadOnlyList<IKubernetesObject> LoadAll(string yaml)
    {
        if (YamlDepth(yaml) > MaxDepth)
            throw new ApiErrorException(ApiError.BadRequest($"yaml: exceeded max depth of {MaxDepth}"));
        try
        {
            if (ExcessiveAliasing(yaml)) throw new ApiErrorException(ApiError.BadRequest("yaml: document contains excessive aliasing"));
            var objects = KubernetesYaml.LoadAllFromString(yaml);
            return objects.OfType<IKubernetesObject>().ToList();
        }
        catch (Exception e) when (e is YamlDotNet.Core.YamlException or KeyNotFoundException or JsonException or FormatException or InvalidOperationException)
        {
            throw new ApiErrorException(ApiError.BadRequest(Describe(e)));
        }
    }

    private static readonly System.Collections.Concurrent.ConcurrentDictionary<Type, Func<string, object>> Readers = new();

    /// <summary><see cref="FromJson{T}"/> for a type known at run time (a <see cref="ResourceKind.Model"/>).</summary>
    public static object FromJson(string json, Type type) =>
        Readers.GetOrAdd(type, t => typeof(KubeObjects).GetMethod(nameof(ReadAs), System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Static)!
            .MakeGenericMethod(t).CreateDelegate<Func<string, object>>())(json);

    private static object ReadAs<T>(string json) where T : class => FromJson<T>(json);

    public static T FromJson<T>(string json)
    {
        try
        {
            return KubernetesJson.Deserialize<T>(json) ?? throw new ApiErrorException(ApiError.BadRequest("empty object"));
        }
        catch (JsonException e)
        {
            throw new ApiErrorException(ApiError.BadRequest($"the body of the request was in an unknown format - accepted media types include: application/json, application/yaml: {e.Message}"));
        }
    }

    /// <summary>
    /// The object as kube-apiserver writes it. The client library writes every timestamp as metav1.Time (seconds);
    /// the few metav1.MicroTime fields (a Lease's renewTime and acquireTime, an Event's eventTime) must carry six
    /// fractional digits, or Go clients refuse the object ("cannot parse ... as .000000": kubectl describe node).
    /// </summary>
    public static string ToJson(object obj)
    {
        var json = KubernetesJson.Serialize(obj);
        return obj switch
        {
            V1Lease { Spec: { } spec } when spec.RenewTime is not null || spec.AcquireTime is not null =>
                WithMicroTimes(json, "spec", ("renewTime", spec.RenewTime), ("acquireTime", spec.AcquireTime)),
            Corev1Event { EventTime: { } eventTime } => WithMicroTimes(json, null, ("eventTime", eventTime)),
            _ => json,
        };
    }

    /// <summary>RFC3339 with microseconds, in UTC: metav1.MicroTime's wire form.</summary>
    public static string MicroTime(DateTime t) =>
        t.ToUniversalTime().ToString("yyyy'-'MM'-'dd'T'HH':'mm':'ss'.'ffffff'Z'", System.Globalization.CultureInfo.InvariantCulture);

    private static string WithMicroTimes(string json, string? parent, params (string Name, DateTime? Value)[] fields)
    {
        var root = JsonNode.Parse(json)!.AsObject();
        var target = parent is null ? root : root[parent]!.AsObject();
        foreach (var (name, value) in fields)
        {
            if (value is { } v) target[name] = MicroTime(v);
        }
        return root.ToJsonString();
    }

    public static string ToYaml(object obj) => KubernetesYaml.Serialize(obj);

    /// <summary>A deep copy, so a stored object is never changed in place.</summary>
    public static T Clone<T>(T obj) => KubernetesJson.Deserialize<T>(KubernetesJson.Serialize(obj!));

    /// <summary>Equality of the serialized forms (what apimachinery's semantic DeepEqual amounts to for our use).</summary>
    public static bool SemanticEquals(object? a, object? b) =>
        JsonNode.DeepEquals(
            a is null ? null : JsonNode.Parse(KubernetesJson.Serialize(a)),
            b is null ? null : JsonNode.Parse(KubernetesJson.Serialize(b)));

    /// <summary>
    /// An upper bound of a YAML text's nesting, in one pass without parsing: block indentation levels, sequence
    /// dashes that open a level on the same line, and flow brackets (outside quotes). Never below the real depth.
    /// </summary>
    public static int YamlDepth(string text)
    {
        var indents = new Stack<int>();
        var flow = 0;
        var max = 0;
        var i = 0;
        while (i < text.Length)
        {
            var indent = 0;
            while (i < text.Length && text[i] == ' ') { indent++; i++; }
            var lineStart = i;
            while (i < text.Length && text[i] != '\n') i++;
            var line = text.AsSpan(lineStart, i - lineStart).TrimEnd('\r');
            i++;
            if (line.IsEmpty || line[0] == '#') continue;
            if (flow == 0)
            {
                while (indents.Count > 0 && indents.Peek() >= indent) indents.Pop();
                indents.Push(indent);
            }
            var dashes = 0;
            for (var j = 0; j + 1 < line.Length && line[j] == '-' && line[j + 1] == ' '; j += 2)
            {
                dashes++;
                while (j + 2 < line.Length && line[j + 2] == ' ') j++;
            }
            var quote = '\0';
            foreach (var c in line)
            {
                if (quote != '\0')
                {
                    if (c == quote) quote = '\0';
                    continue;
                }
                switch (c)
                {
                    case '"' or '\'':
                        quote = c;
                        break;
                    case '[' or '{':
                        flow++;
                        max = Math.Max(max, indents.Count + dashes + flow);
                        break;
                    case ']' or '}':
                        flow = Math.Max(0, flow - 1);
                        break;
                }
            }
            max = Math.Max(max, indents.Count + dashes + flow);
        }
        return max;
    }

    /// <summary>The most a document may expand to through aliases: kube-apiserver's request body limit.</summary>
    public const long MaxExpandedBytes = 3 * 1024 * 1024;

    /// <summary>
    /// Whether aliases would expand the document past what decoding it may cost ("billion laughs"): go-yaml's rule,
    /// which kube-apiserver relies on (nodes decoded through aliases against all nodes decoded, 99% allowed up to
    /// 400,000 decodes, falling to 10% at 4,000,000), and beyond it a bound on the scalar bytes aliases add, since one
    /// alias of a long string decodes as one node but serializes whole. One pass over the parser's events, sizes
    /// counted per anchor, nothing expanded.
    /// </summary>
    public static bool ExcessiveAliasing(string yaml)
    {
        var parser = new YamlDotNet.Core.Parser(new StringReader(yaml));
        var anchors = new Dictionary<string, (long Nodes, long Bytes)>();
        var open = new Stack<(string? Anchor, long Nodes, long Bytes)>();
        long decoded = 0, viaAlias = 0, bytes = 0, aliasBytes = 0;
        while (parser.MoveNext())
        {
            switch (parser.Current)
            {
                case YamlDotNet.Core.Events.AnchorAlias alias:
                    // An unknown anchor is the deserializer's error to report, with its own words.
                    if (!anchors.TryGetValue(alias.Value.Value, out var size)) continue;
                    decoded += 1 + size.Nodes;
                    viaAlias += size.Nodes;
                    bytes += size.Bytes;
                    aliasBytes += size.Bytes;
                    break;
                case YamlDotNet.Core.Events.Scalar scalar:
                    decoded++;
                    bytes += scalar.Value.Length;
                    if (!scalar.Anchor.IsEmpty) anchors[scalar.Anchor.Value] = (1, scalar.Value.Length);
                    break;
                case YamlDotNet.Core.Events.NodeEvent start and (YamlDotNet.Core.Events.MappingStart or YamlDotNet.Core.Events.SequenceStart):
                    open.Push((start.Anchor.IsEmpty ? null : start.Anchor.Value, decoded, bytes));
                    decoded++;
                    break;
                case YamlDotNet.Core.Events.MappingEnd or YamlDotNet.Core.Events.SequenceEnd:
                    var (anchor, nodesBefore, bytesBefore) = open.Pop();
                    if (anchor is not null) anchors[anchor] = (decoded - nodesBefore, bytes - bytesBefore);
                    break;
                default:
                    continue;
            }
            if (viaAlias > 100 && decoded > 1000 && (double)viaAlias / decoded > AllowedAliasRatio(decoded)) return true;
            if (aliasBytes > 0 && bytes > MaxExpandedBytes) return true;
        }
        return false;
    }

    private static double AllowedAliasRatio(long decoded)
    {
        const long low = 400_000, high = 4_000_000;
        return decoded <= low ? 0.99 : decoded >= high ? 0.10 : 0.99 - 0.89 * ((double)(decoded - low) / (high - low));
    }

    private static string Describe(Exception e) => e switch
    {
        KeyNotFoundException => "unknown object kind: " + e.Message,
        _ => "invalid manifest: " + e.Message,
    };
}

/// <summary>Carries an <see cref="ApiError"/> out of a parser; the API layer turns it into a Status response.</summary>
public sealed class ApiErrorException(ApiError error) : Exception(error.Message)
{
    public ApiError Error { get; } = error;
}
