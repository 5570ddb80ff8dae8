using System.Text.Json.Nodes;
using ActorCluster.Core.Api;

namespace ActorCluster.Core.Objects;

/// <summary>
/// The three patch formats of kube-apiserver, applied to an object's JSON: JSON merge patch (RFC 7386), JSON patch
/// (RFC 6902) and strategic merge patch (what kubectl apply, label, annotate and patch send for built-in types:
/// lists merged by their merge key, with the $patch, $setElementOrder, $retainKeys and $deleteFromPrimitiveList
/// directives). Errors are BadRequest/Invalid Status errors in Kubernetes' words.
/// </summary>
public static class Patches
{
    public const string MergePatch = "application/merge-patch+json";
    public const string JsonPatch = "application/json-patch+json";
    public const string StrategicMergePatch = "application/strategic-merge-patch+json";

    /// <summary>patchMergeKey of the list fields ActorCluster's kinds have (k8s.io/api struct tags).</summary>
    private static readonly Dictionary<string, string> MergeKeys = new(StringComparer.Ordinal)
    {
        ["spec.ports"] = "port",
        ["spec.containers"] = "name",
        ["spec.initContainers"] = "name",
        ["spec.ephemeralContainers"] = "name",
        ["spec.containers.ports"] = "containerPort",
        ["spec.initContainers.ports"] = "containerPort",
        ["spec.containers.env"] = "name",
        ["spec.initContainers.env"] = "name",
        ["spec.containers.volumeMounts"] = "mountPath",
        ["spec.initContainers.volumeMounts"] = "mountPath",
        ["spec.volumes"] = "name",
        ["spec.imagePullSecrets"] = "name",
        ["spec.hostAliases"] = "ip",
        ["spec.tolerations"] = "",
        ["status.conditions"] = "type",
        ["status.addresses"] = "type",
        ["metadata.ownerReferences"] = "uid",
    };

    /// <summary>Lists of scalars that merge (union) instead of being replaced.</summary>
    private static readonly HashSet<string> MergedPrimitiveLists = new(StringComparer.Ordinal) { "metadata.finalizers" };

    /// <summary>The merge key of a list field (<c>spec.template.spec.containers</c> -> name), or null for an atomic list.</summary>
    public static string? MergeKeyFor(string path) => MergeKeys.TryGetValue(TemplatePath(path), out var key) && key.Length > 0 ? key : null;

    /// <summary>A pod template's fields (a Deployment's or ReplicaSet's <c>spec.template</c>) merge as a pod's do.</summary>
    private static string TemplatePath(string path) =>
        path.StartsWith("spec.template.", StringComparison.Ordinal) ? path["spec.template.".Length..] : path;

    public static JsonNode Apply(string contentType, JsonNode original, string patch)
    {
        JsonNode? patchNode;
        try
        {
            patchNode = JsonNode.Parse(patch);
        }
        catch (System.Text.Json.JsonException e)
        {
            throw new ApiErrorException(ApiError.BadRequest($"error decoding patch: {e.Message}"));
        }
        var type = contentType.Split(';')[0].Trim();
        return type switch
        {
            MergePatch => Merge(original.DeepClone(), patchNode) ?? new JsonObject(),
            JsonPatch => ApplyJsonPatch(original.DeepClone(), patchNode as JsonArray
                ?? throw new ApiErrorException(ApiError.BadRequest("json patch must be an array of operations"))),
            StrategicMergePatch => Strategic(original.DeepClone(), patchNode, "") ?? new JsonObject(),
            _ => throw new ApiErrorException(new ApiError(415, "UnsupportedMediaType", $"the body of the request was in an unknown format - accepted media types include: {JsonPatch}, {MergePatch}, {StrategicMergePatch}")),
        };
    }

    /// <summary>RFC 7386: objects merge, null deletes, anything else replaces.</summary>
    public static JsonNode? Merge(JsonNode? target, JsonNode? patch)
    {
        if (patch is not JsonObject patchObject) return patch?.DeepClone();
        var result = target as JsonObject ?? new JsonObject();
        foreach (var (key, value) in patchObject)
        {
            if (value is null) result.Remove(key);
            else result[key] = Merge(result[key]?.DeepClone(), value);
        }
        return result;
    }

    private static JsonNode? Strategic(JsonNode? target, JsonNode? patch, string path)
    {
        if (patch is not JsonObject patchObject) return patch?.DeepClone();
        if (patchObject["$patch"]?.GetValue<string>() is "replace")
        {
            var replaced = patchObject.DeepClone().AsObject();
            replaced.Remove("$patch");
            return replaced;
        }
        if (patchObject["$patch"]?.GetValue<string>() is "delete") return null;
        var result = target as JsonObject ?? new JsonObject();

        if (patchObject["$retainKeys"] is JsonArray retain)
        {
            var keep = retain.Select(k => k!.GetValue<string>()).ToHashSet();
            foreach (var key in result.Select(kv => kv.Key).ToList())
            {
                if (!keep.Contains(key)) result.Remove(key);
            }
        }

        foreach (var (key, value) in patchObject)
        {
            if (key is "$patch" or "$retainKeys" || key.StartsWith("$setElementOrder/", StringComparison.Ordinal)) continue;
            if (key.StartsWith("$deleteFromPrimitiveList/", StringComparison.Ordinal))
            {
                var listName = key["$deleteFromPrimitiveList/".Length..];
                if (result[listName] is JsonArray list && value is JsonArray remove)
                {
                    var gone = remove.Select(r => r?.ToJsonString()).ToHashSet();
                    foreach (var item in list.ToList())
                    {
                        if (gone.Contains(item?.ToJsonString())) list.Remove(item);
                    }
                }
                continue;
            }
            var childPath = path.Length == 0 ? key : $"{path}.{key}";
            if (value is null)
            {
                result.Remove(key);
                continue;
            }
            if (value is JsonArray patchList && MergeKeys.TryGetValue(TemplatePath(childPath), out var mergeKey) && mergeKey.Length > 0)
            {
                result[key] = MergeList(result[key] as JsonArray, patchList, mergeKey, childPath, patchObject[$"$setElementOrder/{key}"] as JsonArray);
                continue;
            }
            if (value is JsonArray primitives && MergedPrimitiveLists.Contains(TemplatePath(childPath)) && result[key] is JsonArray existing)
            {
                foreach (var p in primitives)
                {
                    if (!existing.Any(e => e?.ToJsonString() == p?.ToJsonString())) existing.Add(p?.DeepClone());
                }
                continue;
            }
            result[key] = value is JsonObject ? Strategic(result[key]?.DeepClone(), value, childPath) : value.DeepClone();
        }
        return result;
    }

    /// <summary>Lists with a merge key: patch items update (or delete, with $patch: delete) the item with the same key.</summary>
    private static JsonArray MergeList(JsonArray? original, JsonArray patch, string mergeKey, string path, JsonArray? order)
    {
        var result = original?.DeepClone().AsArray() ?? [];
        foreach (var item in patch)
        {
            if (item is not JsonObject patchItem) continue;
            var key = patchItem[mergeKey]?.ToJsonString();
            var index = result.Select((e, i) => (e, i)).FirstOrDefault(x => x.e is JsonObject o && o[mergeKey]?.ToJsonString() == key && key is not null, (null!, -1)).Item2;
            if (patchItem["$patch"]?.GetValue<string>() is "delete")
            {
                if (index >= 0) result.RemoveAt(index);
                continue;
            }
            // Nested lists of an item follow their own merge keys (spec.containers.ports, ...).
            var itemPath = path;
            if (index >= 0) result[index] = Strategic(result[index]!.DeepClone(), patchItem, itemPath);
            else result.Add(Strategic(null, patchItem, itemPath));
        }
        if (order is not null)
        {
            var keys = order.Select(o => o?[mergeKey]?.ToJsonString()).ToList();
            var sorted = result.OrderBy(e => { var i = keys.IndexOf(e?[mergeKey]?.ToJsonString()); return i < 0 ? int.MaxValue : i; }).Select(e => e?.DeepClone()).ToList();
            result = new JsonArray(sorted.ToArray());
        }
        return result;
    }

    /// <summary>RFC 6902 with RFC 6901 pointers.</summary>
    private static JsonNode ApplyJsonPatch(JsonNode document, JsonArray operations)
    {
        foreach (var op in operations)
        {
            var name = op?["op"]?.GetValue<string>() ?? throw new ApiErrorException(ApiError.BadRequest("json patch operation is missing \"op\""));
            var path = op["path"]?.GetValue<string>() ?? throw new ApiErrorException(ApiError.BadRequest("json patch operation is missing \"path\""));
            switch (name)
            {
                case "add":
                    Set(document, path, op["value"]?.DeepClone(), insert: true);
                    break;
                case "replace":
                    Get(document, path);
                    Set(document, path, op["value"]?.DeepClone(), insert: false);
                    break;
                case "remove":
                    Remove(document, path);
                    break;
                case "test":
                    if (Get(document, path)?.ToJsonString() != op["value"]?.ToJsonString())
                        throw new ApiErrorException(new ApiError(422, "Invalid", $"the server rejected our request due to an error in our request: testing value {path} failed"));
                    break;
                case "move":
                    var from = op["from"]?.GetValue<string>() ?? throw new ApiErrorException(ApiError.BadRequest("move needs \"from\""));
                    var moved = Get(document, from)?.DeepClone();
                    Remove(document, from);
                    Set(document, path, moved, insert: true);
                    break;
                case "copy":
                    var source = op["from"]?.GetValue<string>() ?? throw new ApiErrorException(ApiError.BadRequest("copy needs \"from\""));
                    Set(document, path, Get(document, source)?.DeepClone(), insert: true);
                    break;
                default:
                    throw new ApiErrorException(ApiError.BadRequest($"Unexpected kind: {name}"));
            }
        }
        return document;
    }

    private static string[] Tokens(string pointer) =>
        pointer.Length == 0 ? [] : pointer[1..].Split('/').Select(t => t.Replace("~1", "/", StringComparison.Ordinal).Replace("~0", "~", StringComparison.Ordinal)).ToArray();

    private static ApiErrorException Missing(string path) =>
        new(new ApiError(422, "Invalid", $"the server rejected our request due to an error in our request: jsonpatch path {path} does not exist"));

    private static JsonNode? Get(JsonNode document, string path)
    {
        JsonNode? current = document;
        foreach (var token in Tokens(path))
        {
            current = current switch
            {
                JsonObject o when o.ContainsKey(token) => o[token],
                JsonArray a when int.TryParse(token, out var i) && i >= 0 && i < a.Count => a[i],
                _ => throw Missing(path),
            };
        }
        return current;
    }

    private static (JsonNode Parent, string Last) Parent(JsonNode document, string path)
    {
        var tokens = Tokens(path);
        if (tokens.Length == 0) throw new ApiErrorException(ApiError.BadRequest("cannot patch the document root"));
        var parent = tokens.Length == 1
            ? document
            : Get(document, "/" + string.Join("/", tokens[..^1].Select(t => t.Replace("~", "~0", StringComparison.Ordinal).Replace("/", "~1", StringComparison.Ordinal))));
        return (parent ?? throw Missing(path), tokens[^1]);
    }

    private static void Set(JsonNode document, string path, JsonNode? value, bool insert)
    {
        var (parent, last) = Parent(document, path);
        switch (parent)
        {
            case JsonObject o:
                o[last] = value;
                break;
            case JsonArray a when last == "-":
                a.Add(value);
                break;
            case JsonArray a when int.TryParse(last, out var i) && i >= 0 && i <= a.Count:
                if (insert) a.Insert(i, value);
                else a[i] = value;
                break;
            default:
                throw Missing(path);
        }
    }

    private static void Remove(JsonNode document, string path)
    {
        var (parent, last) = Parent(document, path);
        switch (parent)
        {
            case JsonObject o when o.ContainsKey(last):
                o.Remove(last);
                break;
            case JsonArray a when int.TryParse(last, out var i) && i >= 0 && i < a.Count:
                a.RemoveAt(i);
                break;
            default:
                throw Missing(path);
        }
    }
}
