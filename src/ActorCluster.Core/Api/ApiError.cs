using System.Text.Json.Nodes;
using ActorCluster.Core.Objects;
using k8s.Models;

namespace ActorCluster.Core.Api;

/// <summary>
/// A Kubernetes API error, built the way apimachinery's errors.New* constructors build them, so that
/// kubectl prints exactly what it prints against kube-apiserver. Immutable; converts to a V1Status.
/// </summary>
public sealed record ApiError(int Code, string Reason, string Message, ApiErrorDetails? Details = null)
{
    // Quotes as \" the way Go writes them, rather than System.Text.Json's default \u0022.
    private static readonly System.Text.Json.JsonSerializerOptions JsonOptions = new()
    {
        Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public static ApiError Invalid(ResourceKind kind, string name, IReadOnlyList<FieldError> errors) =>
        Invalid(kind.Group, kind.Kind, name, errors);

    /// <summary>errors.NewInvalid for any group and kind (e.g. <c>ListOptions.meta.k8s.io</c> for bad query options).</summary>
    public static ApiError Invalid(string group, string kind, string name, IReadOnlyList<FieldError> errors)
    {
        var qualifiedKind = group.Length == 0 ? kind : kind + "." + group;
        var aggregate = FieldErrorList.Aggregate(errors);
        var message = aggregate.Length == 0
            ? $"{qualifiedKind} {GoFormat.Quote(name)} is invalid"
            : $"{qualifiedKind} {GoFormat.Quote(name)} is invalid: {aggregate}";
        return new ApiError(422, "Invalid", message,
            new ApiErrorDetails(name, group, kind,
                errors.Select(e => new ApiErrorCause(e.CauseReason, e.Body, e.Field)).ToArray()));
    }

    /// <summary>What kube-apiserver's priority and fairness answers when a client has too many requests open.</summary>
    public static ApiError TooManyRequests(int retryAfterSeconds = 1) =>
        new(429, "TooManyRequests", "Too many requests, please try again later.", new ApiErrorDetails("", "", "", [], retryAfterSeconds));

    public static ApiError NotFound(ResourceKind kind, string name) =>
        new(404, "NotFound", $"{kind.QualifiedResource} {GoFormat.Quote(name)} not found",
            new ApiErrorDetails(name, kind.Group, kind.Resource, []));

    public static ApiError AlreadyExists(ResourceKind kind, string name) =>
        new(409, "AlreadyExists", $"{kind.QualifiedResource} {GoFormat.Quote(name)} already exists",
            new ApiErrorDetails(name, kind.Group, kind.Resource, []));

    public static ApiError Conflict(ResourceKind kind, string name, string why) =>
        new(409, "Conflict", $"Operation cannot be fulfilled on {kind.QualifiedResource} {GoFormat.Quote(name)}: {why}",
            new ApiErrorDetails(name, kind.Group, kind.Resource, []));

    /// <summary>The optimistic-concurrency conflict, worded as the generic registry words it.</summary>
    public static ApiError StaleResourceVersion(ResourceKind kind, string name) =>
        Conflict(kind, name, "the object has been modified; please apply your changes to the latest version and try again");

    public static ApiError BadRequest(string message) => new(400, "BadRequest", message);

    public static ApiError MethodNotSupported(ResourceKind kind, string action) =>
        new(405, "MethodNotAllowed", $"{action} is not supported on resources of kind {GoFormat.Quote(kind.QualifiedResource)}",
            new ApiErrorDetails("", kind.Group, kind.Resource, []));

    /// <summary>The control plane cannot take the request now (it is moving or restarting); clients retry after the delay.</summary>
    public static ApiError ServiceUnavailable(string message, int retryAfterSeconds = 1) =>
        new(503, "ServiceUnavailable", message, new ApiErrorDetails("", "", "", [], retryAfterSeconds));

    /// <summary>A request body over the API's limit, as kube-apiserver's MaxRequestBodyBytes check words it.</summary>
    public static ApiError RequestEntityTooLarge(long limit) =>
        new(413, "RequestEntityTooLarge", $"Request entity too large: limit is {limit}");

    /// <summary>An object over the store's limit: kube-apiserver relays etcd's own words with 413.</summary>
    public static ApiError ObjectTooLarge() => new(413, "RequestEntityTooLarge", "etcdserver: request is too large");

    public static ApiError InternalError(string cause) =>
        new(500, "InternalError", $"Internal error occurred: {cause}",
            new ApiErrorDetails("", "", "", [new ApiErrorCause("", cause, "")]));

    public V1Status ToStatus() => new()
    {
        ApiVersion = "v1",
        Kind = "Status",
        Metadata = new V1ListMeta(),
        Status = "Failure",
        Message = Message,
        Reason = Reason,
        Code = Code,
        Details = Details is null
            ? null
            : new V1StatusDetails
            {
                Name = Details.Name.Length == 0 ? null : Details.Name,
                Group = Details.Group.Length == 0 ? null : Details.Group,
                Kind = Details.Kind.Length == 0 ? null : Details.Kind,
                RetryAfterSeconds = Details.RetryAfterSeconds == 0 ? null : Details.RetryAfterSeconds,
                Causes = Details.Causes.Count == 0
                    ? null
                    : Details.Causes.Select(c => new V1StatusCause
                    {
                        Reason = c.Reason.Length == 0 ? null : c.Reason,
                        Message = c.Message,
                        Field = c.Field.Length == 0 ? null : c.Field,
                    }).ToList(),
            },
    };

    /// <summary>
    /// The Status body as kube-apiserver writes it, fields in Go's order. (The official client can read a
    /// V1Status but its converter cannot write one, so the server side writes its own.)
    /// </summary>
    public string ToJson()
    {
        var status = new JsonObject
        {
            ["kind"] = "Status",
            ["apiVersion"] = "v1",
            ["metadata"] = new JsonObject(),
            ["status"] = "Failure",
            ["message"] = Message,
            ["reason"] = Reason,
        };
        if (Details is not null)
        {
            var details = new JsonObject();
            if (Details.Name.Length > 0) details["name"] = Details.Name;
            if (Details.Group.Length > 0) details["group"] = Details.Group;
            if (Details.Kind.Length > 0) details["kind"] = Details.Kind;
            if (Details.Causes.Count > 0)
            {
                var causes = new JsonArray();
                foreach (var c in Details.Causes)
                {
                    var cause = new JsonObject();
                    if (c.Reason.Length > 0) cause["reason"] = c.Reason;
                    cause["message"] = c.Message;
                    if (c.Field.Length > 0) cause["field"] = c.Field;
                    causes.Add(cause);
                }
                details["causes"] = causes;
            }
            if (Details.RetryAfterSeconds > 0) details["retryAfterSeconds"] = Details.RetryAfterSeconds;
            status["details"] = details;
        }
        status["code"] = Code;
        return status.ToJsonString(JsonOptions);
    }

    /// <summary>What kubectl prints for this error (cmdutil.checkErr), without the "error when creating" file prefix.</summary>
    public string KubectlMessage()
    {
        if (Reason != "Invalid" || Details is null || Details.Causes.Count == 0)
            return $"Error from server ({Reason}): {Message}";
        var head = $"The {Details.Kind} {GoFormat.Quote(Details.Name)} is invalid: ";
        var lines = Details.Causes.Select(c => c.Field + ": " + c.Message).Distinct().ToList();
        return lines.Count == 1 ? head + lines[0] : head + "\n" + string.Join("\n", lines.Select(l => "* " + l));
    }
}

/// <param name="RetryAfterSeconds">when set, the client should retry after this long (the HTTP layer also sends Retry-After)</param>
public sealed record ApiErrorDetails(string Name, string Group, string Kind, IReadOnlyList<ApiErrorCause> Causes, int RetryAfterSeconds = 0);

public sealed record ApiErrorCause(string Reason, string Message, string Field);
