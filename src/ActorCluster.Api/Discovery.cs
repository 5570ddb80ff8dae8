using System.Text.Json.Nodes;
using ActorCluster.Core.Objects;

namespace ActorCluster.Api;

/// <summary>
/// Legacy discovery documents (/api, /apis, /api/v1, /apis/&lt;group&gt;/v1), served as plain
/// application/json so kubectl reads both in the same (legacy) format, with short names and the "all" category.
/// </summary>
public static class Discovery
{
    private static readonly string[] AllVerbs = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"];

    public static JsonObject Versions(string serverAddress) => new()
    {
        ["kind"] = "APIVersions",
        ["versions"] = new JsonArray("v1"),
        ["serverAddressByClientCIDRs"] = new JsonArray(new JsonObject { ["clientCIDR"] = "0.0.0.0/0", ["serverAddress"] = serverAddress }),
    };

    /// <summary>The groups besides the core one: those serving resources (EndpointSlices, Leases), and the two review APIs a caller asks about itself with.</summary>
    private static readonly string[] GroupNames =
        [.. ResourceKind.GroupVersions.Select(gv => gv.Split('/')[0]), "authentication.k8s.io", "authorization.k8s.io"];

    public static JsonObject Groups() => new()
    {
        ["kind"] = "APIGroupList",
        ["apiVersion"] = "v1",
        ["groups"] = new JsonArray(GroupNames.Select(name => (JsonNode)new JsonObject
        {
            ["name"] = name,
            ["versions"] = new JsonArray(new JsonObject { ["groupVersion"] = $"{name}/v1", ["version"] = "v1" }),
            ["preferredVersion"] = new JsonObject { ["groupVersion"] = $"{name}/v1", ["version"] = "v1" },
        }).ToArray()),
    };

    /// <summary>SelfSubjectReview, SelfSubjectAccessReview and SelfSubjectRulesReview: create-only, cluster-scoped (SelfReviews).</summary>
    public static JsonObject ReviewResources(string groupVersion)
    {
        string[] kinds = groupVersion == "authentication.k8s.io/v1" ? ["SelfSubjectReview"] : ["SelfSubjectAccessReview", "SelfSubjectRulesReview"];
        return new JsonObject
        {
            ["kind"] = "APIResourceList", ["apiVersion"] = "v1", ["groupVersion"] = groupVersion,
            ["resources"] = new JsonArray(kinds.Select(kind => (JsonNode)new JsonObject
            {
                ["name"] = kind.ToLowerInvariant() + "s", ["singularName"] = kind.ToLowerInvariant(), ["namespaced"] = false, ["kind"] = kind, ["verbs"] = new JsonArray("create"),
            }).ToArray()),
        };
    }

    public static JsonObject Resources(string groupVersion)
    {
        var list = new JsonArray();
        foreach (var kind in ResourceKind.All.Where(k => k.ApiVersion == groupVersion))
        {
            var entry = new JsonObject
            {
                ["name"] = kind.Resource,
                ["singularName"] = kind.Kind.ToLowerInvariant(),
                ["namespaced"] = kind.Namespaced,
                ["kind"] = kind.Kind,
                ["verbs"] = new JsonArray(AllVerbs.Select(v => (JsonNode)v).ToArray()),
            };
            if (kind.ShortName.Length > 0) entry["shortNames"] = new JsonArray(kind.ShortName);
            if (kind == ResourceKind.Pod || kind == ResourceKind.Service || kind.Scalable) entry["categories"] = new JsonArray("all");
            list.Add(entry);
            if (kind.HasStatus)
            {
                list.Add(new JsonObject
                {
                    ["name"] = kind.Resource + "/status", ["singularName"] = "", ["namespaced"] = kind.Namespaced, ["kind"] = kind.Kind,
                    ["verbs"] = new JsonArray("get", "patch", "update"),
                });
            }
            if (kind == ResourceKind.Pod)
            {
                list.Add(new JsonObject
                {
                    ["name"] = "pods/log", ["singularName"] = "", ["namespaced"] = true, ["kind"] = "Pod", ["verbs"] = new JsonArray("get"),
                });
                list.Add(new JsonObject
                {
                    ["name"] = "pods/attach", ["singularName"] = "", ["namespaced"] = true, ["kind"] = "PodAttachOptions", ["verbs"] = new JsonArray("create", "get"),
                });
                list.Add(new JsonObject
                {
                    ["name"] = "pods/exec", ["singularName"] = "", ["namespaced"] = true, ["kind"] = "PodExecOptions", ["verbs"] = new JsonArray("create", "get"),
                });
                list.Add(new JsonObject
                {
                    ["name"] = "pods/portforward", ["singularName"] = "", ["namespaced"] = true, ["kind"] = "PodPortForwardOptions", ["verbs"] = new JsonArray("create", "get"),
                });
            }
            if (kind.Scalable)
            {
                list.Add(new JsonObject
                {
                    ["name"] = kind.Resource + "/scale", ["singularName"] = "", ["namespaced"] = true, ["group"] = "autoscaling", ["version"] = "v1", ["kind"] = "Scale",
                    ["verbs"] = new JsonArray("get", "patch", "update"),
                });
            }
        }
        return new JsonObject { ["kind"] = "APIResourceList", ["apiVersion"] = "v1", ["groupVersion"] = groupVersion, ["resources"] = list };
    }

    /// <summary>
    /// The OpenAPI v3 index and per-group documents: each kind's write operations declaring the fieldValidation
    /// parameter (so kubectl leaves validation to the server), and the kinds' schemas (so kubectl explain works).
    /// The hash changes with what the documents hold, since clients cache them by it.
    /// </summary>
    public static JsonObject OpenApiIndex()
    {
        var paths = new JsonObject { ["api/v1"] = new JsonObject { ["serverRelativeURL"] = "/openapi/v3/api/v1?hash=actorcluster2" } };
        foreach (var gv in ResourceKind.GroupVersions)
            paths["apis/" + gv] = new JsonObject { ["serverRelativeURL"] = $"/openapi/v3/apis/{gv}?hash=actorcluster2" };
        return new JsonObject { ["paths"] = paths };
    }

    public static JsonObject OpenApi(string groupVersion)
    {
        var paths = new JsonObject();
        foreach (var kind in ResourceKind.All.Where(k => k.ApiVersion == groupVersion))
        {
            var prefix = kind.Group.Length == 0 ? "/api/v1" : $"/apis/{kind.ApiVersion}";
            var path = kind.Namespaced ? $"{prefix}/namespaces/{{namespace}}/{kind.Resource}/{{name}}" : $"{prefix}/{kind.Resource}/{{name}}";
            JsonObject Operation(string verb) => new()
            {
                ["operationId"] = verb + kind.Kind,
                ["x-kubernetes-action"] = verb,
                ["x-kubernetes-group-version-kind"] = new JsonObject { ["group"] = kind.Group, ["version"] = kind.Version, ["kind"] = kind.Kind },
                ["parameters"] = new JsonArray(
                    new JsonObject { ["name"] = "fieldValidation", ["in"] = "query", ["schema"] = new JsonObject { ["type"] = "string", ["uniqueItems"] = true } },
                    new JsonObject { ["name"] = "dryRun", ["in"] = "query", ["schema"] = new JsonObject { ["type"] = "string", ["uniqueItems"] = true } }),
                ["responses"] = new JsonObject { ["200"] = new JsonObject { ["description"] = "OK" } },
            };
            paths[path] = new JsonObject { ["patch"] = Operation("patch"), ["put"] = Operation("put") };
            var collection = kind.Namespaced ? $"{prefix}/namespaces/{{namespace}}/{kind.Resource}" : $"{prefix}/{kind.Resource}";
            paths[collection] = new JsonObject { ["post"] = Operation("post") };
        }
        return new JsonObject
        {
            ["openapi"] = "3.0.0",
            ["info"] = new JsonObject { ["title"] = "ActorCluster", ["version"] = "v1.32.0" },
            ["paths"] = paths,
            ["components"] = new JsonObject { ["schemas"] = OpenApiSchemas.For(groupVersion) },
        };
    }
}
