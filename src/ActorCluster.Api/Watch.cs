using System.Text.Json.Nodes;
using System.Threading.Channels;
using ActorCluster.Cluster.ApiServer;
using ActorCluster.Cluster.Hosting;
using ActorCluster.Core.Api;
using ActorCluster.Core.Objects;
using ActorCluster.Core.Selectors;
using ActorCluster.Core.Store;
using ActorCluster.Core.Tables;
using Akka.Actor;
using Microsoft.AspNetCore.Http;

namespace ActorCluster.Api;

/// <summary>
/// <c>?watch=true</c>: a stream of {"type","object"} lines for one resource, from the list's resourceVersion
/// (or, without one, the current objects as ADDED first). Resuming from a version older than the ApiServer's
/// history ends with an ERROR event carrying 410 Expired, as Kubernetes does.
/// </summary>
internal static class Watch
{
    /// <summary>Events a watch may fall behind by before it is closed (kube-apiserver closes a watcher that cannot keep up).</summary>
    internal const int MaxPendingEvents = 1000;

    /// <summary>
    /// Relays the ApiServer's watch messages into a bounded channel the HTTP response reads. The stream ends when
    /// the ApiServer that serves it stops or moves (the client watches again from its last version, as it does
    /// when kube-apiserver closes a watch), or when the client falls too far behind.
    /// </summary>
    private sealed class Relay : ReceiveActor, IWithTimers
    {
        private IActorRef? _source;

        public Relay(IActorRef apiServer, long fromResourceVersion, ChannelWriter<object> writer, TimeSpan? bookmarkInterval)
        {
            Receive<Terminated>(t =>
            {
                if (t.ActorRef.Equals(_source)) writer.TryComplete();
            });
            // A missed tick is harmless (the next one comes); it never counts against a slow watcher.
            Receive<BookmarkDue>(tick => writer.TryWrite(tick));
            ReceiveAny(m =>
            {
                if (_source is null && m is WatchSnapshot or WatchChange or WatchResumed)
                {
                    _source = Sender;
                    Context.Watch(Sender);
                }
                if (!writer.TryWrite(m)) writer.TryComplete(new WatcherTooSlow());
            });
            apiServer.Tell(new StartWatch(Self, "", fromResourceVersion));
            _apiServer = apiServer;
            _bookmarkInterval = bookmarkInterval;
        }

        private readonly IActorRef _apiServer;
        private readonly TimeSpan? _bookmarkInterval;

        public ITimerScheduler Timers { get; set; } = null!;

        protected override void PreStart()
        {
            if (_bookmarkInterval is { } every) Timers.StartPeriodicTimer("bookmark", BookmarkDue.Instance, every);
        }

        protected override void PostStop() => _apiServer.Tell(new StopWatch(Self));
    }

    /// <summary>The relay's timer: time to tell the client how far it has seen (only when it allowed bookmarks).</summary>
    private sealed record BookmarkDue
    {
        public static readonly BookmarkDue Instance = new();
    }

    public static async Task Serve(HttpContext ctx, ActorClusterNode node, ResourceKind kind, string? ns, bool table, ListOptions options, WatchLimiter limiter)
    {
        var q = ctx.Request.Query;
        LabelSelector labels;
        FieldSelector fields;
        try
        {
            labels = q["labelSelector"].ToString() is { Length: > 0 } ls ? LabelSelector.Parse(ls) : LabelSelector.Everything;
            fields = q["fieldSelector"].ToString() is { Length: > 0 } fs ? FieldSelector.Parse(fs, kind.Resource) : FieldSelector.Everything;
        }
        catch (FormatException e)
        {
            await ApiResponses.Error(ctx, ApiError.BadRequest(e.Message));
            return;
        }
        var client = ctx.Connection.RemoteIpAddress?.ToString() ?? "";
        if (!limiter.TryOpen(client))
        {
            await ApiResponses.Error(ctx, ApiError.TooManyRequests());
            return;
        }
        try
        {
            await Stream(ctx, node, kind, ns, table, options, labels, fields);
        }
        finally
        {
            limiter.Close(client);
        }
    }

    private static async Task Stream(HttpContext ctx, ActorClusterNode node, ResourceKind kind, string? ns, bool table, ListOptions options, LabelSelector labels, FieldSelector fields)
    {
        // With a resourceVersion and no initial state, the stream resumes from that version's history; otherwise it
        // starts from the current state (sent as ADDED events unless the client asked for none).
        var from = options.WatchStartsWithState ? 0 : options.ResourceVersionNumber;
        var sendState = options.WatchStartsWithState;
        var timeout = options.TimeoutSeconds is > 0 and var t ? TimeSpan.FromSeconds(t) : TimeSpan.FromMinutes(30);
        var bookmarkInterval = options.AllowWatchBookmarks
            ? node.System.Settings.Config.GetTimeSpan("actorcluster.apiserver.watch-bookmark-interval", TimeSpan.FromSeconds(60), allowInfinite: false)
            : (TimeSpan?)null;

        var channel = Channel.CreateBounded<object>(new BoundedChannelOptions(MaxPendingEvents) { SingleReader = true, SingleWriter = true });
        var relay = node.System.ActorOf(Props.Create(() => new Relay(node.ApiServer, from, channel.Writer, bookmarkInterval)));
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ctx.RequestAborted);
        cts.CancelAfter(timeout);
        ctx.Response.StatusCode = 200;
        ctx.Response.ContentType = "application/json";
        await ctx.Response.StartAsync(cts.Token);
        // Send the headers now: a client waits for them before it reads any event.
        await ctx.Response.Body.FlushAsync(cts.Token);
        var sentColumns = false;
        // Every change up to this version has been considered for this stream (sent, or filtered out).
        var seen = from;

        bool Wanted(StoredObject o) =>
            o.Kind == kind && (ns is null || o.Object.Metadata.NamespaceProperty == ns)
            && labels.Matches(o.Object.Metadata.Labels is { } l ? new Dictionary<string, string>(l) : new Dictionary<string, string>())
            && fields.Matches(o);

        async Task Write(string type, JsonNode obj)
        {
            await ctx.Response.WriteAsync(new JsonObject { ["type"] = type, ["object"] = obj }.ToJsonString() + "\n", cts.Token);
            await ctx.Response.Body.FlushAsync(cts.Token);
        }

        Task Send(string type, StoredObject o)
        {
            JsonNode obj = table
                ? TableConverter.ToTable(kind, [o], o.ResourceVersion, null, DateTime.UtcNow, withColumns: !sentColumns)
                : JsonNode.Parse(o.ToJson())!;
            sentColumns = true;
            return Write(type, obj);
        }

        // A bookmark carries only the version (and, at the end of the initial events, the annotation saying so).
        Task Bookmark(bool initialEventsEnd)
        {
            var metadata = new JsonObject { ["resourceVersion"] = seen.ToString(System.Globalization.CultureInfo.InvariantCulture) };
            if (initialEventsEnd) metadata["annotations"] = new JsonObject { ["k8s.io/initial-events-end"] = "true" };
            JsonNode obj = table
                ? new JsonObject { ["kind"] = "Table", ["apiVersion"] = "meta.k8s.io/v1", ["metadata"] = metadata }
                : new JsonObject { ["kind"] = kind.Kind, ["apiVersion"] = kind.ApiVersion, ["metadata"] = metadata };
            return Write("BOOKMARK", obj);
        }

        try
        {
            await foreach (var message in channel.Reader.ReadAllAsync(cts.Token))
            {
                switch (message)
                {
                    case WatchSnapshot snapshot:
                        if (sendState)
                        {
                            foreach (var o in snapshot.Objects.Where(o => o.Resource == kind.Resource).Select(o => StoredObject.FromJson(o.Resource, o.Json)))
                            {
                                if (Wanted(o)) await Send("ADDED", o);
                            }
                        }
                        if (snapshot.Part == snapshot.Parts - 1)
                        {
                            seen = snapshot.ResourceVersion;
                            if (options.SendInitialEvents == true && options.AllowWatchBookmarks) await Bookmark(initialEventsEnd: true);
                        }
                        break;
                    case WatchResumed resumed:
                        seen = Math.Max(seen, resumed.ResourceVersion);
                        break;
                    case WatchChange change:
                        if (change.Resource == kind.Resource)
                        {
                            var obj = StoredObject.FromJson(change.Resource, change.Json);
                            if (Wanted(obj)) await Send(change.Type.ToUpperInvariant() switch { "ADDED" => "ADDED", "DELETED" => "DELETED", _ => "MODIFIED" }, obj);
                        }
                        seen = Math.Max(seen, change.ResourceVersion);
                        break;
                    case BookmarkDue when seen > 0:
                        await Bookmark(initialEventsEnd: false);
                        break;
                    case WatchExpired expired:
                        var status = new ApiError(410, "Expired", $"too old resource version: {from} ({expired.OldestResourceVersion})");
                        await ctx.Response.WriteAsync("{\"type\":\"ERROR\",\"object\":" + status.ToJson() + "}\n", cts.Token);
                        return;
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Client went away or the watch timed out: both end the stream normally.
        }
        catch (WatcherTooSlow)
        {
            // Ended like kube-apiserver ends a watcher whose buffer is full: the client lists or watches again.
        }
        finally
        {
            node.System.Stop(relay);
        }
    }

    private sealed class WatcherTooSlow : Exception
    {
        public WatcherTooSlow()
            : base("the watcher fell too far behind")
        {
        }
    }
}
