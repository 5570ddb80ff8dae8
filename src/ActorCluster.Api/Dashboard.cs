using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using System.Text.Json.Nodes;
using ActorCluster.Cluster.Hosting;
using ActorCluster.Cluster.Proxy;
using ActorCluster.Core.Api;
using ActorCluster.Core.Auth;
using ActorCluster.Core.Objects;
using Akka.Actor;
using Microsoft.AspNetCore.Http;
using static ActorCluster.Api.ApiResponses;

namespace ActorCluster.Api;

/// <summary>
/// The dashboard under <c>/ui/</c> on every node's API port: static files embedded in this assembly (plain HTML, CSS
/// and JS; nothing to build), which talk to the Kubernetes API itself (lists and watches, with the user's token) and
/// to two endpoints of their own: <c>/ui/api/traffic</c>, every node's data-plane counters and last routing decisions
/// (asked of each node's service proxy over Akka), and <c>/ui/api/try</c>, one HTTP request this node sends to a
/// Service address, answered with the reply and the routing decision that carried it. The files need no token
/// (they hold no data); the endpoints need one that may view the cluster.
/// </summary>
internal sealed class Dashboard(ActorClusterNode node)
{
    // A node busy enough to take longer is shown as not answering (the page asks again a second later).
    private static readonly TimeSpan NodeTimeout = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan TryTimeout = TimeSpan.FromSeconds(3);
    private const int TryBodyLimit = 4096;

    /// <summary>A try-it request is a few dozen bytes; anything past this is refused before it is read whole.</summary>
    private const int TryRequestLimit = 16 * 1024;

    private static readonly Dictionary<string, (string Resource, string ContentType)> Files = new()
    {
        ["/ui/"] = ("index.html", "text/html; charset=utf-8"),
        ["/ui/index.html"] = ("index.html", "text/html; charset=utf-8"),
        ["/ui/app.js"] = ("app.js", "text/javascript; charset=utf-8"),
        ["/ui/app.css"] = ("app.css", "text/css; charset=utf-8"),
    };

    /// <summary>The static files: answered before authentication (the page asks for the token).</summary>
    public static bool ServesFile(string rawPath) => rawPath == "/ui" || Files.ContainsKey(rawPath);

    public static bool HandlesApi(string path) => path is "/ui/api/traffic" or "/ui/api/try";

    public static async Task ServeFile(HttpContext ctx, string rawPath)
    {
        if (rawPath == "/ui")
        {
            ctx.Response.StatusCode = 301;
            ctx.Response.Headers.Location = "/ui/";
            return;
        }
        var (resource, contentType) = Files[rawPath];
        await using var stream = typeof(Dashboard).Assembly.GetManifestResourceStream("ActorCluster.Api.Dashboard." + resource)
                                 ?? throw new InvalidOperationException($"the dashboard's {resource} is not embedded");
        ctx.Response.StatusCode = 200;
        ctx.Response.ContentType = contentType;
        // Everything from this origin only: no inline script, no other host, never framed; no referrer leaves the page.
        ctx.Response.Headers["Content-Security-Policy"] =
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";
        ctx.Response.Headers["Referrer-Policy"] = "no-referrer";
        ctx.Response.Headers["X-Content-Type-Options"] = "nosniff";
        ctx.Response.Headers.CacheControl = "no-cache";
        await stream.CopyToAsync(ctx.Response.Body, ctx.RequestAborted);
    }

    public async Task Handle(HttpContext ctx, string path, UserInfo user)
    {
        if (!user.Groups.Contains(UserInfo.Masters) && !user.Groups.Contains(UserInfo.View))
        {
            await Error(ctx, new ApiError(403, "Forbidden", $"forbidden: User {GoFormat.Quote(user.Name)} cannot get path {GoFormat.Quote(path)}"));
            return;
        }
        if (path == "/ui/api/traffic")
        {
            if (ctx.Request.Method != "GET") throw new ApiErrorException(new ApiError(405, "MethodNotAllowed", $"the server does not allow this method on the requested resource"));
            await Json(ctx, 200, ToJson(await Traffic()));
            return;
        }
        if (ctx.Request.Method != "POST") throw new ApiErrorException(new ApiError(405, "MethodNotAllowed", $"the server does not allow this method on the requested resource"));
        // Sending a request into a Service is what services/proxy does: the same permission (Kubernetes' view role has
        // it not), asked of the one authorizer.
        var proxy = new ResourceAttributes("get", "", "services", "proxy", null, null);
        if (!Authorizer.Allows(user, proxy)) throw new ApiErrorException(Authorizer.Forbidden(user, proxy));
        var request = JsonNode.Parse(await ReadBounded(ctx)) as JsonObject
                      ?? throw new ApiErrorException(ApiError.BadRequest("expected a JSON object {\"address\": \"ip:port\", \"path\": \"/...\"}"));
        await Json(ctx, 200, await Try(request["address"]?.GetValue<string>() ?? "", request["path"]?.GetValue<string>() ?? "/", ctx.RequestAborted));
    }

    private static async Task<byte[]> ReadBounded(HttpContext ctx)
    {
        var tooLarge = new ApiError(413, "RequestEntityTooLarge", $"Request entity too large: limit is {TryRequestLimit}");
        if (ctx.Request.ContentLength > TryRequestLimit) throw new ApiErrorException(tooLarge);
        using var body = new MemoryStream();
        var chunk = new byte[4096];
        int n;
        while ((n = await ctx.Request.Body.ReadAsync(chunk, ctx.RequestAborted)) > 0)
        {
            if (body.Length + n > TryRequestLimit) throw new ApiErrorException(tooLarge);
            body.Write(chunk, 0, n);
        }
        return body.ToArray();
    }

    /// <summary>Every Up member's traffic; a node that does not answer in time is listed with an error instead.</summary>
    private async Task<List<(string Address, NodeTraffic? Traffic)>> Traffic()
    {
        var members = Akka.Cluster.Cluster.Get(node.System).State.Members.Where(m => m.Status == Akka.Cluster.MemberStatus.Up).ToList();
        var asks = members.Select(async m =>
        {
            try
            {
                var proxy = node.System.ActorSelection(new RootActorPath(m.Address) / "user" / "service-proxy");
                return (m.Address.ToString(), (NodeTraffic?)await proxy.Ask<NodeTraffic>(GetTraffic.Instance, NodeTimeout));
            }
            catch (AskTimeoutException)
            {
                return (m.Address.ToString(), null);
            }
        });
        return [.. await Task.WhenAll(asks)];
    }

    private JsonObject ToJson(List<(string Address, NodeTraffic? Traffic)> nodes) => new()
    {
        ["time"] = DateTime.UtcNow.ToString("O"),
        // The member that runs the ApiServer singleton (Node objects carry their Akka address as an annotation).
        ["apiServerHost"] = ApiServerLink.Host(Akka.Cluster.Cluster.Get(node.System).State)?.Address.ToString(),
        ["nodes"] = new JsonArray(nodes.Select(n =>
        {
            var json = n.Traffic is null ? new JsonObject { ["error"] = $"did not answer within {NodeTimeout.TotalSeconds:0}s" } : JsonSerializer.SerializeToNode(n.Traffic, TrafficJson)!.AsObject();
            json["address"] = n.Address;
            return (JsonNode)json;
        }).ToArray()),
    };

    private static readonly JsonSerializerOptions TrafficJson = new(JsonSerializerDefaults.Web);

    /// <summary>
    /// One GET from this node to a Service address (one of the cluster's listeners, nothing else), with the reply
    /// and the decision of the node that received it, found by this connection's own address.
    /// </summary>
    private async Task<JsonObject> Try(string address, string path, CancellationToken cancel)
    {
        if (!IPEndPoint.TryParse(address, out var target) || target.AddressFamily != AddressFamily.InterNetwork)
            throw new ApiErrorException(ApiError.BadRequest($"address {GoFormat.Quote(address)}: expected ip:port"));
        if (!path.StartsWith('/') || path.Contains("://", StringComparison.Ordinal) || path.Any(char.IsControl))
            throw new ApiErrorException(ApiError.BadRequest($"path {GoFormat.Quote(path)}: expected an absolute path such as /hostname"));
        var before = await Traffic();
        if (!before.Any(n => n.Traffic?.Listeners.Any(l => l.Protocol == "TCP" && l.Address == target.ToString()) == true))
            throw new ApiErrorException(ApiError.BadRequest($"{target} is not a Service address of this cluster (a ClusterIP, NodePort or LoadBalancer IP with a TCP port)"));

        int? localPort = null;
        using var handler = new SocketsHttpHandler
        {
            UseProxy = false,
            ConnectTimeout = TryTimeout,
            ConnectCallback = async (context, token) =>
            {
                var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
                try
                {
                    // The port is known before the connect: a refusal (a reset right after the accept) can fail the
                    // connect itself, and the decision is still found by it.
                    socket.Bind(new IPEndPoint(IPAddress.Any, 0));
                    localPort = ((IPEndPoint)socket.LocalEndPoint!).Port;
                    await socket.ConnectAsync(target, token);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };
        using var http = new HttpClient(handler) { Timeout = TryTimeout };
        var result = new JsonObject { ["address"] = target.ToString(), ["path"] = path };
        try
        {
            using var response = await http.GetAsync($"http://{target}{path}", HttpCompletionOption.ResponseHeadersRead, cancel);
            var body = await response.Content.ReadAsStringAsync(cancel);
            result["status"] = (int)response.StatusCode;
            result["body"] = body.Length > TryBodyLimit ? body[..TryBodyLimit] : body;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException or SocketException)
        {
            // A refused connection is reset right after the accept: depending on when the reset lands, the request
            // fails while connecting (ENOTCONN, ECONNRESET) or while reading. Either way it is the answer to show.
            result["error"] = e is TaskCanceledException ? $"no answer within {TryTimeout.TotalSeconds:0}s" : e.InnerException?.Message ?? e.Message;
        }
        if (localPort is { } port)
        {
            result["fromPort"] = port;
            var decision = (await Traffic()).SelectMany(n => n.Traffic?.Decisions ?? [])
                .LastOrDefault(d => d.Address == target.ToString() && IPEndPoint.TryParse(d.Client, out var c) && c.Port == port);
            if (decision is not null) result["decision"] = JsonSerializer.SerializeToNode(decision, TrafficJson);
        }
        return result;
    }
}
