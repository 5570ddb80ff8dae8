using System.Net;
using System.Net.Sockets;
using k8s.Models;

namespace ActorCluster.Cluster.Workloads;

/// <summary>
/// kubelet's prober: one run of a probe against a container on the pod's address. httpGet succeeds on a status from
/// 200 to 399, tcpSocket when a connection opens, exec when the command exits 0; each within timeoutSeconds. A
/// failure comes with kubelet's words for it (what the Unhealthy Event says).
/// </summary>
public static class Probing
{
    private static readonly HttpClient Http = new(new SocketsHttpHandler { PooledConnectionLifetime = TimeSpan.Zero }) { Timeout = Timeout.InfiniteTimeSpan };

    public static async Task<(bool Ok, string Failure)> Run(V1Probe probe, V1Container container, PodIdentity pod, TimeSpan timeout,
        IReadOnlyDictionary<string, byte[]>? files = null)
    {
        if (probe.HttpGet is { } get)
        {
            var port = Port(get.Port, container);
            var host = string.IsNullOrEmpty(get.Host) ? pod.IP : get.Host;
            var url = $"{(get.Scheme ?? "HTTP").ToLowerInvariant()}://{host}:{port}{(string.IsNullOrEmpty(get.Path) ? "/" : get.Path)}";
            using var cts = new CancellationTokenSource(timeout);
            try
            {
                using var request = new HttpRequestMessage(HttpMethod.Get, url);
                request.Headers.UserAgent.ParseAdd("kube-probe/1.32");
                foreach (var h in get.HttpHeaders ?? []) request.Headers.TryAddWithoutValidation(h.Name, h.Value);
                using var response = await Http.SendAsync(request, cts.Token).ConfigureAwait(false);
                var code = (int)response.StatusCode;
                return code is >= 200 and < 400 ? (true, "") : (false, $"HTTP probe failed with statuscode: {code}");
            }
            catch (OperationCanceledException)
            {
                return (false, $"Get \"{url}\": context deadline exceeded (Client.Timeout exceeded while awaiting headers)");
            }
            catch (HttpRequestException e)
            {
                return (false, $"Get \"{url}\": dial tcp {host}:{port}: connect: {e.GetBaseException().Message.ToLowerInvariant()}");
            }
        }
        if (probe.TcpSocket is { } tcp)
        {
            var port = Port(tcp.Port, container);
            var host = string.IsNullOrEmpty(tcp.Host) ? pod.IP : tcp.Host;
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            using var cts = new CancellationTokenSource(timeout);
            try
            {
                await socket.ConnectAsync(new IPEndPoint(IPAddress.Parse(host), port), cts.Token).ConfigureAwait(false);
                return (true, "");
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException or FormatException)
            {
                return (false, $"dial tcp {host}:{port}: {(e is OperationCanceledException ? "i/o timeout" : "connect: " + e.Message.ToLowerInvariant())}");
            }
        }
        if (probe.Exec is { } exec)
        {
            var result = await BuiltinCommands.Run([.. exec.Command ?? []], pod, container, timeout, files).ConfigureAwait(false);
            return result.ExitCode == 0 ? (true, "") : (false, (result.Stdout + result.Stderr).TrimEnd() is { Length: > 0 } output ? output : $"command exited with {result.ExitCode}");
        }
        return (false, "gRPC probes are not supported by ActorCluster");
    }

    /// <summary>A probe's port: a number, or the name of one of the container's ports.</summary>
    private static int Port(IntOrString? port, V1Container container)
    {
        var text = port?.Value ?? "";
        if (int.TryParse(text, System.Globalization.NumberStyles.None, System.Globalization.CultureInfo.InvariantCulture, out var n)) return n;
        return container.Ports?.FirstOrDefault(p => p.Name == text)?.ContainerPort ?? 0;
    }
}
