using System.Text.Json.Nodes;

namespace ActorCluster.Core.Objects;

/// <summary>What an apply decided: the object to write, or the conflicts that stopped it.</summary>
public sealed record ApplyOutcome(JsonObject? Object, IReadOnlyList<ApplyConflict> Conflicts);

/// <summary>A field another manager owns with another value: who, and the field as Kubernetes prints it.</summary>
public sealed record ApplyConflict(string Manager, string Operation, string ApiVersion, string Field);

/// <summary>
/// Server-side apply (<c>kubectl apply --server-side</c>): the applied configuration is merged into the live object
/// (maps by key, lists with a merge key by that key, other lists replaced), fields this manager applied before and
/// no longer applies are removed unless another manager owns them, and <c>metadata.managedFields</c> records what
/// each manager owns in Kubernetes' FieldsV1 form. A field owned by another manager that the apply would change is
/// a conflict, unless forced: then the applier takes it over. Field paths here are FieldsV1 keys joined by '/'
/// (<c>f:spec/f:template/f:spec/f:containers/k:{"name":"app"}/f:image</c>).
/// </summary>
public static class ServerSideApply
{
    public const string ContentType = "application/apply-patch+yaml";

    public static ApplyOutcome Apply(JsonObject? live, JsonObject applied, string manager, bool force, DateTime now)
    {
        var apiVersion = applied["apiVersion"]?.GetValue<string>() ?? "v1";
        var fields = Fields(applied);
        var entries = live?["metadata"]?["managedFields"] is JsonArray existing ? existing.Select(e => e!.DeepClone().AsObject()).ToList() : [];
        var previous = entries.FirstOrDefault(e => Is(e, manager, "Apply"));
        var previousFields = previous?["fieldsV1"] is JsonObject v1 ? FromFieldsV1(v1) : [];
        var others = entries.Where(e => !Is(e, manager, "Apply")).ToList();

        var conflicts = new List<ApplyConflict>();
        if (live is not null)
        {
            foreach (var other in others)
            {
                var owned = other["fieldsV1"] is JsonObject f ? FromFieldsV1(f) : [];
                foreach (var field in owned.Intersect(fields).Order(StringComparer.Ordinal))
                {
                    // A list item's "." is its presence: both have it. Anything else compares values.
                    if (field.EndsWith("/.", StringComparison.Ordinal) ? At(live, field) is not null && At(applied, field) is not null
                        : JsonNode.DeepEquals(At(live, field), At(applied, field))) continue;
                    conflicts.Add(new ApplyConflict((string?)other["manager"] ?? "", (string?)other["operation"] ?? "", (string?)other["apiVersion"] ?? "", Printed(field)));
                }
            }
        }
        if (conflicts.Count > 0 && !force) return new ApplyOutcome(null, conflicts);

        var merged = live is null ? applied.DeepClone().AsObject() : (JsonObject)Patches.Apply(Patches.StrategicMergePatch, live, applied.ToJsonString());
        // What this manager applied before and applies no more goes, unless someone else owns it too.
        var ownedByOthers = others.SelectMany(e => e["fieldsV1"] is JsonObject f ? FromFieldsV1(f) : []).ToHashSet(StringComparer.Ordinal);
        foreach (var gone in previousFields.Except(fields).Where(f => !ownedByOthers.Contains(f)).OrderByDescending(f => f.Length))
            Remove(merged, gone);

        // Forced: the fields in conflict change hands.
        var taken = conflicts.Select(c => c.Field).ToHashSet(StringComparer.Ordinal);
        var kept = new JsonArray();
        foreach (var other in others)
        {
            if (taken.Count > 0 && other["fieldsV1"] is JsonObject f)
            {
                var remaining = FromFieldsV1(f).Where(p => !taken.Contains(Printed(p))).ToList();
                if (remaining.Count == 0) continue;
                other["fieldsV1"] = FieldsV1(remaining);
            }
            kept.Add(other);
        }
        kept.Add(new JsonObject
        {
            ["manager"] = manager, ["operation"] = "Apply", ["apiVersion"] = apiVersion,
            ["time"] = now.ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture),
            ["fieldsType"] = "FieldsV1", ["fieldsV1"] = FieldsV1(fields),
        });
        var metadata = (merged["metadata"] ??= new JsonObject()).AsObject();
        metadata["managedFields"] = kept;
        return new ApplyOutcome(merged, []);
    }

    /// <summary>
    /// A write that is not an apply (create, PUT, patch, scale): <paramref name="manager"/> takes the fields it set or
    /// changed (all of them on a create) under an <c>Update</c> entry, and the other managers lose them, as
    /// kube-apiserver's field manager records them. So an apply that would change them later conflicts with it.
    /// </summary>
    public static void RecordUpdate(JsonObject? old, JsonObject updated, string manager, DateTime now)
    {
        var apiVersion = updated["apiVersion"]?.GetValue<string>() ?? old?["apiVersion"]?.GetValue<string>() ?? "v1";
        var changed = Fields(updated).Where(f => old is null
            || (f.EndsWith("/.", StringComparison.Ordinal) ? At(old, f) is null : !JsonNode.DeepEquals(At(old, f), At(updated, f)))).ToHashSet(StringComparer.Ordinal);
        var metadata = (updated["metadata"] ??= new JsonObject()).AsObject();
        // A write that says nothing about managedFields keeps the stored ones.
        var given = metadata["managedFields"] as JsonArray ?? old?["metadata"]?["managedFields"] as JsonArray;
        var entries = given is not null ? given.Select(e => e!.DeepClone().AsObject()).ToList() : [];
        if (changed.Count == 0 && entries.Count == 0) return;
        var mine = entries.FirstOrDefault(e => Is(e, manager, "Update"));
        var fields = mine?["fieldsV1"] is JsonObject v1 ? FromFieldsV1(v1) : new SortedSet<string>(StringComparer.Ordinal);
        fields.UnionWith(changed);
        var kept = new JsonArray();
        foreach (var entry in entries.Where(e => e != mine))
        {
            if (entry["fieldsV1"] is JsonObject f)
            {
                var remaining = FromFieldsV1(f).Where(p => !changed.Contains(p)).ToList();
                if (remaining.Count == 0) continue;
                entry["fieldsV1"] = FieldsV1(remaining);
            }
            kept.Add(entry);
        }
        if (fields.Count > 0)
        {
            kept.Add(new JsonObject
            {
                ["manager"] = manager, ["operation"] = "Update", ["apiVersion"] = apiVersion,
                ["time"] = now.ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture),
                ["fieldsType"] = "FieldsV1", ["fieldsV1"] = FieldsV1(fields),
            });
        }
        metadata["managedFields"] = kept;
    }

    /// <summary>Kubernetes' words for refused conflicts (what kubectl prints before its advice).</summary>
    public static string ConflictMessage(IReadOnlyList<ApplyConflict> conflicts)
    {
        var byManager = conflicts.GroupBy(c => (c.Manager, c.Operation, c.ApiVersion)).ToList();
        string Who((string Manager, string Operation, string ApiVersion) m) =>
            $"\"{m.Manager}\"" + (m.Operation == "Update" ? $" using {m.ApiVersion}" : "");
        var head = $"Apply failed with {conflicts.Count} conflict{(conflicts.Count == 1 ? "" : "s")}: ";
        if (conflicts.Count == 1) return head + $"conflict with {Who(byManager[0].Key)}: {conflicts[0].Field}";
        return head + string.Join("\n", byManager.Select(g => g.Count() == 1
            ? $"conflict with {Who(g.Key)}: {g.Single().Field}"
            : $"conflicts with {Who(g.Key)}:\n" + string.Join("\n", g.Select(c => $"- {c.Field}"))));
    }

    private static bool Is(JsonObject entry, string manager, string operation) =>
        (string?)entry["manager"] == manager && (string?)entry["operation"] == operation && entry["subresource"] is null;

    /// <summary>The fields an applied configuration sets (identity and status are not fields one manages).</summary>
    public static SortedSet<string> Fields(JsonObject applied)
    {
        var fields = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var (key, value) in applied)
        {
            if (key is "apiVersion" or "kind" or "status") continue;
            if (key == "metadata" && value is JsonObject meta)
            {
                foreach (var (mk, mv) in meta)
                {
                    if (mk is "labels" or "annotations" or "finalizers" or "ownerReferences") Walk(mv, $"f:metadata/f:{mk}", $"metadata.{mk}", fields);
                }
                continue;
            }
            Walk(value, $"f:{key}", key, fields);
        }
        return fields;
    }

    private static void Walk(JsonNode? value, string path, string dotted, SortedSet<string> fields)
    {
        switch (value)
        {
            case JsonObject o when o.Count > 0:
                foreach (var (k, v) in o) Walk(v, $"{path}/f:{k}", $"{dotted}.{k}", fields);
                return;
            case JsonArray a when Patches.MergeKeyFor(dotted) is { } key && a.All(i => i is JsonObject item && item[key] is not null):
                foreach (var item in a.Select(i => i!.AsObject()))
                {
                    var itemPath = $"{path}/k:{new JsonObject { [key] = item[key]!.DeepClone() }.ToJsonString()}";
                    fields.Add(itemPath + "/.");
                    foreach (var (k, v) in item) Walk(v, $"{itemPath}/f:{k}", $"{dotted}.{k}", fields);
                }
                return;
            default:
                fields.Add(path);
                return;
        }
    }

    /// <summary>The value a field path names (null when absent; a list item's "." is the item).</summary>
    private static JsonNode? At(JsonNode? node, string field)
    {
        foreach (var segment in field.Split('/'))
        {
            if (node is null) return null;
            node = Step(node, segment);
        }
        return node;
    }

    private static JsonNode? Step(JsonNode? node, string segment) =>
        segment.StartsWith("f:", StringComparison.Ordinal) ? (node as JsonObject)?[segment[2..]]
        : segment.StartsWith("k:", StringComparison.Ordinal) ? Item(node as JsonArray, segment)
        : node;

    private static JsonNode? Item(JsonArray? list, string segment)
    {
        if (list is null) return null;
        var key = JsonNode.Parse(segment[2..])!.AsObject();
        return list.FirstOrDefault(i => i is JsonObject item && key.All(kv => JsonNode.DeepEquals(item[kv.Key], kv.Value)));
    }

    /// <summary>Removes the field a path names: a property, or (for "k:{...}/.") the list item.</summary>
    private static void Remove(JsonObject root, string field)
    {
        var segments = field.Split('/');
        var target = segments[^1] == "." ? segments.Length - 2 : segments.Length - 1;
        JsonNode? parent = root;
        for (var i = 0; i < target && parent is not null; i++) parent = Step(parent, segments[i]);
        var name = segments[target];
        if (name.StartsWith("f:", StringComparison.Ordinal)) (parent as JsonObject)?.Remove(name[2..]);
        else if (parent is JsonArray list && Item(list, name) is { } item) list.Remove(item);
    }

    /// <summary>The FieldsV1 object for a set of paths (nested keys, each leaf an empty object).</summary>
    public static JsonObject FieldsV1(IEnumerable<string> fields)
    {
        var root = new JsonObject();
        foreach (var field in fields.Order(StringComparer.Ordinal))
        {
            var node = root;
            foreach (var segment in field.Split('/')) node = (node[segment] ??= new JsonObject()).AsObject();
        }
        return root;
    }

    /// <summary>The paths a FieldsV1 object lists (its leaves).</summary>
    public static SortedSet<string> FromFieldsV1(JsonObject fieldsV1)
    {
        var fields = new SortedSet<string>(StringComparer.Ordinal);
        void Visit(JsonObject node, string path)
        {
            foreach (var (key, child) in node)
            {
                var p = path.Length == 0 ? key : $"{path}/{key}";
                if (child is JsonObject c && c.Count > 0) Visit(c, p);
                else fields.Add(p);
            }
        }
        Visit(fieldsV1, "");
        return fields;
    }

    /// <summary>A field as Kubernetes prints it in a conflict: <c>.spec.replicas</c>, <c>.spec.template.spec.containers[name="app"].image</c>.</summary>
    public static string Printed(string field)
    {
        var text = new System.Text.StringBuilder();
        foreach (var segment in field.Split('/'))
        {
            if (segment.StartsWith("f:", StringComparison.Ordinal)) text.Append('.').Append(segment[2..]);
            else if (segment.StartsWith("k:", StringComparison.Ordinal))
                text.Append('[').Append(string.Join(",", JsonNode.Parse(segment[2..])!.AsObject().Select(kv => $"{kv.Key}={kv.Value!.ToJsonString()}"))).Append(']');
        }
        return text.ToString();
    }
}
