using System.Collections.Concurrent;
using System.Reflection;
using System.Text.Json.Nodes;
using System.Text.Json.Serialization;

namespace ActorCluster.Core.Objects;

/// <summary>
/// Finds fields a manifest sets that the Kubernetes schema does not have (fieldValidation=Strict), by walking the
/// JSON alongside the official client's model types. Maps (labels, selector, ...) take any key.
/// </summary>
public static class StrictDecoding
{
    private static readonly ConcurrentDictionary<Type, Dictionary<string, Type>> PropertiesByType = new();

    public static IReadOnlyList<string> UnknownFields(JsonNode? json, Type modelType)
    {
        var unknown = new List<string>();
        Walk(json, modelType, "", unknown);
        return unknown;
    }

    private static void Walk(JsonNode? node, Type type, string path, List<string> unknown)
    {
        type = Nullable.GetUnderlyingType(type) ?? type;
        switch (node)
        {
            case JsonObject obj when IsDictionary(type, out var valueType):
                foreach (var (key, value) in obj) Walk(value, valueType, path.Length == 0 ? key : $"{path}.{key}", unknown);
                break;
            case JsonObject obj when IsModel(type):
                var properties = Properties(type);
                foreach (var (key, value) in obj)
                {
                    var childPath = path.Length == 0 ? key : $"{path}.{key}";
                    if (!properties.TryGetValue(key, out var childType)) unknown.Add(childPath);
                    else Walk(value, childType, childPath, unknown);
                }
                break;
            case JsonArray array when ElementType(type) is { } element:
                for (var i = 0; i < array.Count; i++) Walk(array[i], element, $"{path}[{i}]", unknown);
                break;
        }
    }

    private static bool IsModel(Type t) => t.Namespace == "k8s.Models" && t.IsClass && t.Name != "IntOrString" && t.Name != "ResourceQuantity";

    private static bool IsDictionary(Type t, out Type valueType)
    {
        var dict = t.IsGenericType && t.GetGenericTypeDefinition() == typeof(IDictionary<,>)
            ? t
            : t.GetInterfaces().FirstOrDefault(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IDictionary<,>));
        valueType = dict?.GetGenericArguments()[1] ?? typeof(object);
        return dict is not null;
    }

    private static Type? ElementType(Type t)
    {
        if (t.IsArray) return t.GetElementType();
        var list = t.IsGenericType && t.GetGenericTypeDefinition() == typeof(IList<>)
            ? t
            : t.GetInterfaces().FirstOrDefault(i => i.IsGenericType && i.GetGenericTypeDefinition() == typeof(IList<>));
        return list?.GetGenericArguments()[0];
    }

    private static Dictionary<string, Type> Properties(Type t) =>
        PropertiesByType.GetOrAdd(t, type => type.GetProperties(BindingFlags.Public | BindingFlags.Instance)
            .Select(p => (Name: p.GetCustomAttribute<JsonPropertyNameAttribute>()?.Name, p.PropertyType))
            .Where(p => p.Name is not null)
            .ToDictionary(p => p.Name!, p => p.PropertyType));
}
