using System.Net.WebSockets;
using System.Text;
using System.Text.Json.Nodes;
using ActorCluster.Cluster.ApiServer;
using ActorCluster.Cluster.Hosting;
using ActorCluster.Cluster.Node;
using ActorCluster.Core.Api;
using ActorCluster.Core.Objects;
using Akka.Actor;
using k8s.Models;
using Microsoft.AspNetCore.Http;

namespace ActorCluster.Api;

/// <summary>
/// The <c>pods/{name}/exec</c> subresource as kubectl v1.32 speaks it: a WebSocket with the channel subprotocol
/// (<c>v5.channel.k8s.io</c>, or v4): every message starts with its channel (1 stdout, 2 stderr, 3 the final Status:
/// Success, or NonZeroExitCode with the exit code, which kubectl turns into its own exit code). The command runs in
/// the container on the pod's node (<see cref="Cluster.Workloads.BuiltinCommands"/>: the built-in image's commands,
/// not a shell); stdin is not read, so <c>-i</c>/<c>-t</c> sessions end when the command does. kubectl's SPDY
/// fallback (remote command v4) is served by <see cref="SpdyExec"/>.
/// </summary>
internal sealed class PodExec(ActorClusterNode node, ApiServerClient apiServer)
{
    /// <summary>The channel subprotocols served (exec and attach), newest first.</summary>
    internal static readonly string[] Protocols = ["v5.channel.k8s.io", "v4.channel.k8s.io"];
    private const string SpdyProtocol = "v4.channel.k8s.io";

    /// <summary>The node runs the command with its own bound (10 s); this one only covers the trip.</summary>
    private static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(15);

    public async Task Handle(HttpContext ctx, string ns, string name)
    {
        var q = ctx.Request.Query;
        var command = q["command"].Where(c => c is not null).Select(c => c!).ToList();
        if (command.Count == 0) throw new ApiErrorException(ApiError.BadRequest("you must specify at least 1 command"));
        var pod = await PodActors.Running(apiServer, ns, name, "exec into");
        var container = q["container"].ToString();
        var names = pod.Spec?.Containers?.Select(c => c.Name).ToList() ?? [];
        if (container.Length > 0 && !names.Contains(container))
            throw new ApiErrorException(ApiError.BadRequest($"container {container} is not valid for pod {name}"));
        if (container.Length == 0 && names.Count > 1)
            throw new ApiErrorException(ApiError.BadRequest($"a container name must be specified for pod {name}, choose one of: [{string.Join(" ", names)}]"));
        var podActor = await PodActors.Find(node, apiServer, pod)
                       ?? throw new ApiErrorException(ApiError.BadRequest($"pod {name} does not have a host assigned"));
        async Task<PodExecResponse> Run()
        {
            try
            {
                return await podActor.Ask<PodExecResponse>(new PodExecRequest(container, command), AskTimeout);
            }
            catch (AskTimeoutException)
            {
                return new PodExecResponse(0, "", "", $"pod {GoFormat.Quote(name)}: its node did not answer in {AskTimeout.TotalSeconds:0}s");
            }
        }

        // kubectl's fallback: SPDY/3.1 over a plain upgrade, remote command protocol v4.
        var upgrade = ctx.Features.Get<Microsoft.AspNetCore.Http.Features.IHttpUpgradeFeature>();
        if (!ctx.WebSockets.IsWebSocketRequest && upgrade is { IsUpgradableRequest: true }
            && ctx.Request.Headers.Upgrade.ToString().StartsWith("SPDY/3.1", StringComparison.OrdinalIgnoreCase))
        {
            var offered = ctx.Request.Headers["X-Stream-Protocol-Version"].SelectMany(v => (v ?? "").Split(',')).Select(v => v.Trim());
            if (!offered.Contains(SpdyProtocol))
                throw new ApiErrorException(ApiError.BadRequest($"exec over SPDY needs the remote command protocol {SpdyProtocol}"));
            ctx.Response.Headers.Upgrade = "SPDY/3.1";
            ctx.Response.Headers["X-Stream-Protocol-Version"] = SpdyProtocol;
            await using var stream = await upgrade.UpgradeAsync();
            await new SpdyExec(stream, QueryValues.Bool("stdout", q["stdout"]), QueryValues.Bool("stderr", q["stderr"]), Run,
                r => FinalStatus(command, r).ToJsonString()).RunAsync(ctx.RequestAborted);
            return;
        }
        var protocol = ctx.WebSockets.WebSocketRequestedProtocols.FirstOrDefault(p => Protocols.Contains(p));
        if (!ctx.WebSockets.IsWebSocketRequest || protocol is null)
            throw new ApiErrorException(ApiError.BadRequest(
                $"exec needs a WebSocket upgrade with one of the subprotocols {string.Join(", ", Protocols)}, or SPDY/3.1 with {SpdyProtocol}"));

        var result = await Run();
        // Before the upgrade, an error is an ordinary Status answer (kubectl prints it as the server's error).
        if (result.Error is not null) throw new ApiErrorException(ApiError.BadRequest(result.Error));

        using var socket = await ctx.WebSockets.AcceptWebSocketAsync(protocol);
        if (result.Stdout.Length > 0) await Send(socket, 1, Encoding.UTF8.GetBytes(result.Stdout), ctx.RequestAborted);
        if (result.Stderr.Length > 0) await Send(socket, 2, Encoding.UTF8.GetBytes(result.Stderr), ctx.RequestAborted);
        await Send(socket, 3, Encoding.UTF8.GetBytes(FinalStatus(command, result).ToJsonString()), ctx.RequestAborted);
        using var closing = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "", closing.Token);
        }
        catch (Exception e) when (e is WebSocketException or OperationCanceledException)
        {
            // The client went first: the answer is out.
        }
    }

    /// <summary>One message of the channel protocol: the channel's number, then the bytes.</summary>
    internal static Task Send(WebSocket socket, byte channel, byte[] data, CancellationToken token)
    {
        var frame = new byte[data.Length + 1];
        frame[0] = channel;
        data.CopyTo(frame, 1);
        return socket.SendAsync(frame, WebSocketMessageType.Binary, endOfMessage: true, token);
    }

    /// <summary>The Status on the error channel: Success, kubelet's NonZeroExitCode with the code as its cause, or why it did not run.</summary>
    private static JsonObject FinalStatus(IReadOnlyList<string> command, PodExecResponse result) => result.Error is not null
        ? new JsonObject { ["metadata"] = new JsonObject(), ["status"] = "Failure", ["message"] = result.Error, ["reason"] = "InternalError", ["code"] = 500 }
        : result.ExitCode is var exitCode && exitCode == 0
        ? new JsonObject { ["metadata"] = new JsonObject(), ["status"] = "Success" }
        : new JsonObject
        {
            ["metadata"] = new JsonObject(),
            ["status"] = "Failure",
            ["message"] = $"command terminated with non-zero exit code: error executing command [{string.Join(" ", command)}], exit code {exitCode}",
            ["reason"] = "NonZeroExitCode",
            ["details"] = new JsonObject { ["causes"] = new JsonArray(new JsonObject { ["reason"] = "ExitCode", ["message"] = exitCode.ToString(System.Globalization.CultureInfo.InvariantCulture) }) },
        };
}
