using System.Text.Json.Nodes;
using ActorCluster.Cluster.ApiServer;
using ActorCluster.Core.Api;
using ActorCluster.Core.Store;
using ActorCluster.Core.Tables;
using Microsoft.AspNetCore.Http;

namespace ActorCluster.Api;

/// <summary>How the API answers: objects and lists as JSON (or a Table), errors as a Status with Retry-After when asked.</summary>
internal static class ApiResponses
{
    public static async Task Reply(HttpContext ctx, object reply, int okStatus, bool table)
    {
        switch (reply)
        {
            case ObjectReply o when table:
                var obj = StoredObject.FromJson(o.Resource, o.Json);
                await Json(ctx, okStatus, TableConverter.ToTable(obj.Kind, [obj], o.ResourceVersion, null, DateTime.UtcNow));
                return;
            case ObjectReply o:
                await Raw(ctx, okStatus, o.Json);
                return;
            case ApiErrorReply e:
                if (e.RetryAfterSeconds > 0) ctx.Response.Headers.RetryAfter = e.RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
                await Raw(ctx, e.Code, e.StatusJson);
                return;
            default:
                await Error(ctx, ApiError.InternalError($"unexpected reply {reply.GetType().Name}"));
                return;
        }
    }

    public static Task Error(HttpContext ctx, ApiError error)
    {
        if (error.Details?.RetryAfterSeconds is > 0 and var after)
            ctx.Response.Headers.RetryAfter = after.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return Raw(ctx, error.Code, error.ToJson());
    }

    public static Task Json(HttpContext ctx, int status, JsonNode body) => Raw(ctx, status, body.ToJsonString());

    public static async Task Raw(HttpContext ctx, int status, string json)
    {
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "application/json";
        await ctx.Response.WriteAsync(json);
    }

    public static async Task Text(HttpContext ctx, int status, string text)
    {
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "text/plain; charset=utf-8";
        await ctx.Response.WriteAsync(text);
    }
}
