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
    private sealed class Relay : ReceiveActor
    {
        private IActorRef? _source;

        public Relay(IActorRef apiServer, long fromResourceVersion, ChannelWriter<object> writer)
        {
            Receive<Terminated>(t =>
            {
                if (t.ActorRef.Equals(_source)) writer.TryComplete();
            });
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
        }

        private readonly IActorRef _apiServer;

        protected override void PostStop() => _apiServer.Tell(new StopWatch(Self));
    }

    public static async Task Serve(HttpContext ctx, ActorClusterNode node, ResourceKind kind, string? ns, bool table)
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
            await KubernetesApi.Error(ctx, ApiError.BadRequest(e.Message));
            return;
        }
        long.TryParse(q["resourceVersion"], out var from);
        var timeout = int.TryParse(q["timeoutSeconds"], out var t) && t > 0 ? TimeSpan.FromSeconds(t) : TimeSpan.FromMinutes(30);

        var channel = Channel.CreateBounded<object>(new BoundedChannelOptions(MaxPendingEvents) { SingleReader = true, SingleWriter = true });
        var relay = node.System.ActorOf(Props.Create(() => new Relay(node.ApiServer, from, channel.Writer)));
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ctx.RequestAborted);
        cts.CancelAfter(timeout);
        ctx.Response.StatusCode = 200;
        ctx.Response.ContentType = "application/json";
        await ctx.Response.StartAsync(cts.Token);
        // Send the headers now: a client waits for them before it reads any event.
        await ctx.Response.Body.FlushAsync(cts.Token);
        var sentColumns = false;

        bool Wanted(StoredObject o) =>
            o.Kind == kind && (ns is null || o.Object.Metadata.NamespaceProperty == ns)
            && labels.Matches(o.Object.Metadata.Labels is { } l ? new Dictionary<string, string>(l) : new Dictionary<string, string>())
            && fields.Matches(o);

        async Task Send(string type, StoredObject o)
        {
            JsonNode obj = table
                ? TableConverter.ToTable(kind, [o], o.ResourceVersion, null, DateTime.UtcNow, withColumns: !sentColumns)
                : JsonNode.Parse(o.ToJson())!;
            sentColumns = true;
            await ctx.Response.WriteAsync(new JsonObject { ["type"] = type, ["object"] = obj }.ToJsonString() + "\n", cts.Token);
            await ctx.Response.Body.FlushAsync(cts.Token);
        }

        try
        {
            await foreach (var message in channel.Reader.ReadAllAsync(cts.Token))
            {
                switch (message)
                {
                    case WatchSnapshot snapshot:
                        foreach (var o in snapshot.Objects.Where(o => o.Resource == kind.Resource).Select(o => StoredObject.FromJson(o.Resource, o.Json)))
                        {
                            if (Wanted(o)) await Send("ADDED", o);
                        }
                        break;
                    case WatchChange change when change.Resource == kind.Resource:
                        var obj = StoredObject.FromJson(change.Resource, change.Json);
                        if (Wanted(obj)) await Send(change.Type.ToUpperInvariant() switch { "ADDED" => "ADDED", "DELETED" => "DELETED", _ => "MODIFIED" }, obj);
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
