using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Threading.Channels;

namespace ActorCluster.Api;

/// <summary>
/// The server side of Kubernetes' port-forward protocol (<c>portforward.k8s.io</c>) over SPDY/3.1, which kubectl v1.32
/// speaks inside a WebSocket (subprotocol <c>SPDY/3.1+portforward.k8s.io</c>) or over a plain HTTP upgrade. For every
/// local connection kubectl opens a pair of streams with the same <c>requestid</c>: an error stream and a data stream
/// naming the <c>port</c>. The pair is joined to a TCP connection to the pod's address; bytes flow both ways with
/// half-close, and a failure is written on the error stream in kubelet's words. PINGs are answered; there is no flow
/// control (spdystream, kubectl's side, has none either).
/// </summary>
internal sealed class SpdyPortForward(Stream transport, Func<int, CancellationToken, Task<Socket?>> dial, IPAddress podIP, string podDescription)
    : SpdyConnection(transport)
{
    private readonly Dictionary<string, (SpdyStream? Error, SpdyStream? Data)> _pairs = [];

    /// <summary>The error and data streams of one local connection, joined by requestid; forwarding starts with both.</summary>
    protected override void OnStream(SpdyStream stream, CancellationToken token)
    {
        var request = stream.Headers.GetValueOrDefault("requestid", "");
        var type = stream.Headers.GetValueOrDefault("streamtype", "");
        var pair = _pairs.GetValueOrDefault(request);
        pair = type == "error" ? pair with { Error = stream } : type == "data" ? pair with { Data = stream } : pair;
        _pairs[request] = pair;
        if (pair is { Error: { } error, Data: { } data })
        {
            _pairs.Remove(request);
            Work.Add(Task.Run(() => Forward(error, data, token), CancellationToken.None));
        }
    }

    /// <summary>kubelet's portForward: a connection to the pod's port, both ways, or the reason on the error stream.</summary>
    private async Task Forward(SpdyStream error, SpdyStream data, CancellationToken token)
    {
        var portText = data.Headers.GetValueOrDefault("port", "");
        if (!ushort.TryParse(portText, out var port) || port == 0)
        {
            await Fail(error, data, $"invalid port {portText}", token).ConfigureAwait(false);
            return;
        }
        Socket? dialed;
        try
        {
            dialed = await dial(port, token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException)
        {
            dialed = null;
        }
        if (dialed is null)
        {
            await Fail(error, data, $"error forwarding port {port} to pod {podDescription}: dial tcp {podIP}:{port}: connect: connection refused", token).ConfigureAwait(false);
            return;
        }
        using var socket = dialed;
        socket.NoDelay = true;
        var toPod = Task.Run(async () =>
        {
            try
            {
                await foreach (var chunk in data.Incoming.Reader.ReadAllAsync(token).ConfigureAwait(false))
                    await socket.SendAsync(chunk, SocketFlags.None, token).ConfigureAwait(false);
                socket.Shutdown(SocketShutdown.Send);
            }
            catch (Exception e) when (e is SocketException or IOException or OperationCanceledException or ChannelClosedException or ObjectDisposedException)
            {
            }
        }, CancellationToken.None);
        try
        {
            var buffer = new byte[MaxDataFrame];
            int n;
            while ((n = await socket.ReceiveAsync(buffer, SocketFlags.None, token).ConfigureAwait(false)) > 0)
                await WriteData(data.Id, 0, buffer.AsMemory(0, n), token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SocketException or IOException or OperationCanceledException or ObjectDisposedException)
        {
        }
        await toPod.ConfigureAwait(false);
        await Close(data, token).ConfigureAwait(false);
        await Close(error, token).ConfigureAwait(false);
    }

    private async Task Fail(SpdyStream error, SpdyStream data, string message, CancellationToken token)
    {
        await WriteData(error.Id, 0, Encoding.UTF8.GetBytes(message), token).ConfigureAwait(false);
        await Close(error, token).ConfigureAwait(false);
        await Close(data, token).ConfigureAwait(false);
    }

}
