using ActorCluster.Core.Api;
using ActorCluster.Core.Auth;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.Logging;

namespace ActorCluster.Api;

/// <summary>
/// RBAC verbs from HTTP requests, and the audit line every write leaves in the node's log once it is answered
/// (category <c>ActorCluster.Api.Audit</c>, one line, key=value with quoted strings as Go's %q writes them):
/// <code>audit: user="alice" groups="view" verb=create resource="services" namespace="default" name="svc-1" code=403</code>
/// Refused writes (401 excepted: no user) are audited too; reads are not.
/// </summary>
internal static class ApiAudit
{
    private const string NameKey = "actorcluster.audit.name";

    /// <summary>kube-apiserver's verb for a request (endpoints/request.RequestInfoFactory).</summary>
    public static string Verb(string method, bool named, bool watch) => method switch
    {
        "GET" or "HEAD" => named ? "get" : watch ? "watch" : "list",
        "POST" => "create",
        "PUT" => "update",
        "PATCH" => "patch",
        "DELETE" => named ? "delete" : "deletecollection",
        _ => method.ToLowerInvariant(),
    };

    /// <summary>Logs the write once its answer has gone out, with the status code the client got.</summary>
    public static void Track(HttpContext ctx, ILogger audit, UserInfo user, ResourceAttributes a) =>
        ctx.Response.OnCompleted(() =>
        {
            var name = a.Name ?? ctx.Items[NameKey] as string ?? "";
            audit.LogInformation("audit: user={User} groups={Groups} verb={Verb} resource={Resource} namespace={Namespace} name={Name} code={Code}",
                GoFormat.Quote(user.Name), GoFormat.Quote(string.Join(",", user.Groups)), a.Verb, GoFormat.Quote(a.QualifiedResource),
                GoFormat.Quote(a.Namespace ?? ""), GoFormat.Quote(name), ctx.Response.StatusCode);
            return Task.CompletedTask;
        });

    /// <summary>The name of an object being created, read from its body (a create's URL has none).</summary>
    public static void NameFromBody(HttpContext ctx, string json)
    {
        try
        {
            using var doc = System.Text.Json.JsonDocument.Parse(json);
            if (doc.RootElement.TryGetProperty("metadata", out var meta) && meta.ValueKind == System.Text.Json.JsonValueKind.Object
                && meta.TryGetProperty("name", out var name) && name.ValueKind == System.Text.Json.JsonValueKind.String)
                ctx.Items[NameKey] = name.GetString();
        }
        catch (System.Text.Json.JsonException)
        {
            // The ApiServer answers a body it cannot read; the audit line just has no name.
        }
    }
}
