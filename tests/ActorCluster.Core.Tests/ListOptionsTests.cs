using ActorCluster.Core.Api;
using ActorCluster.Core.Objects;

namespace ActorCluster.Core.Tests;

/// <summary>List and watch options checked as apimachinery's ValidateListOptions checks them, word for word.</summary>
public class ListOptionsTests
{
    private static ListOptions Parse(string query)
    {
        var pairs = query.Split('&', StringSplitOptions.RemoveEmptyEntries).Select(p => p.Split('=', 2)).ToDictionary(p => p[0], p => p.Length > 1 ? p[1] : "");
        return ListOptions.Parse(k => pairs.TryGetValue(k, out var v) ? v : null);
    }

    private static ApiError Refused(string query) => Assert.Throws<ApiErrorException>(() => Parse(query)).Error;

    [Theory]
    [InlineData("watch=true&sendInitialEvents=true",
        "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan")]
    [InlineData("watch=1&resourceVersionMatch=NotOlderThan",
        "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided")]
    [InlineData("watch=true&sendInitialEvents=true&resourceVersionMatch=Exact",
        "ListOptions.meta.k8s.io \"\" is invalid: [resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan, resourceVersionMatch: Unsupported value: \"Exact\": supported values: \"NotOlderThan\"]")]
    [InlineData("sendInitialEvents=false",
        "ListOptions.meta.k8s.io \"\" is invalid: sendInitialEvents: Forbidden: sendInitialEvents is forbidden for list")]
    [InlineData("resourceVersionMatch=NotOlderThan",
        "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Forbidden: resourceVersionMatch is forbidden unless resourceVersion is provided")]
    [InlineData("resourceVersion=0&resourceVersionMatch=Exact",
        "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Forbidden: resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"")]
    [InlineData("resourceVersion=5&resourceVersionMatch=Newest",
        "ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Unsupported value: \"Newest\": supported values: \"Exact\", \"NotOlderThan\", \"\"")]
    public void Refused_as_kube_apiserver_refuses_them(string query, string message)
    {
        var error = Refused(query);
        Assert.Equal(422, error.Code);
        Assert.Equal("Invalid", error.Reason);
        Assert.Equal(message, error.Message);
        Assert.Equal("meta.k8s.io", error.Details!.Group);
        Assert.Equal("ListOptions", error.Details.Kind);
    }

    [Theory]
    [InlineData("watch=yes", "invalid value for watch: strconv.ParseBool: parsing \"yes\": invalid syntax")]
    [InlineData("allowWatchBookmarks=2", "invalid value for allowWatchBookmarks: strconv.ParseBool: parsing \"2\": invalid syntax")]
    [InlineData("timeoutSeconds=1.5", "invalid value for timeoutSeconds: strconv.ParseInt: parsing \"1.5\": invalid syntax")]
    [InlineData("resourceVersion=abc", "resourceVersion: Invalid value: \"abc\": strconv.ParseUint: parsing \"abc\": invalid syntax")]
    [InlineData("resourceVersion=-1", "resourceVersion: Invalid value: \"-1\": strconv.ParseUint: parsing \"-1\": invalid syntax")]
    public void Malformed_values_are_400s_in_Gos_words(string query, string message)
    {
        var error = Refused(query);
        Assert.Equal(400, error.Code);
        Assert.Equal(message, error.Message);
    }

    [Theory]
    [InlineData("watch=true", true, 0L)] // the legacy rule: no version -> the current state first
    [InlineData("watch=true&resourceVersion=0", true, 0L)]
    [InlineData("watch=true&resourceVersion=42", false, 42L)]
    [InlineData("watch=true&allowWatchBookmarks=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&resourceVersion=42", true, 42L)]
    [InlineData("watch=true&allowWatchBookmarks=true&sendInitialEvents=false&resourceVersionMatch=NotOlderThan", false, 0L)]
    public void Where_a_watch_starts(string query, bool withState, long version)
    {
        var options = Parse(query);
        Assert.True(options.Watch);
        Assert.Equal(withState, options.WatchStartsWithState);
        Assert.Equal(version, options.ResourceVersionNumber);
    }

    [Fact]
    public void Every_spelling_official_clients_send_is_understood()
    {
        var options = Parse("watch=1&allowWatchBookmarks=True&timeoutSeconds=+30&limit=500&continue=abc");
        Assert.True(options.Watch);
        Assert.True(options.AllowWatchBookmarks);
        Assert.Equal(30, options.TimeoutSeconds);
        Assert.Equal(500, options.Limit);
        Assert.Equal("abc", options.Continue);
    }
}
