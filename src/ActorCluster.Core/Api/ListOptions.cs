using ActorCluster.Core.Objects;

namespace ActorCluster.Core.Api;

/// <summary>
/// A list or watch request's query options, parsed with Go's rules (<see cref="QueryValues"/>) and checked as
/// apimachinery's ValidateListOptions checks them (the WatchList feature on, as in Kubernetes 1.32), so a client
/// gets the same 400 or 422 it would get from kube-apiserver.
/// </summary>
public sealed record ListOptions(
    bool Watch,
    bool AllowWatchBookmarks,
    bool? SendInitialEvents,
    string ResourceVersion,
    string ResourceVersionMatch,
    long Limit,
    string Continue,
    long? TimeoutSeconds)
{
    public const string NotOlderThan = "NotOlderThan";
    public const string Exact = "Exact";

    /// <summary>Reads the options from a query (<paramref name="get"/> returns null for an absent parameter); a malformed value is a 400.</summary>
    public static ListOptions Parse(Func<string, string?> get)
    {
        var sendInitialEvents = get("sendInitialEvents") is { Length: > 0 } s ? QueryValues.Bool("sendInitialEvents", s) : (bool?)null;
        var options = new ListOptions(
            QueryValues.Bool("watch", get("watch")),
            QueryValues.Bool("allowWatchBookmarks", get("allowWatchBookmarks")),
            sendInitialEvents,
            get("resourceVersion") ?? "",
            get("resourceVersionMatch") ?? "",
            Math.Max(0, QueryValues.Int("limit", get("limit")) ?? 0),
            get("continue") ?? "",
            QueryValues.Int("timeoutSeconds", get("timeoutSeconds")));
        // The watch cache parses the version with strconv.ParseUint and answers a bad one with 400.
        if (options.ResourceVersion.Length > 0 && !ulong.TryParse(options.ResourceVersion, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out _))
            throw new ApiErrorException(ApiError.BadRequest(
                $"resourceVersion: Invalid value: {GoFormat.Quote(options.ResourceVersion)}: strconv.ParseUint: parsing {GoFormat.Quote(options.ResourceVersion)}: invalid syntax"));
        var errors = options.Validate();
        if (errors.Count > 0) throw new ApiErrorException(ApiError.Invalid("meta.k8s.io", "ListOptions", "", errors));
        return options;
    }

    /// <summary>The version to resume a watch from; 0 for "now" (empty or "0").</summary>
    public long ResourceVersionNumber => long.TryParse(ResourceVersion, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var rv) ? rv : 0;

    /// <summary>Whether a watch starts with the current objects as ADDED events.</summary>
    /// <remarks>
    /// Without sendInitialEvents, only an empty or "0" resourceVersion does (the legacy rule); with it, the
    /// client says so itself, and the stream marks the end of those events with a bookmark.
    /// </remarks>
    public bool WatchStartsWithState => SendInitialEvents ?? ResourceVersionNumber == 0;

    public IReadOnlyList<FieldError> Validate()
    {
        var errors = new List<FieldError>();
        var match = FieldPath.Root("resourceVersionMatch");
        if (Watch)
        {
            if (SendInitialEvents is not null && ResourceVersionMatch != NotOlderThan)
                errors.Add(FieldError.Forbidden(match, $"sendInitialEvents requires setting resourceVersionMatch to {NotOlderThan}"));
            if (ResourceVersionMatch.Length > 0)
            {
                if (SendInitialEvents is null)
                    errors.Add(FieldError.Forbidden(match, "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided"));
                if (ResourceVersionMatch != NotOlderThan)
                    errors.Add(FieldError.NotSupported(match, ResourceVersionMatch, [NotOlderThan]));
                if (Continue.Length > 0)
                    errors.Add(FieldError.Forbidden(match, "resourceVersionMatch is forbidden when continue is provided"));
            }
            return errors;
        }
        if (ResourceVersionMatch.Length > 0)
        {
            if (ResourceVersion.Length == 0)
                errors.Add(FieldError.Forbidden(match, "resourceVersionMatch is forbidden unless resourceVersion is provided"));
            if (Continue.Length > 0)
                errors.Add(FieldError.Forbidden(match, "resourceVersionMatch is forbidden when continue is provided"));
            if (ResourceVersionMatch is not (Exact or NotOlderThan))
                errors.Add(FieldError.NotSupported(match, ResourceVersionMatch, [Exact, NotOlderThan, ""]));
            if (ResourceVersionMatch == Exact && ResourceVersion == "0")
                errors.Add(FieldError.Forbidden(match, "resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\""));
        }
        if (SendInitialEvents is not null)
            errors.Add(FieldError.Forbidden(FieldPath.Root("sendInitialEvents"), "sendInitialEvents is forbidden for list"));
        return errors;
    }
}
