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
            var objects = KubernetesYaml.LoadAllFromString(yaml);
            return objects.OfType<IKubernetesObject>().ToList();
        }
        catch (Exception e) when (e is YamlDotNet.Core.YamlException or KeyNotFoundException or JsonException or FormatException or InvalidOperationException)
        {
            throw new ApiErrorException(ApiError.BadRequest(Describe(e)));
        }
    }

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

    public static string ToJson(object obj) => KubernetesJson.Serialize(obj);

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
