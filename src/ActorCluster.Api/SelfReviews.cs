using System.Text.Json.Nodes;
using ActorCluster.Core.Api;
using ActorCluster.Core.Auth;
using ActorCluster.Core.Objects;
using Microsoft.AspNetCore.Http;
using static ActorCluster.Api.ApiResponses;

namespace ActorCluster.Api;

/// <summary>
/// A caller asking about itself: SelfSubjectAccessReview (authorization.k8s.io/v1, what <c>kubectl auth can-i</c>
/// sends) and SelfSubjectReview (authentication.k8s.io/v1, <c>kubectl auth whoami</c>). Both are create-only, kept
/// nowhere, and open to every authenticated user, as kube-apiserver's system:basic-user role makes them.
/// </summary>
internal static class SelfReviews
{
    private const string AccessReviews = "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews";
    private const string RulesReviews = "/apis/authorization.k8s.io/v1/selfsubjectrulesreviews";
    private const string Reviews = "/apis/authentication.k8s.io/v1/selfsubjectreviews";

    /// <summary>The paths every authenticated user may GET (system:discovery, system:public-info-viewer).</summary>
    private static readonly string[] OpenPaths = ["/api", "/api/*", "/apis", "/apis/*", "/healthz", "/livez", "/openapi", "/openapi/*", "/readyz", "/version", "/version/"];

    public static bool Handles(string path) => path is AccessReviews or RulesReviews or Reviews;

    public static async Task Handle(HttpContext ctx, string path, UserInfo user, RequestBodies bodies)
    {
        if (ctx.Request.Method != "POST")
        {
            await Error(ctx, new ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource"));
            return;
        }
        var bytes = await bodies.ReadBytes(ctx);
        // kubectl's typed clients send protobuf; a SelfSubjectReview's body carries nothing the answer needs.
        var protobuf = ctx.Request.ContentType?.StartsWith(ProtobufBodies.ContentType, StringComparison.Ordinal) == true;
        if (path == RulesReviews)
        {
            // The rules do not depend on spec.namespace here (every rule is cluster-wide), so the body is not needed.
            await Json(ctx, 201, RulesReview(user));
            return;
        }
        var text = path == Reviews ? "{}" : protobuf ? ProtobufBodies.SelfSubjectAccessReviewToJson(bytes) : System.Text.Encoding.UTF8.GetString(bytes);
        JsonObject review;
        try
        {
            review = JsonNode.Parse(text.Length == 0 ? "{}" : text) as JsonObject ?? throw new ApiErrorException(ApiError.BadRequest("the body must be a JSON object"));
        }
        catch (System.Text.Json.JsonException e)
        {
            throw new ApiErrorException(ApiError.BadRequest(e.Message));
        }
        if (path == Reviews)
        {
            await Json(ctx, 201, new JsonObject
            {
                ["kind"] = "SelfSubjectReview",
                ["apiVersion"] = "authentication.k8s.io/v1",
                ["metadata"] = new JsonObject { ["creationTimestamp"] = null },
                ["status"] = new JsonObject
                {
                    ["userInfo"] = new JsonObject
                    {
                        ["username"] = user.Name,
                        ["uid"] = user.Uid,
                        ["groups"] = new JsonArray(user.AllGroups.Select(g => (JsonNode)g).ToArray()),
                    },
                },
            });
            return;
        }
        var spec = review["spec"] as JsonObject;
        bool allowed;
        if (spec?["resourceAttributes"] is JsonObject r)
        {
            string? Get(string key) => r[key]?.GetValue<string>() is { Length: > 0 } v ? v : null;
            var attributes = new ResourceAttributes(Get("verb") ?? "", Get("group") ?? "", Get("resource") ?? "", Get("subresource"), Get("namespace"), Get("name"));
            if (attributes.Verb.Length == 0 || attributes.Resource.Length == 0)
                throw new ApiErrorException(Invalid("spec.resourceAttributes", "verb and resource are required"));
            allowed = Authorizer.Allows(user, attributes);
        }
        else if (spec?["nonResourceAttributes"] is JsonObject n)
        {
            // Discovery, version, health and OpenAPI are everyone's; the rest (e.g. /metrics) needs a role.
            var p = n["path"]?.GetValue<string>() ?? "";
            allowed = user.Groups.Contains(UserInfo.Masters)
                      || (n["verb"]?.GetValue<string>() == "get" && (p is "/api" or "/apis" or "/version" or "/livez" or "/readyz" or "/healthz"
                          || p.StartsWith("/api/", StringComparison.Ordinal) || p.StartsWith("/apis/", StringComparison.Ordinal) || p.StartsWith("/openapi", StringComparison.Ordinal)
                          || (p == "/metrics" && user.Groups.Contains(UserInfo.View))));
        }
        else
        {
            throw new ApiErrorException(Invalid("spec", "exactly one of nonResourceAttributes or resourceAttributes must be specified"));
        }
        review["kind"] = "SelfSubjectAccessReview";
        review["apiVersion"] = "authorization.k8s.io/v1";
        review["metadata"] ??= new JsonObject { ["creationTimestamp"] = null };
        review["status"] = new JsonObject { ["allowed"] = allowed };
        await Json(ctx, 201, review);
    }

    private static JsonObject RulesReview(UserInfo user)
    {
        static JsonArray Strings(IEnumerable<string> values) => new(values.Select(v => (JsonNode)v).ToArray());
        var rules = Authorizer.RulesFor(user, ResourceKind.All.Select(k => (k.Group, k.Resource)).ToList());
        var nonResource = user.Groups.Contains(UserInfo.Masters)
            ? new JsonObject { ["verbs"] = Strings(["*"]), ["nonResourceURLs"] = Strings(["*"]) }
            : new JsonObject { ["verbs"] = Strings(["get"]), ["nonResourceURLs"] = Strings(user.Groups.Contains(UserInfo.View) ? [.. OpenPaths, "/metrics"] : OpenPaths) };
        return new JsonObject
        {
            ["kind"] = "SelfSubjectRulesReview",
            ["apiVersion"] = "authorization.k8s.io/v1",
            ["metadata"] = new JsonObject { ["creationTimestamp"] = null },
            ["spec"] = new JsonObject(),
            ["status"] = new JsonObject
            {
                ["resourceRules"] = new JsonArray(rules.Select(r => (JsonNode)new JsonObject
                {
                    ["verbs"] = Strings(r.Verbs), ["apiGroups"] = Strings(r.ApiGroups), ["resources"] = Strings(r.Resources),
                }).ToArray()),
                ["nonResourceRules"] = new JsonArray(nonResource),
                ["incomplete"] = false,
            },
        };
    }

    private static ApiError Invalid(string field, string detail) =>
        new(422, "Invalid", $"SelfSubjectAccessReview.authorization.k8s.io \"\" is invalid: {field}: Invalid value: \"null\": {detail}",
            new ApiErrorDetails("", "authorization.k8s.io", "SelfSubjectAccessReview", [new ApiErrorCause("FieldValueInvalid", $"Invalid value: \"null\": {detail}", field)]));
}
