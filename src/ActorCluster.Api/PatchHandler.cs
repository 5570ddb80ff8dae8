using System.Text.Json;
using System.Text.Json.Nodes;
using ActorCluster.Cluster.ApiServer;
using ActorCluster.Core.Api;
using ActorCluster.Core.Objects;
using ActorCluster.Core.Store;
using Microsoft.AspNetCore.Http;
using static ActorCluster.Api.ApiResponses;

namespace ActorCluster.Api;

/// <summary>PATCH (JSON, merge, strategic merge and apply patches) as a read-modify-write against the ApiServer.</summary>
internal sealed class PatchHandler(ApiServerClient apiServer, RequestBodies bodies)
{
    /// <summary>
    /// PATCH as kube-apiserver does it: read the stored object, apply the patch, write it back under the
    /// object's resourceVersion, and start again on a conflict (unless the patch itself named a version).
    /// </summary>
    public async Task Handle(HttpContext ctx, ResourceKind kind, string? ns, string name, bool status, bool table)
    {
        var dryRun = QueryValues.DryRun(ctx.Request.Query["dryRun"]);
        if ((ctx.Request.ContentType ?? "").Split(';')[0].Trim() == ServerSideApply.ContentType)
        {
            await Apply(ctx, kind, ns, name, status, table, dryRun);
            return;
        }
        var patch = await bodies.ReadText(ctx);
        var contentType = ctx.Request.ContentType ?? "";
        var strict = ctx.Request.Query["fieldValidation"].ToString() == "Strict";
        object reply = ApiError.InternalError("patch did not run");
        for (var attempt = 0; attempt < 5; attempt++)
        {
            var current = await apiServer.Ask(new GetObject(kind.Resource, ns, name));
            if (current is not ObjectReply stored)
            {
                reply = current;
                break;
            }
            var patched = Patches.Apply(contentType, JsonNode.Parse(stored.Json)!, patch);
            if (patched is not JsonObject || patched["metadata"] is not JsonObject metadata)
                throw new ApiErrorException(ApiError.BadRequest("the patch removed the object's metadata"));
            if (metadata["resourceVersion"] is { } rvNode && rvNode.GetValueKind() != JsonValueKind.String)
                throw new ApiErrorException(ApiError.BadRequest("metadata.resourceVersion must be a string"));
            var pinned = metadata["resourceVersion"]?.GetValue<string>() is { } v && v != stored.ResourceVersion.ToString(System.Globalization.CultureInfo.InvariantCulture);
            if (!pinned) metadata["resourceVersion"] = stored.ResourceVersion.ToString(System.Globalization.CultureInfo.InvariantCulture);
            if (strict)
            {
                var modelType = StoredObject.FromJson(kind.Resource, "{}").Object.GetType();
                var unknown = StrictDecoding.UnknownFields(patched, modelType);
                if (unknown.Count > 0)
                    throw new ApiErrorException(ApiError.BadRequest(string.Join(", ", unknown.Select(u => $".{u}: field not declared in schema"))));
            }
            if (!status) ServerSideApply.RecordUpdate(JsonNode.Parse(stored.Json)!.AsObject(), patched.AsObject(), FieldManagers.Of(ctx), DateTime.UtcNow);
            reply = await apiServer.Ask(new UpdateObject(kind.Resource, ns, name, patched.ToJsonString(), status, dryRun));
            if (reply is ApiErrorReply { Code: 409 } && !pinned) continue;
            break;
        }
        await Reply(ctx, reply is ApiError e ? ApiErrorReply.From(e) : reply, 200, table);
    }

    /// <summary>
    /// Server-side apply: the applied configuration (named fieldManager) merged into the live object, or the object
    /// created from it; a field another manager owns with another value is a 409 naming it, unless force=true.
    /// </summary>
    private async Task Apply(HttpContext ctx, ResourceKind kind, string? ns, string name, bool status, bool table, bool dryRun)
    {
        var q = ctx.Request.Query;
        var manager = q["fieldManager"].ToString();
        if (manager.Length == 0)
        {
            throw new ApiErrorException(ApiError.Invalid("meta.k8s.io", "PatchOptions", "",
                [FieldError.Required(FieldPath.Root("fieldManager"), "is required for apply patch")]));
        }
        var force = QueryValues.Bool("force", q["force"]);
        var applied = JsonNode.Parse(await bodies.ReadBody(ctx, kind))!.AsObject();
        if (applied["metadata"]?["name"]?.GetValue<string>() is { } bodyName && bodyName != name)
            throw new ApiErrorException(ApiError.BadRequest($"the name of the object ({bodyName}) does not match the name on the URL ({name})"));
        object reply = ApiError.InternalError("apply did not run");
        var code = 200;
        for (var attempt = 0; attempt < 5; attempt++)
        {
            var current = await apiServer.Ask(new GetObject(kind.Resource, ns, name));
            var live = current is ObjectReply stored ? JsonNode.Parse(stored.Json)!.AsObject() : null;
            if (live is null && current is ApiErrorReply { Code: not 404 })
            {
                reply = current;
                break;
            }
            var outcome = ServerSideApply.Apply(live, applied, manager, force, DateTime.UtcNow);
            if (outcome.Object is null)
            {
                var message = ServerSideApply.ConflictMessage(outcome.Conflicts);
                throw new ApiErrorException(new ApiError(409, "Conflict", message,
                    new ApiErrorDetails(name, kind.Group, kind.Resource,
                        [.. outcome.Conflicts.Select(c => new ApiErrorCause("FieldManagerConflict", $"conflict with \"{c.Manager}\"" + (c.Operation == "Update" ? $" using {c.ApiVersion}" : ""), c.Field))])));
            }
            var json = outcome.Object.ToJsonString();
            if (live is null)
            {
                reply = await apiServer.Ask(new CreateObject(kind.Resource, ns ?? (kind.Namespaced ? "default" : null), json, dryRun));
                code = 201;
                if (reply is ApiErrorReply { Code: 409 }) continue; // created meanwhile: apply to it
                break;
            }
            reply = await apiServer.Ask(new UpdateObject(kind.Resource, ns, name, json, status, dryRun));
            if (reply is ApiErrorReply { Code: 409 }) continue; // changed meanwhile: apply again to the new version
            break;
        }
        await Reply(ctx, reply is ApiError e ? ApiErrorReply.From(e) : reply, code, table);
    }
}
