using System.Collections.Concurrent;
using System.Reflection;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;
using System.Xml;
using ActorCluster.Core.Objects;
using k8s.Models;

namespace ActorCluster.Api;

/// <summary>
/// The <c>components.schemas</c> of the OpenAPI v3 documents, as kube-apiserver publishes them, for the kinds served
/// here: what <c>kubectl explain</c> reads. Built from the official client's model types (the JSON names and types
/// the wire uses) and their documentation, which is Kubernetes' own field descriptions (embedded from the package).
/// Top-level kinds carry <c>x-kubernetes-group-version-kind</c>; nested types are referenced as Kubernetes does
/// (<c>allOf</c> of one <c>$ref</c>, with the field's description beside it).
/// </summary>
internal static class OpenApiSchemas
{
    private static readonly ConcurrentDictionary<string, string> ByGroupVersion = new();
    private static readonly Lazy<IReadOnlyDictionary<string, string>> Docs = new(LoadDocs);

    /// <summary>The schemas of the kinds in <paramref name="groupVersion"/> and everything they reference (a fresh copy).</summary>
    public static JsonObject For(string groupVersion) =>
        JsonNode.Parse(ByGroupVersion.GetOrAdd(groupVersion, gv => Build(gv).ToJsonString()))!.AsObject();

    private static JsonObject Build(string groupVersion)
    {
        var schemas = new JsonObject();
        foreach (var kind in ResourceKind.All.Where(k => k.ApiVersion == groupVersion))
        {
            var name = Add(schemas, kind.Model, kind.Group);
            schemas[name]!["x-kubernetes-group-version-kind"] = new JsonArray(new JsonObject
            {
                ["group"] = kind.Group, ["kind"] = kind.Kind, ["version"] = kind.Version,
            });
        }
        return schemas;
    }

    /// <summary>io.k8s.api.core.v1.ServiceSpec, io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta: Kubernetes' names.</summary>
    private static string SchemaName(Type t, string group)
    {
        var bare = t.Name.StartsWith("Corev1", StringComparison.Ordinal) ? t.Name["Corev1".Length..]
            : t.Name.StartsWith("V1", StringComparison.Ordinal) ? t.Name[2..] : t.Name;
        var meta = t.Name is "V1ObjectMeta" or "V1ListMeta" or "V1OwnerReference" or "V1ManagedFieldsEntry" or "V1Condition" or "V1LabelSelector"
            or "V1LabelSelectorRequirement";
        return meta ? "io.k8s.apimachinery.pkg.apis.meta.v1." + bare
            : $"io.k8s.api.{(group.Length == 0 ? "core" : group.Split('.')[0])}.v1.{bare}";
    }

    private static string Add(JsonObject schemas, Type t, string group)
    {
        var name = SchemaName(t, group);
        if (schemas.ContainsKey(name)) return name;
        var properties = new JsonObject();
        var schema = new JsonObject { ["description"] = Doc("T:" + t.FullName), ["type"] = "object", ["properties"] = properties };
        schemas[name] = schema; // before the properties: a type may refer to itself
        foreach (var p in t.GetProperties(BindingFlags.Public | BindingFlags.Instance).OrderBy(p => JsonName(p), StringComparer.Ordinal))
        {
            if (p.GetCustomAttribute<JsonIgnoreAttribute>() is not null) continue;
            var field = FieldSchema(schemas, p.PropertyType, group);
            field["description"] = Doc($"P:{t.FullName}.{p.Name}");
            properties[JsonName(p)] = field;
        }
        return name;
    }

    private static string JsonName(PropertyInfo p) => p.GetCustomAttribute<JsonPropertyNameAttribute>()?.Name ?? char.ToLowerInvariant(p.Name[0]) + p.Name[1..];

    private static JsonObject FieldSchema(JsonObject schemas, Type t, string group)
    {
        t = Nullable.GetUnderlyingType(t) ?? t;
        if (t == typeof(string)) return new JsonObject { ["type"] = "string" };
        if (t == typeof(bool)) return new JsonObject { ["type"] = "boolean" };
        if (t == typeof(int)) return new JsonObject { ["type"] = "integer", ["format"] = "int32" };
        if (t == typeof(long)) return new JsonObject { ["type"] = "integer", ["format"] = "int64" };
        if (t == typeof(double) || t == typeof(float)) return new JsonObject { ["type"] = "number", ["format"] = "double" };
        if (t == typeof(DateTime) || t == typeof(DateTimeOffset)) return new JsonObject { ["type"] = "string", ["format"] = "date-time" };
        if (t == typeof(byte[])) return new JsonObject { ["type"] = "string", ["format"] = "byte" };
        if (t == typeof(IntOrString)) return new JsonObject { ["type"] = "string", ["format"] = "int-or-string", ["x-kubernetes-int-or-string"] = true };
        if (t == typeof(ResourceQuantity)) return new JsonObject { ["type"] = "string" };
        if (t.IsGenericType && t.GetGenericArguments() is [var k, var v] && k == typeof(string)
            && typeof(System.Collections.IEnumerable).IsAssignableFrom(t))
            return new JsonObject { ["type"] = "object", ["additionalProperties"] = FieldSchema(schemas, v, group) };
        if (t != typeof(string) && t.IsGenericType && t.GetGenericArguments() is [var item] && typeof(System.Collections.IEnumerable).IsAssignableFrom(t))
            return new JsonObject { ["type"] = "array", ["items"] = FieldSchema(schemas, item, group) };
        if (t.Namespace == "k8s.Models" && t.IsClass)
            return new JsonObject { ["allOf"] = new JsonArray(new JsonObject { ["$ref"] = "#/components/schemas/" + Add(schemas, t, group) }) };
        return new JsonObject { ["type"] = "object" };
    }

    private static string Doc(string member) => Docs.Value.TryGetValue(member, out var text) ? text : "";

    /// <summary>The summaries of the model types and their properties, whitespace folded as Kubernetes prints them.</summary>
    private static IReadOnlyDictionary<string, string> LoadDocs()
    {
        var docs = new Dictionary<string, string>(StringComparer.Ordinal);
        using var stream = typeof(OpenApiSchemas).Assembly.GetManifestResourceStream("KubernetesClient.xml");
        if (stream is null) return docs;
        using var reader = XmlReader.Create(stream, new XmlReaderSettings { DtdProcessing = DtdProcessing.Prohibit, IgnoreComments = true });
        while (reader.ReadToFollowing("member"))
        {
            var name = reader.GetAttribute("name");
            if (name is null || !(name.StartsWith("T:k8s.Models.", StringComparison.Ordinal) || name.StartsWith("P:k8s.Models.", StringComparison.Ordinal))) continue;
            using var member = reader.ReadSubtree();
            if (!member.ReadToFollowing("summary")) continue;
            var text = member.ReadElementContentAsString();
            docs[name] = string.Join(' ', text.Split((char[])[' ', '\n', '\r', '\t'], StringSplitOptions.RemoveEmptyEntries));
        }
        return docs;
    }
}
