using System.Net;
using System.Text;
using System.Text.Json.Nodes;
using ActorCluster.Cluster.Tests;

namespace ActorCluster.Api.Tests;

/// <summary>One node with a short bookmark interval and a small per-client watch limit.</summary>
public sealed class WatchApi : IAsyncLifetime
{
    public const int MaxWatches = 4;

    internal TestCluster Cluster { get; private set; } = null!;

    public KubernetesApi Api { get; private set; } = null!;

    public async Task InitializeAsync()
    {
        Cluster = await TestCluster.StartAsync(1, extraHocon: $"""
            actorcluster.apiserver.watch-bookmark-interval = 300ms
            actorcluster.apiserver.max-watches-per-client = {MaxWatches}
            """, starter: ApiCluster.StartWithApi(1, api => Api = api));
    }

    public async Task DisposeAsync()
    {
        await Cluster.DisposeAsync();
        Cluster.DeleteData();
    }

    public HttpClient Client() => ThreeApis.TrustedClient(Api, Cluster.DataDir);
}

/// <summary>
/// Watches as client-go's reflector and the other official clients use them: bookmarks (periodic, and the end of
/// the initial events of a watch-list), a watch that starts "now", the option rules, and the per-client bound.
/// </summary>
public sealed class WatchTests(WatchApi fixture) : IClassFixture<WatchApi>
{
    private static readonly TimeSpan Bound = TimeSpan.FromSeconds(20);
    private const string Services = "/api/v1/namespaces/default/services";

    private sealed class Stream(HttpResponseMessage response, StreamReader reader) : IDisposable
    {
        public HttpResponseMessage Response => response;

        public async Task<JsonObject> Next()
        {
            using var cts = new CancellationTokenSource(Bound);
            var line = await reader.ReadLineAsync(cts.Token) ?? throw new InvalidOperationException("the watch ended");
            return JsonNode.Parse(line)!.AsObject();
        }

        /// <summary>The next event that is not a periodic bookmark.</summary>
        public async Task<JsonObject> NextChange()
        {
            while (true)
            {
                var e = await Next();
                if ((string?)e["type"] != "BOOKMARK") return e;
            }
        }

        public void Dispose()
        {
            reader.Dispose();
            response.Dispose();
        }
    }

    private async Task<Stream> Watch(HttpClient client, string query)
    {
        var response = await client.SendAsync(new HttpRequestMessage(HttpMethod.Get, $"{Services}?{query}"), HttpCompletionOption.ResponseHeadersRead);
        return new Stream(response, new StreamReader(await response.Content.ReadAsStreamAsync()));
    }

    private static async Task<long> Create(HttpClient client, string name)
    {
        var body = $$$"""{"apiVersion":"v1","kind":"Service","metadata":{"name":"{{{name}}}"},"spec":{"ports":[{"port":80}]}}""";
        using var response = await client.PostAsync(Services, new StringContent(body, Encoding.UTF8, "application/json"));
        var json = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.True(response.StatusCode == HttpStatusCode.Created, json.ToJsonString());
        return long.Parse((string)json["metadata"]!["resourceVersion"]!, System.Globalization.CultureInfo.InvariantCulture);
    }

    private static long Version(JsonObject e) =>
        long.Parse((string)e["object"]!["metadata"]!["resourceVersion"]!, System.Globalization.CultureInfo.InvariantCulture);

    [Fact]
    public async Task A_watch_list_ends_its_initial_events_with_a_bookmark_then_bookmarks_follow_the_version_seen()
    {
        using var client = fixture.Client();
        var before = await Create(client, "wl-before");
        using var watch = await Watch(client, "watch=true&allowWatchBookmarks=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan");
        Assert.Equal(HttpStatusCode.OK, watch.Response.StatusCode);

        // The current objects as ADDED, then the bookmark that says they are complete, at a version that covers them.
        var initial = new List<string>();
        JsonObject end;
        while (true)
        {
            var e = await watch.Next();
            if ((string?)e["type"] == "BOOKMARK")
            {
                end = e;
                break;
            }
            Assert.Equal("ADDED", (string?)e["type"]);
            initial.Add((string)e["object"]!["metadata"]!["name"]!);
        }
        Assert.Contains("wl-before", initial);
        Assert.Equal("true", (string?)end["object"]!["metadata"]!["annotations"]!["k8s.io/initial-events-end"]);
        Assert.Equal("Service", (string?)end["object"]!["kind"]);
        Assert.True(Version(end) >= before);

        // A change, then a periodic bookmark at (or past) its version, without the end-of-initial-events mark.
        var after = await Create(client, "wl-after");
        var added = await watch.Next();
        Assert.Equal("ADDED", (string?)added["type"]);
        Assert.Equal(after, Version(added));
        var bookmark = await watch.Next();
        Assert.Equal("BOOKMARK", (string?)bookmark["type"]);
        Assert.True(Version(bookmark) >= after);
        Assert.Null(bookmark["object"]!["metadata"]!["annotations"]);
    }

    [Fact]
    public async Task Only_a_watch_that_allows_bookmarks_gets_them()
    {
        using var client = fixture.Client();
        using var plain = await Watch(client, "watch=true");
        using var clock = await Watch(client, "watch=true&allowWatchBookmarks=true");
        // Both see the current state first; the bookmark watch then gets bookmarks, twice, while nothing changes.
        var name = $"plain-{Guid.NewGuid():N}"[..20];
        var seen = 0;
        while (seen < 2)
        {
            if ((string?)(await clock.Next())["type"] == "BOOKMARK") seen++;
        }
        await Create(client, name);
        // The plain watch had the same time for bookmarks: its stream holds only the state and the change.
        while (true)
        {
            var e = await plain.Next();
            Assert.NotEqual("BOOKMARK", (string?)e["type"]);
            if ((string?)e["object"]!["metadata"]!["name"] == name) break;
        }
    }

    [Fact]
    public async Task A_watch_without_initial_events_starts_now()
    {
        using var client = fixture.Client();
        await Create(client, "now-before");
        using var watch = await Watch(client, "watch=true&allowWatchBookmarks=true&sendInitialEvents=false&resourceVersionMatch=NotOlderThan");
        var after = await Create(client, "now-after");
        var first = await watch.NextChange();
        Assert.Equal("ADDED", (string?)first["type"]);
        Assert.Equal("now-after", (string?)first["object"]!["metadata"]!["name"]);
        Assert.Equal(after, Version(first));
    }

    [Fact]
    public async Task Bad_watch_options_get_kube_apiservers_Status()
    {
        using var client = fixture.Client();
        using var response = await client.GetAsync($"{Services}?watch=true&sendInitialEvents=true");
        Assert.Equal(HttpStatusCode.UnprocessableEntity, response.StatusCode);
        var status = JsonNode.Parse(await response.Content.ReadAsStringAsync())!;
        Assert.Equal("ListOptions.meta.k8s.io \"\" is invalid: resourceVersionMatch: Forbidden: sendInitialEvents requires setting resourceVersionMatch to NotOlderThan", (string?)status["message"]);
        Assert.Equal("FieldValueForbidden", (string?)status["details"]!["causes"]![0]!["reason"]);

        using var badVersion = await client.GetAsync($"{Services}?watch=true&resourceVersion=x1");
        Assert.Equal(HttpStatusCode.BadRequest, badVersion.StatusCode);
    }

    [Fact]
    public async Task One_client_holds_a_bounded_number_of_watches_and_gets_429_beyond_it()
    {
        using var client = fixture.Client();
        var open = new List<Stream>();
        try
        {
            // Earlier tests' watches may still be closing on the server: each of ours is accepted once they are gone.
            for (var i = 0; i < WatchApi.MaxWatches; i++) await OpenOne();
            using (var refused = await client.GetAsync($"{Services}?watch=true", HttpCompletionOption.ResponseHeadersRead))
            {
                Assert.Equal(HttpStatusCode.TooManyRequests, refused.StatusCode);
                Assert.Equal("1", refused.Headers.GetValues("Retry-After").Single());
                var status = JsonNode.Parse(await refused.Content.ReadAsStringAsync())!;
                Assert.Equal("TooManyRequests", (string?)status["reason"]);
                Assert.Equal("Too many requests, please try again later.", (string?)status["message"]);
            }
            // Lists are not watches: still served.
            using (var list = await client.GetAsync(Services)) Assert.Equal(HttpStatusCode.OK, list.StatusCode);

            // Closing one makes room (the server notices the close when the stream is torn down).
            open[0].Dispose();
            open.RemoveAt(0);
            await OpenOne();
        }
        finally
        {
            foreach (var s in open) s.Dispose();
        }

        Task OpenOne() => TestCluster.Eventually(async () =>
        {
            var watch = await Watch(client, "watch=true");
            if (watch.Response.StatusCode == HttpStatusCode.OK)
            {
                open.Add(watch);
                return true;
            }
            Assert.Equal(HttpStatusCode.TooManyRequests, watch.Response.StatusCode);
            watch.Dispose();
            return false;
        }, Bound, "a watch accepted once the client holds fewer than the limit");
    }
}
