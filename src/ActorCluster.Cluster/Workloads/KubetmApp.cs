using System.Net;
using System.Net.Sockets;
using System.Text;

namespace ActorCluster.Cluster.Workloads;

/// <summary>What a pod's workload knows about itself.</summary>
public sealed record PodIdentity(string Name, string Namespace, string IP, string NodeName);

/// <summary>
/// The built-in image <c>kubetm/app</c>: a small HTTP/1.1 server (keep-alive) bound to podIP:containerPort.
/// <c>GET /hostname</c> answers the pod's name, <c>GET /client</c> the client address as the pod sees it (the one a
/// PROXY protocol v2 header names, when the connection starts with one),
/// <c>GET /</c> pod, IP and node, <c>GET /bytes/N</c> N characters of a fixed pattern, <c>GET /health</c> 200 (500 once <c>POST /unhealthy</c>), <c>GET /ready</c> 200 (503
/// once <c>POST /unready</c>; <c>POST /ready</c> and <c>POST /healthy</c> undo them), <c>POST /crash</c> makes the
/// container exit with code 1 (see <see cref="KubetmSwitches"/>); every request is logged as a line: client, method,
/// path, status. Stopping is graceful, as a server behind a Service should
/// stop: it keeps serving for <see cref="ShutdownDelay"/> (what a preStop sleep gives a real app: the time the
/// proxies need to stop sending it new connections, since the endpoint change and the stop start together), then
/// the listener closes, connections finish the request in hand, and whatever is left is closed when the grace period
/// ends.
/// </summary>
public sealed class KubetmApp : IWorkload
{
    public const string Image = "kubetm/app";

    private readonly PodIdentity _pod;
    private readonly KubetmSwitches _switches;
    private readonly Socket _listener;
    private readonly CancellationTokenSource _stopping = new();
    private readonly CancellationTokenSource _draining = new();
    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly HashSet<Socket> _connections = [];
    private readonly Task _acceptLoop;

    private KubetmApp(PodIdentity pod, Socket listener, KubetmSwitches switches)
    {
        _pod = pod;
        _switches = switches;
        _listener = listener;
        _acceptLoop = Task.Run(() => ActorCluster.Proxy.AcceptLoop.RunAsync(_listener, Serve, _draining.Token));
    }

    public IPEndPoint EndPoint => (IPEndPoint)_listener.LocalEndPoint!;

    /// <summary>Whether an image reference names this built-in image (any tag or digest).</summary>
    public static bool IsImage(string? image)
    {
        if (string.IsNullOrEmpty(image)) return false;
        var name = image.Split('@')[0];
        var lastSlash = name.LastIndexOf('/');
        var colon = name.IndexOf(':', lastSlash + 1);
        if (colon >= 0) name = name[..colon];
        if (name.StartsWith("docker.io/", StringComparison.Ordinal)) name = name["docker.io/".Length..];
        return name == Image;
    }

    /// <summary>Binds and starts serving; throws <see cref="SocketException"/> when the address is taken.</summary>
    public static KubetmApp Start(PodIdentity pod, int port, KubetmSwitches? switches = null)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.Bind(new IPEndPoint(IPAddress.Parse(pod.IP), port));
            socket.Listen(512);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        return new KubetmApp(pod, socket, switches ?? new KubetmSwitches());
    }

    private async Task Serve(Socket client)
    {
        client.NoDelay = true;
        lock (_connections) _connections.Add(client);
        var buffer = new byte[8192];
        var filled = 0;
        var remote = (IPEndPoint)client.RemoteEndPoint!;
        var proxyChecked = false;
        try
        {
            while (true)
            {
                var end = -1;
                if (!proxyChecked && filled > 0)
                {
                    // A connection may start with a PROXY v2 header (Services annotated actorcluster.io/proxy-protocol):
                    // then the client is the one it names.
                    var (state, length, proxied) = ActorCluster.Proxy.ProxyProtocol.TryParse(buffer.AsSpan(0, filled));
                    if (state != ActorCluster.Proxy.ProxyProtocol.ParseState.NeedMore)
                    {
                        proxyChecked = true;
                        if (state == ActorCluster.Proxy.ProxyProtocol.ParseState.Parsed)
                        {
                            if (proxied is not null) remote = proxied;
                            Array.Copy(buffer, length, buffer, 0, filled - length);
                            filled -= length;
                        }
                    }
                }
                if (proxyChecked || filled == 0) end = IndexOfHeaderEnd(buffer, filled);
                if (end < 0)
                {
                    if (filled == buffer.Length) return; // headers too large
                    // Between requests a draining server stops waiting; a request already begun is finished.
                    var token = filled == 0 ? _draining.Token : _stopping.Token;
                    var n = await client.ReceiveAsync(buffer.AsMemory(filled), SocketFlags.None, token).ConfigureAwait(false);
                    if (n == 0) return;
                    filled += n;
                    continue;
                }
                var head = Encoding.ASCII.GetString(buffer, 0, end);
                var lines = head.Split("\r\n");
                var parts = lines[0].Split(' ');
                var method = parts[0];
                var path = parts.Length > 1 ? parts[1] : "/";
                var close = lines.Skip(1).Any(l => l.StartsWith("Connection:", StringComparison.OrdinalIgnoreCase) && l.Contains("close", StringComparison.OrdinalIgnoreCase))
                            || (parts.Length > 2 && parts[2] == "HTTP/1.0");
                // Consume the request (bodies are ignored; Content-Length is honoured so keep-alive stays in step).
                var contentLength = lines.Skip(1)
                    .Where(l => l.StartsWith("Content-Length:", StringComparison.OrdinalIgnoreCase))
                    .Select(l => int.TryParse(l["Content-Length:".Length..].Trim(), out var v) ? v : 0).FirstOrDefault();
                var consumed = end + 4 + contentLength;
                while (filled < consumed)
                {
                    var n = await client.ReceiveAsync(buffer.AsMemory(filled, Math.Min(buffer.Length - filled, consumed - filled)), SocketFlags.None, _stopping.Token).ConfigureAwait(false);
                    if (n == 0) return;
                    filled += n;
                    if (filled == buffer.Length && filled < consumed)
                    {
                        consumed -= filled;
                        filled = 0;
                    }
                }
                Array.Copy(buffer, consumed, buffer, 0, filled - consumed);
                filled -= consumed;

                var (status, body) = Respond(method, path, remote);
                _switches.Log($"{remote.Address}:{remote.Port} {method} {path} {status[..3]}");
                var stopping = _draining.IsCancellationRequested;
                var response = Encoding.ASCII.GetBytes(
                    $"HTTP/1.1 {status}\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {Encoding.UTF8.GetByteCount(body)}\r\n" +
                    (close || stopping ? "Connection: close\r\n" : "") + "\r\n" + body);
                await client.SendAsync(response, SocketFlags.None).ConfigureAwait(false);
                if (method == "POST" && path == "/crash")
                {
                    _switches.Crash();
                    return;
                }
                if (close || stopping) return;
            }
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
        {
        }
        finally
        {
            lock (_connections)
            {
                _connections.Remove(client);
                if (_connections.Count == 0 && _draining.IsCancellationRequested) _drained.TrySetResult();
            }
            try { client.Shutdown(SocketShutdown.Both); } catch (SocketException) { } catch (ObjectDisposedException) { }
            client.Dispose();
        }
    }

    private (string Status, string Body) Respond(string method, string path, IPEndPoint remote)
    {
        var q = path.IndexOf('?');
        if (q >= 0) path = path[..q];
        if (method == "POST")
        {
            switch (path)
            {
                case "/unready": _switches.Ready = false; return ("200 OK", "not ready from now on\n");
                case "/ready": _switches.Ready = true; return ("200 OK", "ready from now on\n");
                case "/unhealthy": _switches.Healthy = false; return ("200 OK", "unhealthy from now on\n");
                case "/healthy": _switches.Healthy = true; return ("200 OK", "healthy from now on\n");
                case "/crash": return ("200 OK", "crashing\n");
            }
        }
        if (path.StartsWith("/bytes/", StringComparison.Ordinal) && int.TryParse(path["/bytes/".Length..], out var size) && size is >= 0 and <= MaxBytes)
            return ("200 OK", Bytes(size));
        return path switch
        {
            "/hostname" => ("200 OK", _pod.Name + "\n"),
            "/client" => ("200 OK", $"{remote.Address}:{remote.Port}\n"),
            "/health" or "/healthz" => _switches.Healthy ? ("200 OK", "ok\n") : ("500 Internal Server Error", "unhealthy\n"),
            "/ready" or "/readyz" => _switches.Ready ? ("200 OK", "ready\n") : ("503 Service Unavailable", "not ready\n"),
            "/" => ("200 OK", $"pod: {_pod.Name}\nnamespace: {_pod.Namespace}\nip: {_pod.IP}\nnode: {_pod.NodeName}\n"),
            _ => ("404 Not Found", "not found\n"),
        };
    }

    private const int MaxBytes = 64 << 20;

    /// <summary><c>GET /bytes/N</c>: N characters of a fixed pattern (to check that a path carries a large answer intact).</summary>
    public static string Bytes(int size)
    {
        const string alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
        return string.Create(size, 0, (span, _) =>
        {
            for (var i = 0; i < span.Length; i++) span[i] = alphabet[(int)((i * 7L + i / 977) % alphabet.Length)];
        });
    }

    private static int IndexOfHeaderEnd(byte[] buffer, int length)
    {
        for (var i = 3; i < length; i++)
        {
            if (buffer[i] == '\n' && buffer[i - 1] == '\r' && buffer[i - 2] == '\n' && buffer[i - 3] == '\r') return i - 3;
        }
        return -1;
    }

    /// <summary>How long a stopping workload keeps accepting (never longer than its grace period).</summary>
    public static readonly TimeSpan ShutdownDelay = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Stops accepting after <see cref="ShutdownDelay"/> (at once when <paramref name="grace"/> is shorter); requests in
    /// progress get the rest of <paramref name="grace"/> to finish.
    /// </summary>
    public async Task StopAsync(TimeSpan grace)
    {
        if (_draining.IsCancellationRequested) return;
        var delay = grace < ShutdownDelay ? grace : ShutdownDelay;
        if (delay > TimeSpan.Zero) await Task.Delay(delay).ConfigureAwait(false);
        grace -= delay;
        if (_draining.IsCancellationRequested) return;
        _listener.Dispose();
        await _draining.CancelAsync().ConfigureAwait(false);
        lock (_connections)
        {
            if (_connections.Count == 0) _drained.TrySetResult();
        }
        await Task.WhenAny(_drained.Task, Task.Delay(grace)).ConfigureAwait(false);
        await _stopping.CancelAsync().ConfigureAwait(false);
        lock (_connections)
        {
            foreach (var c in _connections) c.Dispose();
        }
        await _acceptLoop.ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(TimeSpan.Zero).ConfigureAwait(false);
        _stopping.Dispose();
        _draining.Dispose();
    }
}
