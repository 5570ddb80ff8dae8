using System.Globalization;
using System.Text.Json.Nodes;
using ActorCluster.Cluster.ApiServer;
using ActorCluster.Core.Api;
using ActorCluster.Core.Objects;
using ActorCluster.Core.Selectors;
using Microsoft.AspNetCore.Http;
using static ActorCluster.Api.ApiResponses;

namespace ActorCluster.Api;

/// <summary>
/// The <c>scale</c> subresource of Deployments and ReplicaSets (what <c>kubectl scale</c> and autoscalers use): an
/// autoscaling/v1 Scale view of spec.replicas. GET reads it; PUT and PATCH change only spec.replicas of the object,
/// under its resourceVersion (the Scale's own, if the client sent one, is a precondition).
/// </summary>
internal sealed class ScaleSubresource(ApiServerClient apiServer, RequestBodies bodies)
{
    public async Task Handle(HttpContext ctx, ResourceKind kind, string ns, string name)
    {
        var dryRun = QueryValues.DryRun(ctx.Request.Query["dryRun"]);
        switch (ctx.Request.Method)
        {
            case "GET":
            {
                var current = await apiServer.Ask(new GetObject(kind.Resource, ns, name));
                if (current is not ObjectReply o) await Reply(ctx, current, 200, table: false);
                else if (ctx.Request.Headers.Accept.ToString().Contains("as=Table", StringComparison.Ordinal)) await Json(ctx, 200, ToTable(ToScale(kind, name, o.Json)));
                else await Json(ctx, 200, ToScale(kind, name, o.Json));
                return;
            }
            case "PUT":
            {
                var scale = Parse(await bodies.ReadText(ctx));
                await Write(ctx, kind, ns, name, _ => scale, dryRun);
                return;
            }
            case "PATCH":
            {
                var patch = await bodies.ReadText(ctx);
                var contentType = ctx.Request.ContentType ?? "";
                await Write(ctx, kind, ns, name, current => Patches.Apply(contentType, current, patch), dryRun);
                return;
            }
            default:
                throw new ApiErrorException(new ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource"));
        }
    }

    /// <summary>Read the object, compute the wanted Scale from its current one, write spec.replicas back; again on a conflict.</summary>
    private async Task Write(HttpContext ctx, ResourceKind kind, string ns, string name, Func<JsonNode, JsonNode> wanted, bool dryRun)
    {
        object reply = ApiError.InternalError("scale did not run");
        for (var attempt = 0; attempt < 5; attempt++)
        {
            var current = await apiServer.Ask(new GetObject(kind.Resource, ns, name));
            if (current is not ObjectReply stored)
            {
                reply = current;
                break;
            }
            var scale = wanted(ToScale(kind, name, stored.Json));
            var replicas = Replicas(kind, name, scale);
            var obj = JsonNode.Parse(stored.Json)!.AsObject();
            var given = scale["metadata"]?["resourceVersion"]?.GetValue<string>();
            var pinned = !string.IsNullOrEmpty(given) && given != stored.ResourceVersion.ToString(CultureInfo.InvariantCulture);
            obj["metadata"]!["resourceVersion"] = pinned ? given : stored.ResourceVersion.ToString(CultureInfo.InvariantCulture);
            (obj["spec"] ??= new JsonObject())["replicas"] = replicas;
            ServerSideApply.RecordUpdate(JsonNode.Parse(stored.Json)!.AsObject(), obj, FieldManagers.Of(ctx), DateTime.UtcNow);
            reply = await apiServer.Ask(new UpdateObject(kind.Resource, ns, name, obj.ToJsonString(), Status: false, dryRun));
            if (reply is ApiErrorReply { Code: 409 } && !pinned) continue;
            break;
        }
        if (reply is ObjectReply updated) await Json(ctx, 200, ToScale(kind, name, updated.Json));
        else await Reply(ctx, reply is ApiError e ? ApiErrorReply.From(e) : reply, 200, table: false);
    }

    private static JsonNode Parse(string body)
    {
        try
        {
            return JsonNode.Parse(body) ?? throw new ApiErrorException(ApiError.BadRequest("empty Scale"));
        }
        catch (System.Text.Json.JsonException e)
        {
            throw new ApiErrorException(ApiError.BadRequest($"Scale in version \"v1\" cannot be handled as a Scale: {e.Message}"));
        }
    }

    /// <summary>spec.replicas of a Scale: a non-negative integer (ValidateScale's words).</summary>
    private static int Replicas(ResourceKind kind, string name, JsonNode scale)
    {
        var node = scale["spec"]?["replicas"];
        long value;
        try
        {
            value = node?.GetValue<long>() ?? 0;
        }
        catch (Exception e) when (e is FormatException or InvalidOperationException)
        {
            throw new ApiErrorException(ApiError.BadRequest($"Scale in version \"v1\" cannot be handled as a Scale: spec.replicas: {e.Message}"));
        }
        if (value < 0 || value > int.MaxValue)
        {
            var error = FieldError.Invalid(FieldPath.Spec.Child("replicas"), value, value < 0 ? "must be greater than or equal to 0" : "must be less than or equal to 2147483647");
            throw new ApiErrorException(ApiError.Invalid("autoscaling", "Scale", name, [error]));
        }
        return (int)value;
    }

    /// <summary>What <c>kubectl get --subresource=scale</c> prints: NAME, DESIRED, AVAILABLE.</summary>
    private static JsonObject ToTable(JsonObject scale) => new()
    {
        ["kind"] = "Table",
        ["apiVersion"] = "meta.k8s.io/v1",
        ["metadata"] = new JsonObject { ["resourceVersion"] = scale["metadata"]!["resourceVersion"]?.DeepClone() },
        ["columnDefinitions"] = new JsonArray(
            new JsonObject { ["name"] = "Name", ["type"] = "string", ["format"] = "name", ["description"] = "Name must be unique within a namespace.", ["priority"] = 0 },
            new JsonObject { ["name"] = "Desired", ["type"] = "integer", ["format"] = "", ["description"] = "desired number of instances for the scaled object.", ["priority"] = 0 },
            new JsonObject { ["name"] = "Available", ["type"] = "integer", ["format"] = "", ["description"] = "actual number of observed instances of the scaled object.", ["priority"] = 0 }),
        ["rows"] = new JsonArray(new JsonObject
        {
            ["cells"] = new JsonArray(scale["metadata"]!["name"]!.DeepClone(), scale["spec"]!["replicas"]!.DeepClone(), scale["status"]!["replicas"]!.DeepClone()),
            ["object"] = new JsonObject { ["kind"] = "PartialObjectMetadata", ["apiVersion"] = "meta.k8s.io/v1", ["metadata"] = scale["metadata"]!.DeepClone() },
        }),
    };

    /// <summary>The Scale of a stored Deployment or ReplicaSet.</summary>
    public static JsonObject ToScale(ResourceKind kind, string name, string objectJson)
    {
        var obj = JsonNode.Parse(objectJson)!;
        var meta = obj["metadata"]!;
        var selector = LabelSelector.TryFromApi(KubeObjects.FromJson<k8s.Models.V1LabelSelector>(obj["spec"]?["selector"]?.ToJsonString() ?? "{}"))?.ToString() ?? "";
        return new JsonObject
        {
            ["kind"] = "Scale",
            ["apiVersion"] = "autoscaling/v1",
            ["metadata"] = new JsonObject
            {
                ["name"] = name, ["namespace"] = meta["namespace"]?.DeepClone(), ["uid"] = meta["uid"]?.DeepClone(),
                ["resourceVersion"] = meta["resourceVersion"]?.DeepClone(), ["creationTimestamp"] = meta["creationTimestamp"]?.DeepClone(),
            },
            ["spec"] = new JsonObject { ["replicas"] = obj["spec"]?["replicas"]?.GetValue<int>() ?? 1 },
            ["status"] = new JsonObject { ["replicas"] = obj["status"]?["replicas"]?.GetValue<int>() ?? 0, ["selector"] = selector },
        };
    }
}
