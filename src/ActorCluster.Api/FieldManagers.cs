using System.Text.Json.Nodes;
using ActorCluster.Core.Objects;
using Microsoft.AspNetCore.Http;

namespace ActorCluster.Api;

/// <summary>
/// Who a write is by, for <c>metadata.managedFields</c>: the <c>fieldManager</c> the client names (kubectl names one
/// per command: kubectl-create, kubectl-client-side-apply, kubectl-edit, ...), else the first part of its User-Agent,
/// as kube-apiserver derives it.
/// </summary>
internal static class FieldManagers
{
    public static string Of(HttpContext ctx)
    {
        if (ctx.Request.Query["fieldManager"].ToString() is { Length: > 0 } named) return named;
        var agent = ctx.Request.Headers.UserAgent.ToString();
        var prefix = agent.Split('/')[0].Trim();
        return prefix.Length == 0 ? "unknown" : prefix.Length > 128 ? prefix[..128] : prefix;
    }

    /// <summary>The body with the writer recorded as an Update manager of what it set or changed (<paramref name="oldJson"/>: the stored object, if any).</summary>
    public static string Record(HttpContext ctx, string? oldJson, string json)
    {
        var updated = JsonNode.Parse(json)!.AsObject();
        ServerSideApply.RecordUpdate(oldJson is null ? null : JsonNode.Parse(oldJson)!.AsObject(), updated, Of(ctx), DateTime.UtcNow);
        return updated.ToJsonString();
    }
}
