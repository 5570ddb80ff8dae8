using System.Net;
using System.Net.WebSockets;
using ActorCluster.Cluster.ApiServer;
using ActorCluster.Core.Api;
using ActorCluster.Core.Objects;
using k8s.Models;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Http.Features;

namespace ActorCluster.Api;

/// <summary>
/// The <c>pods/{name}/portforward</c> subresource (<c>kubectl port-forward pod/x</c> and <c>svc/x</c>, which kubectl
/// resolves to a pod): SPDY/3.1 tunnelled in a WebSocket (what kubectl v1.32 tries first) or over an HTTP upgrade
/// (its fallback), served by <see cref="SpdyPortForward"/>. Connections go to the pod's address, directly when its
/// node is on this machine, else through that node's tunnel (as the data plane reaches pods on other hosts).
/// </summary>
internal sealed class PodPortForward(ApiServerClient apiServer, ActorCluster.Cluster.Proxy.ProxySettings? proxy)
{
    private static readonly TimeSpan DialTimeout = TimeSpan.FromSeconds(5);

    private const string Protocol = "portforward.k8s.io";
    private const string TunnelledProtocol = "SPDY/3.1+" + Protocol;

    public async Task Handle(HttpContext ctx, string ns, string name)
    {
        if (await apiServer.Ask(new GetObject(ResourceKind.Pod.Resource, ns, name)) is not ObjectReply reply)
            throw new ApiErrorException(ApiError.NotFound(ResourceKind.Pod, name));
        var pod = KubeObjects.FromJson<V1Pod>(reply.Json);
        if (pod.Status?.Phase != "Running" || !IPAddress.TryParse(pod.Status.PodIP, out var podIP))
            throw new ApiErrorException(ApiError.BadRequest($"pod {name} is not running and cannot be port-forwarded: phase {pod.Status?.Phase ?? "Pending"}"));
        var description = $"{pod.Metadata.Name}_{ns}, uid {pod.Metadata.Uid}";
        var nodeIP = pod.Spec?.NodeName is { } nodeName && await apiServer.Ask(new GetObject("nodes", null, nodeName)) is ObjectReply nodeReply
            ? Core.ControlPlane.NodeDirectory.Info(KubeObjects.FromJson<V1Node>(nodeReply.Json)).InternalIP
            : null;
        Func<int, CancellationToken, Task<System.Net.Sockets.Socket?>> dial = (port, token) =>
        {
            var target = new IPEndPoint(podIP, port);
            if (proxy?.TunnelCredentials is { } credentials && nodeIP is { } nodeAddress
                && !nodeAddress.Equals(proxy.NodeAddress) && proxy.TunnelsTo(nodeAddress))
                return ActorCluster.Proxy.NodeTunnel.DialAsync(new IPEndPoint(nodeAddress, proxy.TunnelPort), target, proxy.NodeAddress, credentials, DialTimeout, token);
            return ActorCluster.Proxy.TcpRelay.DialAsync(target, null, DialTimeout, token);
        };

        if (ctx.WebSockets.IsWebSocketRequest && ctx.WebSockets.WebSocketRequestedProtocols.Contains(TunnelledProtocol))
        {
            // .NET refuses '/' in a subprotocol (RFC 6455 wants a token); kubectl sends one, so the answer names it by hand.
            ctx.Response.Headers.SecWebSocketProtocol = TunnelledProtocol;
            using var socket = await ctx.WebSockets.AcceptWebSocketAsync(subProtocol: null);
            await using var stream = new MessageStream(socket);
            await new SpdyPortForward(stream, dial, podIP, description).RunAsync(ctx.RequestAborted);
            return;
        }
        var upgrade = ctx.Features.Get<IHttpUpgradeFeature>();
        if (upgrade is { IsUpgradableRequest: true } && ctx.Request.Headers.Upgrade.ToString().StartsWith("SPDY/3.1", StringComparison.OrdinalIgnoreCase))
        {
            ctx.Response.Headers.Upgrade = "SPDY/3.1";
            ctx.Response.Headers["X-Stream-Protocol-Version"] = Protocol;
            await using var stream = await upgrade.UpgradeAsync();
            await new SpdyPortForward(stream, dial, podIP, description).RunAsync(ctx.RequestAborted);
            return;
        }
        throw new ApiErrorException(ApiError.BadRequest($"port-forward needs an upgrade: a WebSocket with subprotocol {TunnelledProtocol}, or SPDY/3.1"));
    }

    /// <summary>A WebSocket as a byte stream: reads run across message boundaries, each write is one binary message.</summary>
    private sealed class MessageStream(WebSocket socket) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => true;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            while (true)
            {
                if (socket.State is not (WebSocketState.Open or WebSocketState.CloseSent)) return 0;
                var result = await socket.ReceiveAsync(buffer, cancellationToken).ConfigureAwait(false);
                if (result.MessageType == WebSocketMessageType.Close) return 0;
                if (result.Count > 0) return result.Count;
            }
        }

        public override ValueTask WriteAsync(ReadOnlyMemory<byte> buffer, CancellationToken cancellationToken = default) =>
            socket.SendAsync(buffer, WebSocketMessageType.Binary, endOfMessage: true, cancellationToken);

        public override Task FlushAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public override void Flush()
        {
        }

        public override int Read(byte[] buffer, int offset, int count) => ReadAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

        public override void Write(byte[] buffer, int offset, int count) => WriteAsync(buffer.AsMemory(offset, count)).AsTask().GetAwaiter().GetResult();

        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();

        public override void SetLength(long value) => throw new NotSupportedException();
    }
}
