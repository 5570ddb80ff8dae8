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
    /// <summary>Parses one or more YAML (or JSON) documents into typed objects; unknown kinds are a BadRequest.</summary>
    public static IReadOnlyList<IKubernetesObject> LoadAll(string yaml)
    {
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
