using System.Globalization;
using System.Text;
using ActorCluster.Cluster.ApiServer;
using ActorCluster.Cluster.Hosting;
using ActorCluster.Cluster.Node;
using ActorCluster.Core.Api;
using ActorCluster.Core.ControlPlane;
using ActorCluster.Core.Objects;
using Akka.Actor;
using k8s.Models;
using Microsoft.AspNetCore.Http;

namespace ActorCluster.Api;

/// <summary>
/// The <c>pods/{name}/log</c> subresource (<c>kubectl logs</c>): the container's lines from the PodActor on the pod's
/// node, as plain text, with <c>container</c>, <c>previous</c>, <c>tailLines</c>, <c>sinceSeconds</c>/<c>sinceTime</c>,
/// <c>timestamps</c>, <c>limitBytes</c> and <c>follow</c> (the lines as they come, until the container ends or the
/// client goes; the pod is asked for new lines every <see cref="FollowPoll"/>).
/// </summary>
internal sealed class PodLogs(ActorClusterNode node, ApiServerClient apiServer)
{
    internal static readonly TimeSpan FollowPoll = TimeSpan.FromMilliseconds(250);

    /// <summary>A PodActor answers from memory: one that does not answer in this time is not there (the pod is gone).</summary>
    internal static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(5);

    public async Task Handle(HttpContext ctx, string ns, string name)
    {
        var q = ctx.Request.Query;
        var container = q["container"].ToString();
        var previous = QueryValues.Bool("previous", q["previous"]);
        var follow = QueryValues.Bool("follow", q["follow"]) && !previous;
        var timestamps = QueryValues.Bool("timestamps", q["timestamps"]);
        var tail = QueryValues.Int("tailLines", q["tailLines"]) is { } t ? (int)Math.Min(t, int.MaxValue) : (int?)null;
        var sinceSeconds = QueryValues.Int("sinceSeconds", q["sinceSeconds"]);
        var limitBytes = QueryValues.Int("limitBytes", q["limitBytes"]);
        DateTime? since = sinceSeconds is { } s ? DateTime.UtcNow.AddSeconds(-s) : null;
        if (q["sinceTime"].ToString() is { Length: > 0 } sinceTime)
            since = DateTime.Parse(sinceTime, CultureInfo.InvariantCulture, DateTimeStyles.AdjustToUniversal | DateTimeStyles.AssumeUniversal);

        if (await apiServer.Ask(new GetObject(ResourceKind.Pod.Resource, ns, name)) is not ObjectReply reply)
            throw new ApiErrorException(ApiError.NotFound(ResourceKind.Pod, name));
        var pod = KubeObjects.FromJson<V1Pod>(reply.Json);
        var podActor = await PodActor(pod);

        long? from = null;
        long written = 0;
        var started = false;
        while (true)
        {
            PodLogResponse logs;
            try
            {
                logs = await podActor.Ask<PodLogResponse>(new PodLogRequest(container, previous, from, tail, since), AskTimeout);
            }
            catch (AskTimeoutException)
            {
                if (started) return;
                throw new ApiErrorException(new ApiError(503, "ServiceUnavailable", $"pod {GoFormat.Quote(name)}: its node did not answer in {AskTimeout.TotalSeconds:0}s"));
            }
            if (logs.Error is not null)
            {
                if (started) return;
                throw new ApiErrorException(ApiError.BadRequest(logs.Error));
            }
            if (!started)
            {
                ctx.Response.StatusCode = 200;
                ctx.Response.ContentType = "text/plain";
                started = true;
            }
            var text = new StringBuilder();
            foreach (var line in logs.Lines)
                text.Append(timestamps ? $"{line.Time:yyyy-MM-ddTHH:mm:ss.fffffff00Z} " : "").Append(line.Text).Append('\n');
            var bytes = Encoding.UTF8.GetBytes(text.ToString());
            if (limitBytes is { } limit && written + bytes.Length > limit)
            {
                await ctx.Response.Body.WriteAsync(bytes.AsMemory(0, (int)Math.Max(0, limit - written)), ctx.RequestAborted);
                return;
            }
            await ctx.Response.Body.WriteAsync(bytes, ctx.RequestAborted);
            written += bytes.Length;
            if (!follow || !logs.Running) return;
            await ctx.Response.Body.FlushAsync(ctx.RequestAborted);
            from = logs.Next;
            since = null;
            try
            {
                await Task.Delay(FollowPoll, ctx.RequestAborted);
            }
            catch (OperationCanceledException)
            {
                return; // the client went
            }
        }
    }

    /// <summary>The PodActor on the pod's node, or why there is none.</summary>
    private async Task<IActorRef> PodActor(V1Pod pod)
    {
        if (string.IsNullOrEmpty(pod.Spec?.NodeName))
            throw new ApiErrorException(ApiError.BadRequest($"container \"{pod.Spec?.Containers?.FirstOrDefault()?.Name}\" in pod \"{pod.Metadata.Name}\" is waiting to start: ContainerCreating"));
        return await PodActors.Find(node, apiServer, pod)
               ?? throw new ApiErrorException(new ApiError(503, "ServiceUnavailable", $"node {GoFormat.Quote(pod.Spec.NodeName)} is not available"));
    }
}

/// <summary>Where a pod's PodActor is: under its node's agent, named by the pod's uid.</summary>
internal static class PodActors
{
    /// <summary>The pod, or kube-apiserver's words when it is not there or has completed (<paramref name="what"/>: "exec into", "attach to").</summary>
    public static async Task<V1Pod> Running(ApiServerClient apiServer, string ns, string name, string what)
    {
        if (await apiServer.Ask(new GetObject(ResourceKind.Pod.Resource, ns, name)) is not ObjectReply reply)
            throw new ApiErrorException(ApiError.NotFound(ResourceKind.Pod, name));
        var pod = KubeObjects.FromJson<V1Pod>(reply.Json);
        if (pod.Status?.Phase is "Succeeded" or "Failed")
            throw new ApiErrorException(ApiError.BadRequest($"cannot {what} a container in a completed pod; current phase is {pod.Status.Phase}"));
        return pod;
    }

    /// <summary>The PodActor of <paramref name="pod"/> on its node, or null when the pod has no node or the node no Akka address.</summary>
    public static async Task<IActorRef?> Find(ActorClusterNode node, ApiServerClient apiServer, V1Pod pod)
    {
        if (pod.Spec?.NodeName is not { Length: > 0 } nodeName) return null;
        var info = await apiServer.Ask(new GetObject("nodes", null, nodeName)) is ObjectReply reply
            ? NodeDirectory.Info(KubeObjects.FromJson<V1Node>(reply.Json))
            : null;
        return info?.AkkaAddress is null
            ? null
            : ((ExtendedActorSystem)node.System).Provider.ResolveActorRef($"{info.AkkaAddress}/user/node-agent/{pod.Metadata.Uid}");
    }
}
