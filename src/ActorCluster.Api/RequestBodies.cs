using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using ActorCluster.Core.Api;
using ActorCluster.Core.Objects;
using ActorCluster.Core.Store;
using Microsoft.AspNetCore.Http;

namespace ActorCluster.Api;

/// <summary>
/// Request bodies read as kube-apiserver reads them: bounded (413 past the limit, checked before and while reading),
/// in every media type a client may send (JSON, YAML, protobuf), checked for kind and version, strict field
/// validation when asked, and decoded into the model here so a malformed body never reaches the ApiServer.
/// </summary>
internal sealed class RequestBodies(long maxRequestBytes)
{
    /// <summary>Reads a JSON (or YAML) body, checks its kind, and applies fieldValidation=Strict as kube-apiserver does.</summary>
    public async Task<string> ReadBody(HttpContext ctx, ResourceKind kind)
    {
        var bytes = await ReadBytes(ctx);
        var mediaType = MediaType(ctx);
        if (mediaType == ProtobufBodies.ContentType)
            return ProtobufBodies.ToJson(bytes, kind);
        if (mediaType is not ("application/json" or "application/yaml" or "application/x-yaml" or "text/yaml" or "application/merge-patch+json"
            or "application/strategic-merge-patch+json" or "application/apply-patch+yaml" or "" or "*/*" or "text/plain"))
            throw new ApiErrorException(new ApiError(415, "UnsupportedMediaType",
                $"the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf"));
        var text = Encoding.UTF8.GetString(bytes);
        if (mediaType.Contains("yaml", StringComparison.Ordinal))
        {
            var documents = KubeObjects.LoadAll(text);
            if (documents.Count != 1)
                throw new ApiErrorException(ApiError.BadRequest($"the body of the request must hold exactly one object, it holds {documents.Count} YAML documents"));
            text = KubeObjects.ToJson(documents[0]);
        }
        JsonNode? node;
        try
        {
            node = JsonNode.Parse(text);
        }
        catch (JsonException e)
        {
            throw new ApiErrorException(ApiError.BadRequest($"the body of the request was in an unknown format - accepted media types include: application/json, application/yaml: {e.Message}"));
        }
        if (node is not JsonObject obj) throw new ApiErrorException(ApiError.BadRequest("the body of the request must be an object"));
        if (obj["kind"] is { } k && k.GetValueKind() != JsonValueKind.String || obj["apiVersion"] is { } a && a.GetValueKind() != JsonValueKind.String)
            throw new ApiErrorException(ApiError.BadRequest("Object 'Kind' and 'apiVersion' must be strings"));
        if (obj["metadata"] is { } m && m.GetValueKind() != JsonValueKind.Object)
            throw new ApiErrorException(ApiError.BadRequest($"{kind.Kind} in version \"{kind.Version}\" cannot be handled as a {kind.Kind}: metadata must be an object"));
        var bodyKind = obj["kind"]?.GetValue<string>();
        var bodyVersion = obj["apiVersion"]?.GetValue<string>();
        if (bodyKind is not null && bodyKind != kind.Kind || bodyVersion is not null && bodyVersion != kind.ApiVersion)
            throw new ApiErrorException(ApiError.BadRequest($"the API version in the data ({bodyVersion}) does not match the expected API version ({kind.ApiVersion})"));
        var validation = ctx.Request.Query["fieldValidation"].ToString();
        if (validation is "Strict")
        {
            var modelType = StoredObject.FromJson(kind.Resource, "{}").Object.GetType();
            var unknown = StrictDecoding.UnknownFields(obj, modelType);
            if (unknown.Count > 0)
                throw new ApiErrorException(ApiError.BadRequest(
                    $"{kind.Kind} in version \"{kind.Version}\" cannot be handled as a {kind.Kind}: strict decoding error: " +
                    string.Join(", ", unknown.Select(u => $"unknown field \"{u}\""))));
        }
        // Decode into the model here, so a body of the wrong shape is this request's 400 and never reaches the ApiServer.
        StoredObject.FromJson(kind.Resource, text);
        return text;
    }

    /// <summary>The media type of the body without parameters (charset etc.), lower case.</summary>
    public static string MediaType(HttpContext ctx) =>
        (ctx.Request.ContentType ?? "").Split(';')[0].Trim().ToLowerInvariant();

    /// <summary>The request body, refused with 413 past the limit (checked before and while reading).</summary>
    public async Task<byte[]> ReadBytes(HttpContext ctx)
    {
        if (ctx.Request.ContentLength > maxRequestBytes) throw new ApiErrorException(ApiError.RequestEntityTooLarge(maxRequestBytes));
        using var buffer = new MemoryStream();
        var chunk = new byte[64 * 1024];
        int n;
        while ((n = await ctx.Request.Body.ReadAsync(chunk, ctx.RequestAborted)) > 0)
        {
            if (buffer.Length + n > maxRequestBytes) throw new ApiErrorException(ApiError.RequestEntityTooLarge(maxRequestBytes));
            buffer.Write(chunk, 0, n);
        }
        return buffer.ToArray();
    }

    public async Task<string> ReadText(HttpContext ctx) => Encoding.UTF8.GetString(await ReadBytes(ctx));

    public sealed record DeleteOptionsBody(long? GracePeriodSeconds, IReadOnlyList<string?>? DryRun, string? PropagationPolicy = null);

    /// <summary>A propagation policy kube-apiserver accepts, or its 422 in its words.</summary>
    public static string? ValidPropagation(string? policy) =>
        policy is null or "Orphan" or "Background" or "Foreground"
            ? policy
            : throw new ApiErrorException(new ApiError(422, "Invalid",
                $"DeleteOptions.meta.k8s.io \"\" is invalid: propagationPolicy: Unsupported value: {GoFormat.Quote(policy)}: supported values: \"Foreground\", \"Background\", \"Orphan\", \"nil\""));

    public static DeleteOptionsBody ParseDeleteOptions(string json)
    {
        try
        {
            if (JsonNode.Parse(json) is not JsonObject o) throw new ApiErrorException(ApiError.BadRequest("DeleteOptions must be an object"));
            long? grace = o["gracePeriodSeconds"] is { } g ? g.GetValue<long>() : null;
            var dryRun = o["dryRun"] is JsonArray d ? d.Select(x => x?.GetValue<string>()).ToList() : null;
            var propagation = o["propagationPolicy"]?.GetValue<string>();
            // orphanDependents (deprecated, still sent by old clients) is Orphan or Background.
            if (propagation is null && o["orphanDependents"] is { } orphan) propagation = orphan.GetValue<bool>() ? "Orphan" : "Background";
            return new DeleteOptionsBody(grace, dryRun, ValidPropagation(propagation));
        }
        catch (Exception e) when (e is JsonException or FormatException or InvalidOperationException)
        {
            throw new ApiErrorException(ApiError.BadRequest($"the body of the request was in an unknown format - accepted media types include: application/json: {e.Message}"));
        }
    }
}
