using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using ActorCluster.Cluster.ApiServer;
using ActorCluster.Cluster.Hosting;
using ActorCluster.Cluster.Security;
using ActorCluster.Core.Api;
using ActorCluster.Core.Auth;
using ActorCluster.Core.Objects;
using ActorCluster.Core.Store;
using ActorCluster.Core.Tables;
using Akka.Actor;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Hosting.Server;
using Microsoft.AspNetCore.Hosting.Server.Features;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using static ActorCluster.Api.ApiResponses;

namespace ActorCluster.Api;

/// <summary>Where a node's API listens and where its credentials live.</summary>
/// <param name="Token">the bearer token every node of the cluster shares (a Docker secret); null: &lt;data-dir&gt;/token</param>
public sealed record ApiOptions(string Address, int Port, string DataDir, string? Token = null);

/// <summary>
/// The Kubernetes-compatible HTTP API of one node (Kestrel on address:6443): hosting, authentication and the routing
/// of a request to its handler (discovery, CRUD and lists here; <see cref="Watch"/>, <see cref="PatchHandler"/>,
/// <see cref="ProxySubresources"/>, <see cref="MetricsEndpoint"/>, <see cref="HealthChecks"/> in their own files).
/// Every request is answered by the ApiServer singleton (<see cref="ApiServerClient"/>), so any node serves any
/// client. Requests need the bearer token from &lt;data-dir&gt;/token (health and version excepted); kubectl gets it
/// through &lt;data-dir&gt;/kubeconfig (<see cref="ApiCredentials"/>).
/// </summary>
public sealed class KubernetesApi : IAsyncDisposable
{
    private readonly ActorClusterNode _node;
    private readonly string _token;
    private readonly ApiAuthentication _auth;
    private readonly ILogger _audit;
    private readonly ILogger _log;
    private readonly ApiServerClient _apiServer;
    private readonly RequestBodies _bodies;
    private readonly PatchHandler _patch;
    private readonly ProxySubresources _proxy;
    private readonly ScaleSubresource _scale;
    private readonly PodLogs _logs;
    private readonly PodExec _exec;
    private readonly PodAttach _attach;
    private readonly PodPortForward _portForward;
    private readonly MetricsEndpoint _metrics;
    private readonly WatchLimiter _watches;
    private readonly HealthChecks _health;
    private readonly Dashboard _dashboard;

    private KubernetesApi(ActorClusterNode node, string token, string url, string kubeconfig)
    {
        _node = node;
        _token = token;
        var logs = node.Host.Services.GetRequiredService<ILoggerFactory>();
        _log = logs.CreateLogger("ActorCluster.Api.KubernetesApi");
        _audit = logs.CreateLogger("ActorCluster.Api.Audit");
        _auth = new ApiAuthentication(token, node.Options.DataDir, warning => _log.LogWarning("{Warning}", warning));
        _apiServer = new ApiServerClient(node.System, logs.CreateLogger("ActorCluster.Api.ApiServerClient"));
        _bodies = new RequestBodies(node.System.Settings.Config.GetLong("actorcluster.apiserver.max-request-bytes", 3145728));
        _patch = new PatchHandler(_apiServer, _bodies);
        _proxy = new ProxySubresources(node, _apiServer, _bodies);
        _scale = new ScaleSubresource(_apiServer, _bodies);
        _logs = new PodLogs(node, _apiServer);
        _exec = new PodExec(node, _apiServer);
        _attach = new PodAttach(node, _apiServer);
        _portForward = new PodPortForward(_apiServer, node.Host.Services.GetService<Cluster.Proxy.ProxySettings>());
        _metrics = new MetricsEndpoint(node, _apiServer);
        _health = new HealthChecks(node, _apiServer.Link);
        _dashboard = new Dashboard(node);
        _watches = new WatchLimiter(node.System.Settings.Config.GetInt("actorcluster.apiserver.max-watches-per-client", 100));
        Url = url;
        KubeconfigPath = kubeconfig;
    }

    /// <summary>The node this API belongs to: both live in one host, so disposing the API stops the node.</summary>
    public ActorClusterNode Node => _node;

    public string Url { get; }

    public string KubeconfigPath { get; }

    public string Token => _token;

    /// <summary>
    /// Starts a node and its API in one host (Akka.Hosting and Kestrel side by side, one log). Throws
    /// <see cref="ArgumentException"/> for bad options, <see cref="UnprotectedSecretException"/> for a secret others
    /// may read, <see cref="IOException"/> when the API's address is taken.
    /// </summary>
    public static async Task<KubernetesApi> StartAsync(NodeOptions nodeOptions, ApiOptions options, Action<ILoggingBuilder>? logging = null)
    {
        Directory.CreateDirectory(options.DataDir);
        SecretFiles.EnsureOwnerOnly(Path.Combine(options.DataDir, "kubeconfig"));
        var token = options.Token ?? ApiCredentials.LoadOrCreateToken(options.DataDir);
        using var ca = ClusterCa.Load(nodeOptions.DataDir, nodeOptions.CaCertificateFile, nodeOptions.CaKeyFile);
        var serverCertificate = ApiCertificates.IssueServerCertificate(ca, options.Address);
        KubernetesApi? api = null;
        var node = await ActorClusterNode.StartAsync(nodeOptions, host => host.ConfigureWebHost(web => web
            .UseKestrel(k =>
            {
                k.Listen(IPAddress.Parse(options.Address), options.Port, listen => listen.UseHttps(serverCertificate));
                // The body limit is ours (413 with a Status body, as kube-apiserver answers), not Kestrel's bare 413.
                k.Limits.MaxRequestBodySize = null;
            })
            .Configure(app =>
            {
                // kubectl exec speaks WebSocket (channel subprotocols).
                app.UseWebSockets();
                app.Run(ctx => api is { } ready ? ready.Handle(ctx) : Unavailable(ctx));
            })), logging);
        var addresses = node.Host.Services.GetRequiredService<IServer>().Features.Get<IServerAddressesFeature>()!.Addresses;
        var url = $"https://{options.Address}:{new Uri(addresses.First()).Port}";
        var kubeconfig = Path.Combine(options.DataDir, "kubeconfig");
        // Nodes sharing a data directory share one kubeconfig: the first node writes it and later ones leave it,
        // so it does not end up pointing at whichever node happened to start last.
        SecretFiles.WithLock(options.DataDir, () =>
        {
            if (!File.Exists(kubeconfig) || File.ReadAllText(kubeconfig).Contains($"server: {url}", StringComparison.Ordinal))
                ApiCredentials.WriteKubeconfig(kubeconfig, url, token, ca.ExportCertificatePem());
            return 0;
        });
        api = new KubernetesApi(node, token, url, kubeconfig);
        return api;
    }

    /// <summary>The moment between Kestrel listening and the API being wired: kube-apiserver's answer while it starts.</summary>
    private static Task Unavailable(HttpContext ctx) => Error(ctx, new ApiError(503, "ServiceUnavailable", "the API is starting; try again"));

    public async ValueTask DisposeAsync() => await _node.DisposeAsync();

    // ------------------------------------------------------------------ request handling

    private async Task Handle(HttpContext ctx)
    {
        var path = ctx.Request.Path.Value?.TrimEnd('/') ?? "";
        try
        {
            if (Dashboard.ServesFile(ctx.Request.Path.Value ?? "") && ctx.Request.Method is "GET" or "HEAD")
            {
                await Dashboard.ServeFile(ctx, ctx.Request.Path.Value!);
                return;
            }
            if (HealthChecks.Handles(path))
            {
                await _health.Handle(ctx, path);
                return;
            }
            if (path == "/version")
            {
                await Json(ctx, 200, new JsonObject
                {
                    ["major"] = "1", ["minor"] = "32", ["gitVersion"] = "v1.32.0-actorcluster", ["gitCommit"] = "", ["gitTreeState"] = "clean",
                    ["buildDate"] = "2026-11-26T00:00:00Z", ["goVersion"] = "n/a", ["compiler"] = "dotnet", ["platform"] = "linux/amd64",
                });
                return;
            }
            if (_auth.Authenticate(ctx) is not { } user)
            {
                await Error(ctx, new ApiError(401, "Unauthorized", "Unauthorized"));
                return;
            }
            if (SelfReviews.Handles(path))
            {
                await SelfReviews.Handle(ctx, path, user, _bodies);
                return;
            }
            if (Dashboard.HandlesApi(path))
            {
                await _dashboard.Handle(ctx, path, user);
                return;
            }
            if (path == "/metrics" && !user.Groups.Contains(UserInfo.Masters) && !user.Groups.Contains(UserInfo.View))
            {
                await Error(ctx, new ApiError(403, "Forbidden", $"forbidden: User {GoFormat.Quote(user.Name)} cannot get path \"/metrics\""));
                return;
            }
            switch (path)
            {
                case "/api":
                    await Json(ctx, 200, Discovery.Versions($"{ctx.Request.Host}"));
                    return;
                case "/apis":
                    await Json(ctx, 200, Discovery.Groups());
                    return;
                case "/api/v1":
                    await Json(ctx, 200, Discovery.Resources("v1"));
                    return;
                case "/apis/authentication.k8s.io/v1" or "/apis/authorization.k8s.io/v1":
                    await Json(ctx, 200, Discovery.ReviewResources(path["/apis/".Length..]));
                    return;
                case "/metrics":
                    await _metrics.Handle(ctx);
                    return;
                case "/openapi/v3":
                    await Json(ctx, 200, Discovery.OpenApiIndex());
                    return;
                case "/openapi/v3/api/v1":
                    await Json(ctx, 200, Discovery.OpenApi("v1"));
                    return;
            }
            // The groups serving resources: /apis/<group>/<version> (discovery), its OpenAPI, and its resources.
            var served = ResourceKind.GroupVersions.FirstOrDefault(gv => path == "/apis/" + gv || path == "/openapi/v3/apis/" + gv
                                                                         || path.StartsWith("/apis/" + gv + "/", StringComparison.Ordinal));
            if (served is not null && path == "/apis/" + served)
            {
                await Json(ctx, 200, Discovery.Resources(served));
                return;
            }
            if (served is not null && path == "/openapi/v3/apis/" + served)
            {
                await Json(ctx, 200, Discovery.OpenApi(served));
                return;
            }
            string groupVersion, rest;
            if (path.StartsWith("/api/v1/", StringComparison.Ordinal)) (groupVersion, rest) = ("v1", path["/api/v1/".Length..]);
            else if (served is not null) (groupVersion, rest) = (served, path[("/apis/" + served + "/").Length..]);
            else
            {
                await Error(ctx, new ApiError(404, "NotFound", "the server could not find the requested resource", new ApiErrorDetails("", "", "", [])));
                return;
            }
            await HandleResource(ctx, user, groupVersion, rest.Split('/'));
        }
        catch (ApiErrorException e)
        {
            await Error(ctx, e.Error);
        }
        catch (AskTimeoutException)
        {
            await Error(ctx, new ApiError(504, "Timeout", "the ApiServer did not answer in time; the control plane may be failing over, try again"));
        }
        catch (OperationCanceledException) when (ctx.RequestAborted.IsCancellationRequested)
        {
            // The client went away; nobody to answer.
        }
        catch (Exception e) when (e is JsonException or FormatException or YamlDotNet.Core.YamlException or InvalidOperationException { Source: "System.Text.Json" })
        {
            await Error(ctx, ApiError.BadRequest(e.Message));
        }
        catch (Exception e)
        {
            _log.LogError(e, "{Method} {Path}: unexpected error", ctx.Request.Method, ctx.Request.Path);
            if (!ctx.Response.HasStarted) await Error(ctx, ApiError.InternalError(e.Message));
        }
    }

    /// <summary>Refuses (403, kube-apiserver's words) what the user may not do; every write is audited either way.</summary>
    private void Authorize(HttpContext ctx, UserInfo user, ResourceAttributes attributes)
    {
        if (attributes.Verb is not ("get" or "list" or "watch")) ApiAudit.Track(ctx, _audit, user, attributes);
        if (!Authorizer.Allows(user, attributes)) throw new ApiErrorException(Authorizer.Forbidden(user, attributes));
    }

    private sealed record Target(ResourceKind Kind, string? Namespace, string? Name, string? Subresource);

    private static Target Resolve(string groupVersion, string[] s)
    {
        ResourceKind Kind(string resource) =>
            ResourceKind.All.FirstOrDefault(k => k.Resource == resource && k.ApiVersion == groupVersion)
            ?? throw new ApiErrorException(new ApiError(404, "NotFound", "the server could not find the requested resource", new ApiErrorDetails("", "", "", [])));
        return s switch
        {
            ["namespaces", var ns, var resource] when resource is not ("status" or "finalize") => new Target(Kind(resource), ns, null, null),
            ["namespaces", var ns, var resource, var name] => new Target(Kind(resource), ns, name, null),
            ["namespaces", var ns, var resource, var name, var sub] => new Target(Kind(resource), ns, name, sub),
            [var resource] => new Target(Kind(resource), null, null, null),
            [var resource, var name] => new Target(Kind(resource), null, name, null),
            [var resource, var name, var sub] => new Target(Kind(resource), null, name, sub),
            _ => throw new ApiErrorException(new ApiError(404, "NotFound", "the server could not find the requested resource", new ApiErrorDetails("", "", "", []))),
        };
    }

    private async Task HandleResource(HttpContext ctx, UserInfo user, string groupVersion, string[] segments)
    {
        var method = ctx.Request.Method;
        var query = ctx.Request.Query;
        if (groupVersion == "v1" && segments is ["namespaces", var proxyNs, "services" or "pods", var target, "proxy", ..])
        {
            var colon = target.LastIndexOf(':');
            Authorize(ctx, user, new ResourceAttributes(ApiAudit.Verb(method, named: true, watch: false), "", segments[2], "proxy", proxyNs, colon < 0 ? target : target[..colon]));
            await _proxy.Handle(ctx, proxyNs, segments[2], target, "/" + string.Join("/", segments[5..]));
            return;
        }
        var t = Resolve(groupVersion, segments);
        // For cluster-scoped kinds the "namespace" segment is not part of the address.
        var ns = t.Kind.Namespaced ? t.Namespace : null;
        if (t.Subresource == "exec" && t.Kind == ResourceKind.Pod && t.Name is not null && method is "GET" or "POST")
        {
            // kube-apiserver authorizes exec as create on pods/exec, whatever the method of the upgrade.
            Authorize(ctx, user, new ResourceAttributes("create", "", "pods", "exec", ns, t.Name));
            await _exec.Handle(ctx, ns!, t.Name);
            return;
        }
        if (t.Subresource == "attach" && t.Kind == ResourceKind.Pod && t.Name is not null && method is "GET" or "POST")
        {
            Authorize(ctx, user, new ResourceAttributes("create", "", "pods", "attach", ns, t.Name));
            await _attach.Handle(ctx, ns!, t.Name);
            return;
        }
        if (t.Subresource == "portforward" && t.Kind == ResourceKind.Pod && t.Name is not null && method is "GET" or "POST")
        {
            Authorize(ctx, user, new ResourceAttributes("create", "", "pods", "portforward", ns, t.Name));
            await _portForward.Handle(ctx, ns!, t.Name);
            return;
        }
        if (t.Subresource == "log" && t.Kind == ResourceKind.Pod && t.Name is not null && method == "GET")
        {
            Authorize(ctx, user, new ResourceAttributes("get", "", "pods", "log", ns, t.Name));
            await _logs.Handle(ctx, ns!, t.Name);
            return;
        }
        if (t.Subresource == "scale" && t.Kind.Scalable && t.Name is not null)
        {
            Authorize(ctx, user, new ResourceAttributes(ApiAudit.Verb(method, named: true, watch: false), t.Kind.Group, t.Kind.Resource, "scale", ns, t.Name));
            await _scale.Handle(ctx, t.Kind, ns!, t.Name);
            return;
        }
        if (t.Subresource is not null and not "status")
            throw new ApiErrorException(new ApiError(404, "NotFound", "the server could not find the requested resource", new ApiErrorDetails("", "", "", [])));
        var watching = t.Name is null && method == "GET" && QueryValues.Bool("watch", query["watch"]);
        var attributes = new ResourceAttributes(ApiAudit.Verb(method, t.Name is not null, watching), t.Kind.Group, t.Kind.Resource, t.Subresource, ns, t.Name);
        Authorize(ctx, user, attributes);
        var table = ctx.Request.Headers.Accept.ToString().Contains("as=Table", StringComparison.Ordinal);

        if (t.Name is null)
        {
            switch (method)
            {
                case "GET":
                    var options = ListOptions.Parse(key => query.TryGetValue(key, out var v) ? v.ToString() : null);
                    if (options.Watch) await Watch.Serve(ctx, _node, t.Kind, ns, table, options, _watches);
                    else await ListCollection(ctx, t.Kind, ns, table, options);
                    return;
                case "POST":
                    var dryRun = QueryValues.DryRun(query["dryRun"]);
                    var body = FieldManagers.Record(ctx, null, await _bodies.ReadBody(ctx, t.Kind));
                    ApiAudit.NameFromBody(ctx, body);
                    await Reply(ctx, await _apiServer.Ask(new CreateObject(t.Kind.Resource, ns ?? (t.Kind.Namespaced ? "default" : null), body, dryRun)), 201, table);
                    return;
                default:
                    throw new ApiErrorException(ApiError.MethodNotSupported(t.Kind, method.ToLowerInvariant()) with { Code = 405 });
            }
        }

        switch (method)
        {
            case "GET":
                await Reply(ctx, await _apiServer.Ask(new GetObject(t.Kind.Resource, ns, t.Name)), 200, table);
                return;
            case "PUT":
            {
                var dryRun = QueryValues.DryRun(query["dryRun"]);
                var body = await _bodies.ReadBody(ctx, t.Kind);
                // The writer takes over what it changes (status writes are not managed fields here).
                if (t.Subresource != "status" && await _apiServer.Ask(new GetObject(t.Kind.Resource, ns, t.Name)) is ObjectReply stored)
                    body = FieldManagers.Record(ctx, stored.Json, body);
                await Reply(ctx, await _apiServer.Ask(new UpdateObject(t.Kind.Resource, ns, t.Name, body, t.Subresource == "status", dryRun)), 200, table);
                return;
            }
            case "DELETE":
            {
                var grace = QueryValues.Int("gracePeriodSeconds", query["gracePeriodSeconds"]);
                var dryRun = QueryValues.DryRun(query["dryRun"]);
                var propagation = RequestBodies.ValidPropagation(query["propagationPolicy"].ToString() is { Length: > 0 } p ? p : null);
                var bodyText = await _bodies.ReadText(ctx);
                if (bodyText.Length > 0 && ctx.Request.ContentType?.Contains("json", StringComparison.Ordinal) == true)
                {
                    // DeleteOptions (kubectl sends its grace period and dry-run here); a body in another encoding only
                    // loses those overrides.
                    var options = RequestBodies.ParseDeleteOptions(bodyText);
                    grace = options.GracePeriodSeconds ?? grace;
                    dryRun |= QueryValues.DryRun(options.DryRun ?? []);
                    propagation = options.PropagationPolicy ?? propagation;
                }
                await Reply(ctx, await _apiServer.Ask(new DeleteObject(t.Kind.Resource, ns, t.Name, grace, dryRun, propagation)), 200, table);
                return;
            }
            case "PATCH":
                await _patch.Handle(ctx, t.Kind, ns, t.Name, t.Subresource == "status", table);
                return;
            default:
                throw new ApiErrorException(new ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource"));
        }
    }

    private async Task ListCollection(HttpContext ctx, ResourceKind kind, string? ns, bool table, ListOptions options)
    {
        var q = ctx.Request.Query;
        var limit = (int)Math.Min(options.Limit, int.MaxValue);
        string? continueToken = options.Continue.Length > 0 ? options.Continue : null;
        var items = new List<string>();
        long rv;
        while (true)
        {
            var reply = await _apiServer.Ask(new ListObjects(kind.Resource, ns, q["labelSelector"], q["fieldSelector"], limit == 0 ? 0 : limit - items.Count, continueToken));
            if (reply is ApiErrorReply e)
            {
                await Raw(ctx, e.Code, e.StatusJson);
                return;
            }
            var page = (ObjectList)reply;
            items.AddRange(page.Items.Select(i => i.Json));
            rv = page.ResourceVersion;
            continueToken = page.Continue;
            // Without a limit the client wants everything: follow the pages the ApiServer cut for the wire.
            if (continueToken is null || (limit > 0 && items.Count >= limit)) break;
        }
        if (table)
        {
            var objects = items.Select(i => StoredObject.FromJson(kind.Resource, i));
            await Json(ctx, 200, TableConverter.ToTable(kind, objects, rv, continueToken, DateTime.UtcNow));
            return;
        }
        var list = new StringBuilder();
        list.Append($"{{\"kind\":\"{kind.Kind}List\",\"apiVersion\":\"{kind.ApiVersion}\",\"metadata\":{{\"resourceVersion\":\"{rv}\"");
        if (continueToken is not null) list.Append($",\"continue\":\"{continueToken}\"");
        list.Append("},\"items\":[").Append(string.Join(",", items)).Append("]}");
        await Raw(ctx, 200, list.ToString());
    }


}
