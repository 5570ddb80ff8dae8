using System.Text;
using ActorCluster.Cluster.Node;

namespace ActorCluster.Api;

/// <summary>
/// <c>kubectl exec</c> over SPDY (kubectl's fallback when the WebSocket upgrade fails, and what it speaks with
/// KUBECTL_REMOTE_COMMAND_WEBSOCKETS=false), remote command protocol v4: the client opens an error stream and one per
/// output it wants (stdout, stderr; stdin and resize are accepted and not read). Once they are there the command runs;
/// its output goes on its streams and the final Status (v4: Success, or NonZeroExitCode) on the error stream.
/// </summary>
internal sealed class SpdyExec(Stream transport, bool stdout, bool stderr, Func<Task<PodExecResponse>> run, Func<PodExecResponse, string> finalStatus)
    : SpdyConnection(transport)
{
    private readonly Dictionary<string, SpdyStream> _streams = [];
    private bool _started;

    protected override void OnStream(SpdyStream stream, CancellationToken token)
    {
        _streams[stream.Headers.GetValueOrDefault("streamtype", "")] = stream;
        if (_started || !_streams.ContainsKey("error") || (stdout && !_streams.ContainsKey("stdout")) || (stderr && !_streams.ContainsKey("stderr"))) return;
        _started = true;
        Work.Add(Task.Run(() => Execute(token), CancellationToken.None));
    }

    private async Task Execute(CancellationToken token)
    {
        var result = await run().ConfigureAwait(false);
        if (_streams.TryGetValue("stdout", out var o) && result.Stdout.Length > 0) await Send(o, result.Stdout, token).ConfigureAwait(false);
        if (_streams.TryGetValue("stderr", out var e) && result.Stderr.Length > 0) await Send(e, result.Stderr, token).ConfigureAwait(false);
        await Send(_streams["error"], finalStatus(result), token).ConfigureAwait(false);
        foreach (var stream in _streams.Values) await Close(stream, token).ConfigureAwait(false);
    }

    private async Task Send(SpdyStream stream, string text, CancellationToken token)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        for (var at = 0; at < bytes.Length; at += MaxDataFrame)
            await WriteData(stream.Id, 0, bytes.AsMemory(at, Math.Min(MaxDataFrame, bytes.Length - at)), token).ConfigureAwait(false);
    }
}
