using ActorCluster.Cluster.ApiServer;
using ActorCluster.Cluster.Hosting;
using ActorCluster.Core.Api;
using ActorCluster.Core.Objects;
using Akka.Actor;
using Microsoft.AspNetCore.Http;

namespace ActorCluster.Api;

/// <summary>The <c>services/{name}/proxy</c> and <c>pods/{name}/proxy</c> subresources, carried by the node's actors.</summary>
internal sealed class ProxySubresources(ActorClusterNode node, ApiServerClient apiServer, RequestBodies bodies)
{
    /// <summary>
    /// The proxy subresources, carried by actors so they reach pods on any node: services/{name}[:{port}]/proxy/{path}
    /// goes to the Service's actor on this node, which picks a ready endpoint; pods/{name}[:{port}]/proxy/{path} goes
    /// to the pod. Either way the pod's PodActor, on the pod's node, makes the request and answers.
    /// </summary>
    public async Task Handle(HttpContext ctx, string ns, string resource, string target, string path)
    {
        var colon = target.LastIndexOf(':');
        var name = colon < 0 ? target : target[..colon];
        var port = colon < 0 ? "" : target[(colon + 1)..];
        var kind = resource == "services" ? ResourceKind.Service : ResourceKind.Pod;
        if (await apiServer.Ask(new GetObject(kind.Resource, ns, name)) is not ObjectReply reply)
            throw new ApiErrorException(ApiError.NotFound(kind, name));
        var body = ctx.Request.ContentLength is > 0 ? await bodies.ReadBytes(ctx) : [];
        var pathAndQuery = path + ctx.Request.QueryString;
        var noun = kind.Kind.ToLowerInvariant();
        object answer;
        try
        {
            if (kind == ResourceKind.Service)
            {
                answer = await node.ServiceProxy.Ask<object>(
                    new Cluster.Proxy.ServiceProxyRequest(ns, name, port, ctx.Request.Method, pathAndQuery, ctx.Request.ContentType, body), ApiServerClient.AskTimeout);
            }
            else
            {
                var pod = KubeObjects.FromJson<k8s.Models.V1Pod>(reply.Json);
                var containerPort = port.Length == 0
                    ? pod.Spec.Containers.SelectMany(c => c.Ports ?? []).Select(p => p.ContainerPort).FirstOrDefault(80)
                    : int.TryParse(port, out var n) ? n : pod.Spec.Containers.SelectMany(c => c.Ports ?? []).FirstOrDefault(p => p.Name == port)?.ContainerPort ?? 0;
                var podActor = pod.Status?.Phase == "Running" && containerPort > 0 ? await PodActors.Find(node, apiServer, pod) : null;
                if (podActor is null)
                    throw new ApiErrorException(new ApiError(503, "ServiceUnavailable", $"no endpoints available for pod {GoFormat.Quote(name)}"));
                answer = await podActor.Ask<object>(new Cluster.Node.PodProxyRequest(containerPort, ctx.Request.Method, pathAndQuery, ctx.Request.ContentType, body), ApiServerClient.AskTimeout);
            }
        }
        catch (Akka.Actor.AskTimeoutException)
        {
            throw new ApiErrorException(new ApiError(503, "ServiceUnavailable", $"error trying to reach {noun}: no answer in {ApiServerClient.AskTimeout.TotalSeconds:0}s"));
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
}
