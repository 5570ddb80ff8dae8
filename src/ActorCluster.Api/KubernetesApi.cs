using System.Net;
using System.Security.Cryptography;
using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using ActorCluster.Cluster.ApiServer;
using ActorCluster.Cluster.Hosting;
using ActorCluster.Core.Api;
using ActorCluster.Core.Objects;
using ActorCluster.Core.Store;
using ActorCluster.Core.Tables;
using Akka.Actor;
using Akka.Event;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace ActorCluster.Api;

/// <summary>Where a node's API listens and where its credentials live.</summary>
/// <param name="Token">the bearer token every node of the cluster shares (a Docker secret); null: &lt;data-dir&gt;/token</param>
public sealed record ApiOptions(string Address, int Port, string DataDir, string? Token = null);

/// <summary>
/// The Kubernetes-compatible HTTP API of one node (Kestrel on address:6443). Every request is answered by the
/// ApiServer singleton through this node's proxy, so any node serves any client. Requests need the bearer token
/// from &lt;data-dir&gt;/token (health and version excepted); kubectl gets it through &lt;data-dir&gt;/kubeconfig.
/// </summary>
public sealed class KubernetesApi : IAsyncDisposable
{
    private static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(30);
    private readonly WebApplication _app;
    private readonly ActorClusterNode _node;
    private readonly string _token;
    private readonly Akka.Event.ILoggingAdapter _log;
    private readonly long _maxRequestBytes;
    private readonly WatchLimiter _watches;
    private readonly ApiServerLink _apiServer;
    private readonly HealthChecks _health;

    private KubernetesApi(WebApplication app, ActorClusterNode node, string token, string url, string kubeconfig)
    {
        _app = app;
        _node = node;
        _token = token;
        _log = Akka.Event.Logging.GetLogger(node.System, "kubernetes-api");
        _maxRequestBytes = node.System.Settings.Config.GetLong("actorcluster.apiserver.max-request-bytes", 3145728);
        _apiServer = new ApiServerLink(node.System);
        _health = new HealthChecks(node, _apiServer);
        _watches = new WatchLimiter(node.System.Settings.Config.GetInt("actorcluster.apiserver.max-watches-per-client", 100));
        Url = url;
        KubeconfigPath = kubeconfig;
    }

    public string Url { get; }

    public string KubeconfigPath { get; }

    public string Token => _token;

    public static async Task<KubernetesApi> StartAsync(ActorClusterNode node, ApiOptions options)
    {
        Directory.CreateDirectory(options.DataDir);
        var token = options.Token ?? LoadOrCreateToken(options.DataDir);
        var builder = WebApplication.CreateSlimBuilder();
        builder.Logging.ClearProviders();
        var ca = ApiCertificates.LoadOrCreateCa(options.DataDir);
        var serverCertificate = ApiCertificates.IssueServerCertificate(ca, options.Address);
        builder.WebHost.ConfigureKestrel(k =>
        {
            k.Listen(IPAddress.Parse(options.Address), options.Port, listen => listen.UseHttps(serverCertificate));
            // The body limit is ours (413 with a Status body, as kube-apiserver answers), not Kestrel's bare 413.
            k.Limits.MaxRequestBodySize = null;
        });
        var app = builder.Build();
        KubernetesApi? api = null;
        app.Run(ctx => api!.Handle(ctx));
        await app.StartAsync();
        var port = new Uri(app.Urls.First()).Port;
        var url = $"https://{options.Address}:{port}";
        var kubeconfig = Path.Combine(options.DataDir, "kubeconfig");
        // Nodes sharing a data directory share one kubeconfig: the first node writes it and later ones leave it,
        // so it does not end up pointing at whichever node happened to start last.
        SecretFiles.WithLock(options.DataDir, () =>
        {
            if (!File.Exists(kubeconfig) || File.ReadAllText(kubeconfig).Contains($"server: {url}", StringComparison.Ordinal))
                WriteKubeconfig(kubeconfig, url, token, ca.ExportCertificatePem());
            return 0;
        });
        api = new KubernetesApi(app, node, token, url, kubeconfig);
        return api;
    }

    /// <summary>The bearer token, generated once per data directory (readable by its owner only), however many nodes start at once.</summary>
    public static string LoadOrCreateToken(string dataDir) =>
        SecretFiles.WithLock(dataDir, () =>
        {
            var path = Path.Combine(dataDir, "token");
            if (File.Exists(path)) return File.ReadAllText(path).Trim();
            var token = Convert.ToHexString(RandomNumberGenerator.GetBytes(24)).ToLowerInvariant();
            SecretFiles.WriteAtomically(path, token + "\n");
            return token;
        });

    public static void WriteKubeconfig(string path, string server, string token, string caPem)
    {
        var ca = Convert.ToBase64String(Encoding.ASCII.GetBytes(caPem));
        SecretFiles.WriteAtomically(path, $"""
            apiVersion: v1
            kind: Config
            clusters:
            - cluster:
                certificate-authority-data: {ca}
                server: {server}
              name: actorcluster
            contexts:
            - context:
                cluster: actorcluster
                namespace: default
                user: admin
              name: actorcluster
            current-context: actorcluster
            users:
            - name: admin
              user:
                token: {token}
            """);
    }

    public async ValueTask DisposeAsync()
    {
        await _app.StopAsync();
        await _app.DisposeAsync();
    }

    // ------------------------------------------------------------------ request handling

    private async Task Handle(HttpContext ctx)
    {
        var path = ctx.Request.Path.Value?.TrimEnd('/') ?? "";
        try
        {
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
            if (!Authorized(ctx))
            {
                await Error(ctx, new ApiError(401, "Unauthorized", "Unauthorized"));
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
                case "/apis/discovery.k8s.io/v1":
                    await Json(ctx, 200, Discovery.Resources("discovery.k8s.io/v1"));
                    return;
                case "/metrics":
                    await Metrics(ctx);
                    return;
                case "/openapi/v3":
                    await Json(ctx, 200, Discovery.OpenApiIndex());
                    return;
                case "/openapi/v3/api/v1":
                    await Json(ctx, 200, Discovery.OpenApi("v1"));
                    return;
                case "/openapi/v3/apis/discovery.k8s.io/v1":
                    await Json(ctx, 200, Discovery.OpenApi("discovery.k8s.io/v1"));
                    return;
            }
            string groupVersion, rest;
            if (path.StartsWith("/api/v1/", StringComparison.Ordinal)) (groupVersion, rest) = ("v1", path["/api/v1/".Length..]);
            else if (path.StartsWith("/apis/discovery.k8s.io/v1/", StringComparison.Ordinal)) (groupVersion, rest) = ("discovery.k8s.io/v1", path["/apis/discovery.k8s.io/v1/".Length..]);
            else
            {
                await Error(ctx, new ApiError(404, "NotFound", "the server could not find the requested resource", new ApiErrorDetails("", "", "", [])));
                return;
            }
            await HandleResource(ctx, groupVersion, rest.Split('/'));
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
            _log.Error(e, "{0} {1}: unexpected error", ctx.Request.Method, ctx.Request.Path);
            if (!ctx.Response.HasStarted) await Error(ctx, ApiError.InternalError(e.Message));
        }
    }

    /// <summary>
    /// Prometheus text from the node's registry (prometheus-net): the replica's latency histogram as recorded, and the
    /// replica's, proxy's and tunnel's counters copied in first.
    /// </summary>
    private async Task Metrics(HttpContext ctx)
    {
        var metrics = _node.Metrics;
        var replica = await _node.Replica.Ask<Cluster.Replica.ReplicaStats>(Cluster.Replica.GetReplicaStats.Instance, AskTimeout);
        var counters = await _node.ServiceProxy.Ask<Cluster.Proxy.ProxyCounters>(Cluster.Proxy.GetProxyCounters.Instance, AskTimeout);
        metrics.ReplicaRelists.IncTo(replica.Relists);
        metrics.ReplicaResourceVersion.Set(replica.ResourceVersion);
        metrics.ReplicaObjects.Set(replica.Objects);
        metrics.ReplicaSynced.Set(replica.Synced ? 1 : 0);
        metrics.ApiServerHost.Set(HostsApiServer() ? 1 : 0);
        metrics.ProxySyncs.IncTo(counters.Syncs);
        metrics.SetListeners(counters.Listeners.Select(c => (new[] { c.Service, c.Protocol, c.Kind, c.Address },
            new Cluster.Hosting.NodeMetrics.ListenerValues(c.Active, c.Connections, c.RefusedNoEndpoints, c.RefusedNoLocalEndpoints, c.DroppedFlowLimit,
                c.DialRetries, c.Failed, c.BytesIn, c.BytesOut))));
        if (counters.Tunnel is { } t)
        {
            metrics.TunnelConnections.IncTo(t.Connections);
            metrics.TunnelRejected.IncTo(t.Rejected);
            metrics.TunnelDialFailures.IncTo(t.DialFailures);
            metrics.TunnelBytes.WithLabels("in").IncTo(t.BytesIn);
            metrics.TunnelBytes.WithLabels("out").IncTo(t.BytesOut);
        }
        ctx.Response.StatusCode = 200;
        ctx.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
        await metrics.Registry.CollectAndExportAsTextAsync(ctx.Response.Body, ctx.RequestAborted);
    }

    private bool Authorized(HttpContext ctx)
    {
        var header = ctx.Request.Headers.Authorization.ToString();
        if (!header.StartsWith("Bearer ", StringComparison.Ordinal)) return false;
        var given = Encoding.UTF8.GetBytes(header["Bearer ".Length..].Trim());
        return CryptographicOperations.FixedTimeEquals(given, Encoding.UTF8.GetBytes(_token));
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

    private async Task HandleResource(HttpContext ctx, string groupVersion, string[] segments)
    {
        if (groupVersion == "v1" && segments is ["namespaces", var proxyNs, "services" or "pods", var target, "proxy", ..])
        {
            await Proxy(ctx, proxyNs, segments[2], target, "/" + string.Join("/", segments[5..]));
            return;
        }
        var t = Resolve(groupVersion, segments);
        // For cluster-scoped kinds the "namespace" segment is not part of the address.
        var ns = t.Kind.Namespaced ? t.Namespace : null;
        if (t.Subresource is not null and not "status")
            throw new ApiErrorException(new ApiError(404, "NotFound", "the server could not find the requested resource", new ApiErrorDetails("", "", "", [])));
        var method = ctx.Request.Method;
        var query = ctx.Request.Query;
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
                    var body = await ReadBody(ctx, t.Kind);
                    await Reply(ctx, await Ask(new CreateObject(t.Kind.Resource, ns ?? (t.Kind.Namespaced ? "default" : null), body, dryRun)), 201, table);
                    return;
                default:
                    throw new ApiErrorException(ApiError.MethodNotSupported(t.Kind, method.ToLowerInvariant()) with { Code = 405 });
            }
        }

        switch (method)
        {
            case "GET":
                await Reply(ctx, await Ask(new GetObject(t.Kind.Resource, ns, t.Name)), 200, table);
                return;
            case "PUT":
            {
                var dryRun = QueryValues.DryRun(query["dryRun"]);
                var body = await ReadBody(ctx, t.Kind);
                await Reply(ctx, await Ask(new UpdateObject(t.Kind.Resource, ns, t.Name, body, t.Subresource == "status", dryRun)), 200, table);
                return;
            }
            case "DELETE":
            {
                var grace = QueryValues.Int("gracePeriodSeconds", query["gracePeriodSeconds"]);
                var dryRun = QueryValues.DryRun(query["dryRun"]);
                var bodyText = await ReadText(ctx);
                if (bodyText.Length > 0 && ctx.Request.ContentType?.Contains("json", StringComparison.Ordinal) == true)
                {
                    // DeleteOptions (kubectl sends its grace period and dry-run here); a body in another encoding only
                    // loses those overrides.
                    var options = ParseDeleteOptions(bodyText);
                    grace = options.GracePeriodSeconds ?? grace;
                    dryRun |= QueryValues.DryRun(options.DryRun ?? []);
                }
                await Reply(ctx, await Ask(new DeleteObject(t.Kind.Resource, ns, t.Name, grace, dryRun)), 200, table);
                return;
            }
            case "PATCH":
                await Patch(ctx, t.Kind, ns, t.Name, t.Subresource == "status", table);
                return;
            default:
                throw new ApiErrorException(new ApiError(405, "MethodNotAllowed", "the server does not allow this method on the requested resource"));
        }
    }

    /// <summary>
    /// The proxy subresources, carried by actors so they reach pods on any node: services/{name}[:{port}]/proxy/{path}
    /// goes to the Service's actor on this node, which picks a ready endpoint; pods/{name}[:{port}]/proxy/{path} goes
    /// to the pod. Either way the pod's PodActor, on the pod's node, makes the request and answers.
    /// </summary>
    private async Task Proxy(HttpContext ctx, string ns, string resource, string target, string path)
    {
        var colon = target.LastIndexOf(':');
        var name = colon < 0 ? target : target[..colon];
        var port = colon < 0 ? "" : target[(colon + 1)..];
        var kind = resource == "services" ? ResourceKind.Service : ResourceKind.Pod;
        if (await Ask(new GetObject(kind.Resource, ns, name)) is not ObjectReply reply)
            throw new ApiErrorException(ApiError.NotFound(kind, name));
        var body = ctx.Request.ContentLength is > 0 ? await ReadBytes(ctx) : [];
        var pathAndQuery = path + ctx.Request.QueryString;
        var noun = kind.Kind.ToLowerInvariant();
        object answer;
        try
        {
            if (kind == ResourceKind.Service)
            {
                answer = await _node.ServiceProxy.Ask<object>(
                    new Cluster.Proxy.ServiceProxyRequest(ns, name, port, ctx.Request.Method, pathAndQuery, ctx.Request.ContentType, body), AskTimeout);
            }
            else
            {
                var pod = KubeObjects.FromJson<k8s.Models.V1Pod>(reply.Json);
                var containerPort = port.Length == 0
                    ? pod.Spec.Containers.SelectMany(c => c.Ports ?? []).Select(p => p.ContainerPort).FirstOrDefault(80)
                    : int.TryParse(port, out var n) ? n : pod.Spec.Containers.SelectMany(c => c.Ports ?? []).FirstOrDefault(p => p.Name == port)?.ContainerPort ?? 0;
                var node = pod.Spec.NodeName is { } nodeName && await Ask(new GetObject("nodes", null, nodeName)) is ObjectReply nodeReply
                    ? Core.ControlPlane.NodeDirectory.Info(KubeObjects.FromJson<k8s.Models.V1Node>(nodeReply.Json))
                    : null;
                if (pod.Status?.Phase != "Running" || containerPort <= 0 || node?.AkkaAddress is null)
                    throw new ApiErrorException(new ApiError(503, "ServiceUnavailable", $"no endpoints available for pod {GoFormat.Quote(name)}"));
                var podActor = ((Akka.Actor.ExtendedActorSystem)_node.System).Provider.ResolveActorRef($"{node.AkkaAddress}/user/node-agent/{pod.Metadata.Uid}");
                answer = await podActor.Ask<object>(new Cluster.Node.PodProxyRequest(containerPort, ctx.Request.Method, pathAndQuery, ctx.Request.ContentType, body), AskTimeout);
            }
        }
        catch (Akka.Actor.AskTimeoutException)
        {
            throw new ApiErrorException(new ApiError(503, "ServiceUnavailable", $"error trying to reach {noun}: no answer in {AskTimeout.TotalSeconds:0}s"));
        }
        switch (answer)
        {
            case Cluster.Node.PodProxyResponse { Status: > 0 } response:
                ctx.Response.StatusCode = response.Status;
                ctx.Response.ContentType = response.ContentType ?? "text/plain";
                await ctx.Response.Body.WriteAsync(response.Body, ctx.RequestAborted);
                return;
            case Cluster.Node.PodProxyResponse failed:
                throw new ApiErrorException(new ApiError(503, "ServiceUnavailable", $"error trying to reach {noun}: {failed.Error}"));
            case Cluster.Proxy.DispatchRefused refused:
                throw new ApiErrorException(new ApiError(503, "ServiceUnavailable", refused.Message));
            default:
                throw new ApiErrorException(ApiError.InternalError($"unexpected proxy answer {answer.GetType().Name}"));
        }
    }

    /// <summary>
    /// PATCH as kube-apiserver does it: read the stored object, apply the patch, write it back under the
    /// object's resourceVersion, and start again on a conflict (unless the patch itself named a version).
    /// </summary>
    private async Task Patch(HttpContext ctx, ResourceKind kind, string? ns, string name, bool status, bool table)
    {
        var dryRun = QueryValues.DryRun(ctx.Request.Query["dryRun"]);
        var patch = await ReadText(ctx);
        var contentType = ctx.Request.ContentType ?? "";
        var strict = ctx.Request.Query["fieldValidation"].ToString() == "Strict";
        object reply = ApiError.InternalError("patch did not run");
        for (var attempt = 0; attempt < 5; attempt++)
        {
            var current = await Ask(new GetObject(kind.Resource, ns, name));
            if (current is not ObjectReply stored)
            {
                reply = current;
                break;
            }
            var patched = Patches.Apply(contentType, JsonNode.Parse(stored.Json)!, patch);
            if (patched is not JsonObject || patched["metadata"] is not JsonObject metadata)
                throw new ApiErrorException(ApiError.BadRequest("the patch removed the object's metadata"));
            if (metadata["resourceVersion"] is { } rvNode && rvNode.GetValueKind() != JsonValueKind.String)
                throw new ApiErrorException(ApiError.BadRequest("metadata.resourceVersion must be a string"));
            var pinned = metadata["resourceVersion"]?.GetValue<string>() is { } v && v != stored.ResourceVersion.ToString(System.Globalization.CultureInfo.InvariantCulture);
            if (!pinned) metadata["resourceVersion"] = stored.ResourceVersion.ToString(System.Globalization.CultureInfo.InvariantCulture);
            if (strict)
            {
                var modelType = StoredObject.FromJson(kind.Resource, "{}").Object.GetType();
                var unknown = StrictDecoding.UnknownFields(patched, modelType);
                if (unknown.Count > 0)
                    throw new ApiErrorException(ApiError.BadRequest(string.Join(", ", unknown.Select(u => $".{u}: field not declared in schema"))));
            }
            reply = await Ask(new UpdateObject(kind.Resource, ns, name, patched.ToJsonString(), status, dryRun));
            if (reply is ApiErrorReply { Code: 409 } && !pinned) continue;
            break;
        }
        await Reply(ctx, reply is ApiError e ? ApiErrorReply.From(e) : reply, 200, table);
    }

    /// <summary>Reads a JSON (or YAML) body, checks its kind, and applies fieldValidation=Strict as kube-apiserver does.</summary>
    private async Task<string> ReadBody(HttpContext ctx, ResourceKind kind)
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
    private static string MediaType(HttpContext ctx) =>
        (ctx.Request.ContentType ?? "").Split(';')[0].Trim().ToLowerInvariant();

    /// <summary>The request body, refused with 413 past the limit (checked before and while reading).</summary>
    private async Task<byte[]> ReadBytes(HttpContext ctx)
    {
        if (ctx.Request.ContentLength > _maxRequestBytes) throw new ApiErrorException(ApiError.RequestEntityTooLarge(_maxRequestBytes));
        using var buffer = new MemoryStream();
        var chunk = new byte[64 * 1024];
        int n;
        while ((n = await ctx.Request.Body.ReadAsync(chunk, ctx.RequestAborted)) > 0)
        {
            if (buffer.Length + n > _maxRequestBytes) throw new ApiErrorException(ApiError.RequestEntityTooLarge(_maxRequestBytes));
            buffer.Write(chunk, 0, n);
        }
        return buffer.ToArray();
    }

    private async Task<string> ReadText(HttpContext ctx) => Encoding.UTF8.GetString(await ReadBytes(ctx));

    private sealed record DeleteOptionsBody(long? GracePeriodSeconds, IReadOnlyList<string?>? DryRun);

    private static DeleteOptionsBody ParseDeleteOptions(string json)
    {
        try
        {
            if (JsonNode.Parse(json) is not JsonObject o) throw new ApiErrorException(ApiError.BadRequest("DeleteOptions must be an object"));
            long? grace = o["gracePeriodSeconds"] is { } g ? g.GetValue<long>() : null;
            var dryRun = o["dryRun"] is JsonArray d ? d.Select(x => x?.GetValue<string>()).ToList() : null;
            return new DeleteOptionsBody(grace, dryRun);
        }
        catch (Exception e) when (e is JsonException or FormatException or InvalidOperationException)
        {
            throw new ApiErrorException(ApiError.BadRequest($"the body of the request was in an unknown format - accepted media types include: application/json: {e.Message}"));
        }
    }

    /// <summary>
    /// Asks the ApiServer, never leaving a request to time out while it moves: one sent to an ApiServer that stops
    /// before answering (hand-over, crash, its node removed) or whose node becomes unreachable is refused at once
    /// with 503 and Retry-After (it may or may not have been applied, as with any request cut off mid-way); while
    /// there is no ApiServer yet, requests wait for the new one, up to a bound.
    /// </summary>
    private async Task<object> Ask(object message)
    {
        if (ApiServerHostUnreachable())
            throw new ApiErrorException(ApiError.ServiceUnavailable("the node hosting the ApiServer is unreachable; a new ApiServer is being started, try again"));
        if (CutOffFromMajority())
            throw new ApiErrorException(ApiError.ServiceUnavailable("this node cannot reach a majority of the cluster; the majority side serves requests, try another node or again later"));
        var target = await _apiServer.Current(TimeSpan.FromSeconds(10))
            ?? throw new ApiErrorException(ApiError.ServiceUnavailable("no ApiServer is running yet; the cluster is starting or electing a new one, try again"));
        var ask = target.Ref.Ask<object>(message, AskTimeout);
        while (true)
        {
            var done = await Task.WhenAny(ask, target.Stopped, Task.Delay(250));
            if (done == ask) return await ask;
            // Answers sent before the stop may still be on their way: a moment's grace for them.
            if (done == target.Stopped && await Task.WhenAny(ask, Task.Delay(100)) == ask) return await ask;
            if (done == target.Stopped)
                throw new ApiErrorException(ApiError.ServiceUnavailable("the ApiServer stopped while this request was in flight (it is moving to another node); it may or may not have been applied"));
            if (ApiServerHostUnreachable())
                throw new ApiErrorException(ApiError.ServiceUnavailable("the node hosting the ApiServer became unreachable while this request was in flight; it may or may not have been applied"));
        }
    }

    /// <summary>The singleton runs on the oldest member; is that member unreachable from here?</summary>
    private bool ApiServerHostUnreachable()
    {
        var state = Akka.Cluster.Cluster.Get(_node.System).State;
        return !state.Unreachable.IsEmpty && ApiServerLink.Host(state) is { } oldest && state.Unreachable.Contains(oldest);
    }

    /// <summary>
    /// This node reaches no more than half of the members: it is on the minority side of a partition, which the
    /// split-brain resolver will down. Like a kube-apiserver whose etcd has lost quorum, it serves nothing meanwhile,
    /// even if the ApiServer happens to run here.
    /// </summary>
    private bool CutOffFromMajority()
    {
        var state = Akka.Cluster.Cluster.Get(_node.System).State;
        if (state.Unreachable.IsEmpty) return false;
        var members = state.Members.Count(m => m.Status is Akka.Cluster.MemberStatus.Up or Akka.Cluster.MemberStatus.Leaving or Akka.Cluster.MemberStatus.Exiting);
        var unreachable = state.Unreachable.Count(m => m.Status is Akka.Cluster.MemberStatus.Up or Akka.Cluster.MemberStatus.Leaving or Akka.Cluster.MemberStatus.Exiting);
        return members > 1 && (members - unreachable) * 2 <= members;
    }

    private bool HostsApiServer()
    {
        var cluster = Akka.Cluster.Cluster.Get(_node.System);
        return ApiServerLink.Host(cluster.State)?.Address == cluster.SelfAddress;
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
            var reply = await Ask(new ListObjects(kind.Resource, ns, q["labelSelector"], q["fieldSelector"], limit == 0 ? 0 : limit - items.Count, continueToken));
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

    private static async Task Reply(HttpContext ctx, object reply, int okStatus, bool table)
    {
        switch (reply)
        {
            case ObjectReply o when table:
                var obj = StoredObject.FromJson(o.Resource, o.Json);
                await Json(ctx, okStatus, TableConverter.ToTable(obj.Kind, [obj], o.ResourceVersion, null, DateTime.UtcNow));
                return;
            case ObjectReply o:
                await Raw(ctx, okStatus, o.Json);
                return;
            case ApiErrorReply e:
                if (e.RetryAfterSeconds > 0) ctx.Response.Headers.RetryAfter = e.RetryAfterSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
                await Raw(ctx, e.Code, e.StatusJson);
                return;
            default:
                await Error(ctx, ApiError.InternalError($"unexpected reply {reply.GetType().Name}"));
                return;
        }
    }

    internal static Task Error(HttpContext ctx, ApiError error)
    {
        if (error.Details?.RetryAfterSeconds is > 0 and var after)
            ctx.Response.Headers.RetryAfter = after.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return Raw(ctx, error.Code, error.ToJson());
    }

    internal static Task Json(HttpContext ctx, int status, JsonNode body) => Raw(ctx, status, body.ToJsonString());

    internal static async Task Raw(HttpContext ctx, int status, string json)
    {
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "application/json";
        await ctx.Response.WriteAsync(json);
    }

    private static async Task Text(HttpContext ctx, int status, string text)
    {
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "text/plain; charset=utf-8";
        await ctx.Response.WriteAsync(text);
    }
}
