using System.Text.Json.Nodes;
using ActorCluster.Core.Objects;

namespace ActorCluster.Core.Tests;

/// <summary>Server-side apply's merge, ownership and conflicts, on JSON as the API holds it.</summary>
public class ServerSideApplyTests
{
    private static readonly DateTime Now = new(2026, 12, 6, 12, 0, 0, DateTimeKind.Utc);

    private static JsonObject Config(int replicas, string image = "kubetm/app", string? label = "web")
    {
        var config = JsonNode.Parse("""
            {"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"d"},
             "spec":{"selector":{"matchLabels":{"app":"d"}},
                     "template":{"metadata":{"labels":{"app":"d"}},"spec":{"containers":[{"name":"app"}]}}}}
            """)!.AsObject();
        config["spec"]!["replicas"] = replicas;
        config["spec"]!["template"]!["spec"]!["containers"]![0]!["image"] = image;
        if (label is not null) config["metadata"]!["labels"] = new JsonObject { ["tier"] = label };
        return config;
    }

    /// <summary>What the API would have stored: the applied object with a default the applier never set.</summary>
    private static JsonObject Stored(JsonObject obj)
    {
        var stored = obj.DeepClone().AsObject();
        stored["spec"]!["template"]!["spec"]!["containers"]![0]!["imagePullPolicy"] = "Always";
        return stored;
    }

    [Fact]
    public void Applying_records_the_managers_fields_in_fieldsV1()
    {
        var created = ServerSideApply.Apply(null, Config(2), "kubectl", force: false, Now).Object!;
        var entry = created["metadata"]!["managedFields"]!.AsArray().Single()!;
        Assert.Equal(("kubectl", "Apply", "apps/v1", "FieldsV1"), ((string)entry["manager"]!, (string)entry["operation"]!, (string)entry["apiVersion"]!, (string)entry["fieldsType"]!));
        var fields = ServerSideApply.FromFieldsV1(entry["fieldsV1"]!.AsObject());
        Assert.Contains("f:spec/f:replicas", fields);
        Assert.Contains("f:metadata/f:labels/f:tier", fields);
        Assert.Contains("f:spec/f:template/f:spec/f:containers/k:{\"name\":\"app\"}/.", fields);
        Assert.Contains("f:spec/f:template/f:spec/f:containers/k:{\"name\":\"app\"}/f:image", fields);
        Assert.DoesNotContain(fields, f => f.StartsWith("f:metadata/f:name", StringComparison.Ordinal));
        Assert.Equal(fields, ServerSideApply.FromFieldsV1(ServerSideApply.FieldsV1(fields)));
    }

    [Fact]
    public void Another_manager_changing_an_owned_field_conflicts_unless_forced_and_an_equal_value_is_shared()
    {
        var live = Stored(ServerSideApply.Apply(null, Config(2), "kubectl", false, Now).Object!);

        var refused = ServerSideApply.Apply(live, Config(3, label: null), "other", force: false, Now);
        Assert.Null(refused.Object);
        Assert.Equal("Apply failed with 1 conflict: conflict with \"kubectl\": .spec.replicas", ServerSideApply.ConflictMessage(refused.Conflicts));

        // Same values: no conflict, both own them (the container item too, though the live one has defaults).
        var shared = ServerSideApply.Apply(live, Config(2, label: null), "other", force: false, Now).Object!;
        Assert.Equal(2, shared["metadata"]!["managedFields"]!.AsArray().Count);

        var forced = ServerSideApply.Apply(live, Config(3, "kubetm/app:v2", label: null), "other", force: true, Now).Object!;
        Assert.Equal(3, (int)forced["spec"]!["replicas"]!);
        Assert.Equal("kubetm/app:v2", (string)forced["spec"]!["template"]!["spec"]!["containers"]![0]!["image"]!);
        Assert.Equal("Always", (string)forced["spec"]!["template"]!["spec"]!["containers"]![0]!["imagePullPolicy"]!);
        var kubectl = forced["metadata"]!["managedFields"]!.AsArray().Single(e => (string)e!["manager"]! == "kubectl")!;
        var kept = ServerSideApply.FromFieldsV1(kubectl["fieldsV1"]!.AsObject());
        Assert.DoesNotContain("f:spec/f:replicas", kept);
        Assert.Contains("f:metadata/f:labels/f:tier", kept);
    }

    [Fact]
    public void A_field_the_manager_stops_applying_goes_unless_another_manager_owns_it()
    {
        var live = Stored(ServerSideApply.Apply(null, Config(2), "kubectl", false, Now).Object!);
        var without = ServerSideApply.Apply(live, Config(2, label: null), "kubectl", false, Now).Object!;
        Assert.Null(without["metadata"]!["labels"]?["tier"]);

        var coOwned = Stored(ServerSideApply.Apply(live, Config(2), "other", false, Now).Object!);
        var still = ServerSideApply.Apply(coOwned, Config(2, label: null), "kubectl", false, Now).Object!;
        Assert.Equal("web", (string)still["metadata"]!["labels"]!["tier"]!);
    }

    [Fact]
    public void Several_conflicts_are_listed_per_manager_as_kubernetes_lists_them() =>
        Assert.Equal("Apply failed with 2 conflicts: conflicts with \"kubectl\":\n- .spec.replicas\n- .spec.template.spec.containers[name=\"app\"].image",
            ServerSideApply.ConflictMessage([new ApplyConflict("kubectl", "Apply", "apps/v1", ".spec.replicas"),
                new ApplyConflict("kubectl", "Apply", "apps/v1", ServerSideApply.Printed("f:spec/f:template/f:spec/f:containers/k:{\"name\":\"app\"}/f:image"))]));

    [Fact]
    public void A_write_that_is_not_an_apply_takes_over_what_it_changes_and_then_conflicts_with_an_apply()
    {
        var created = Config(2);
        ServerSideApply.RecordUpdate(null, created, "kubectl-create", Now);
        var entry = created["metadata"]!["managedFields"]!.AsArray().Single()!;
        Assert.Equal(("kubectl-create", "Update"), ((string)entry["manager"]!, (string)entry["operation"]!));
        Assert.Contains("f:spec/f:replicas", ServerSideApply.FromFieldsV1(entry["fieldsV1"]!.AsObject()));

        // kubectl applies (server-side) the same values: shared, no conflict.
        var applied = Stored(ServerSideApply.Apply(created, Config(2), "kubectl", false, Now).Object!);
        // kubectl scale changes replicas (a write without managedFields in its body): it takes replicas over.
        var scaled = applied.DeepClone().AsObject();
        scaled["spec"]!["replicas"] = 5;
        scaled["metadata"]!.AsObject().Remove("managedFields");
        ServerSideApply.RecordUpdate(applied, scaled, "kubectl-scale", Now);
        var managers = scaled["metadata"]!["managedFields"]!.AsArray().Select(e => (string)e!["manager"]!).ToList();
        Assert.Equal(["kubectl-create", "kubectl", "kubectl-scale"], managers);
        var apply = scaled["metadata"]!["managedFields"]!.AsArray().Single(e => (string)e!["manager"]! == "kubectl")!;
        Assert.DoesNotContain("f:spec/f:replicas", ServerSideApply.FromFieldsV1(apply["fieldsV1"]!.AsObject()));

        var conflict = ServerSideApply.Apply(scaled, Config(2), "other", false, Now);
        Assert.Equal("Apply failed with 1 conflict: conflict with \"kubectl-scale\" using apps/v1: .spec.replicas", ServerSideApply.ConflictMessage(conflict.Conflicts));
    }
}
