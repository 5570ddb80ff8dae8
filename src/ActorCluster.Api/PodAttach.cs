using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;
using ActorCluster.Cluster.Hosting;
using ActorCluster.Cluster.Node;
using ActorCluster.Core.Api;
using ActorCluster.Core.Objects;
using Akka.Actor;
using Microsoft.AspNetCore.Http;

namespace ActorCluster.Api;

/// <summary>
/// The <c>pods/{name}/attach</c> subresource (<c>kubectl attach</c>): a WebSocket with the channel subprotocol, as for
/// exec, on which the running container's output from now on is sent as it is written (channel 1; the built-in image
/// writes one line per request it serves), until the client goes or the container ends (then the final Status on
/// channel 3), as attach is to one container process. The built-in image reads no input, so stdin is accepted and not read. New output is asked of the
/// PodActor as often as for <c>kubectl logs -f</c> (<see cref="PodLogs.FollowPoll"/>).
/// </summary>
internal sealed class PodAttach(ActorClusterNode node, ApiServerClient apiServer)
{
    public async Task Handle(HttpContext ctx, string ns, string name)
    {
        var q = ctx.Request.Query;
        var pod = await PodActors.Running(apiServer, ns, name, "attach to");
        var container = q["container"].ToString();
        var podActor = await PodActors.Find(node, apiServer, pod)
                       ?? throw new ApiErrorException(ApiError.BadRequest($"pod {name} does not have a host assigned"));
        var protocol = ctx.WebSockets.WebSocketRequestedProtocols.FirstOrDefault(p => PodExec.Protocols.Contains(p));
        if (!ctx.WebSockets.IsWebSocketRequest || protocol is null)
            throw new ApiErrorException(ApiError.BadRequest($"attach needs a WebSocket upgrade with one of the subprotocols {string.Join(", ", PodExec.Protocols)}"));
        var stdout = !q.ContainsKey("stdout") || QueryValues.Bool("stdout", q["stdout"]);

        // Where the output stands now: only what is written from here on is attached (kubectl logs shows the rest). The
        // pod's node checks the container (kube-apiserver's words when it is not one of the pod's).
        var start = await Ask(podActor, new PodLogRequest(container, false, null, 0, null));
        if (start.Error is not null) throw new ApiErrorException(ApiError.BadRequest(start.Error));

        using var socket = await ctx.WebSockets.AcceptWebSocketAsync(protocol);
        using var gone = CancellationTokenSource.CreateLinkedTokenSource(ctx.RequestAborted);
        var reading = DrainInput(socket, gone);
        var from = start.Next;
        var ended = false;
        try
        {
            while (!gone.IsCancellationRequested)
            {
                var logs = await Ask(podActor, new PodLogRequest(container, false, from, null, null));
                if (logs.Error is not null) break;
                // The process attached to has ended, even if a new one already runs (a restart between two polls).
                if (logs.Instance != start.Instance)
                {
                    ended = true;
                    break;
                }
                if (stdout && logs.Lines.Count > 0)
                    await PodExec.Send(socket, 1, Encoding.UTF8.GetBytes(string.Concat(logs.Lines.Select(l => l.Text + "\n"))), gone.Token);
                from = logs.Next;
                if (!logs.Running)
                {
                    ended = true;
                    break;
                }
                await Task.Delay(PodLogs.FollowPoll, gone.Token);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException or AskTimeoutException)
        {
            // the client went, or the pod's node did
        }
        if (socket.State == WebSocketState.Open)
        {
            using var closing = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            try
            {
                if (ended) await PodExec.Send(socket, 3, Encoding.UTF8.GetBytes(new JsonObject { ["metadata"] = new JsonObject(), ["status"] = "Success" }.ToJsonString()), closing.Token);
                await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "", closing.Token);
            }
            catch (Exception e) when (e is WebSocketException or OperationCanceledException)
            {
                // the client went first
            }
        }
        await gone.CancelAsync();
        await reading;
    }

    private static Task<PodLogResponse> Ask(IActorRef podActor, PodLogRequest request) => podActor.Ask<PodLogResponse>(request, PodLogs.AskTimeout);

    /// <summary>Reads (and drops) what the client sends, stdin and resize frames, until it closes: then the attach ends.</summary>
    private static async Task DrainInput(WebSocket socket, CancellationTokenSource gone)
    {
        var buffer = new byte[4096];
        try
        {
            while (!gone.IsCancellationRequested)
            {
                var r = await socket.ReceiveAsync(buffer, gone.Token);
                if (r.MessageType == WebSocketMessageType.Close) break;
            }
        }
        catch (Exception e) when (e is OperationCanceledException or WebSocketException)
        {
            // ended either way
        }
        await gone.CancelAsync();
    }
}
