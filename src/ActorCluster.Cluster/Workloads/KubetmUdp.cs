using System.Net;
using System.Net.Sockets;
using System.Text;

namespace ActorCluster.Cluster.Workloads;

/// <summary>
/// The UDP side of <c>kubetm/app</c>, bound to podIP:containerPort for a container port with protocol UDP. Each
/// datagram is answered with one datagram: <c>hostname</c> gets the pod's name, <c>client</c> the sender's address
/// as the pod sees it, anything else comes back unchanged (echo).
/// </summary>
public sealed class KubetmUdp : IWorkload
{
    private readonly PodIdentity _pod;
    private readonly Socket _socket;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;

    private KubetmUdp(PodIdentity pod, Socket socket)
    {
        _pod = pod;
        _socket = socket;
        _loop = Task.Run(Serve);
    }

    public static KubetmUdp Start(PodIdentity pod, int port)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        try
        {
            socket.Bind(new IPEndPoint(IPAddress.Parse(pod.IP), port));
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        return new KubetmUdp(pod, socket);
    }

    private async Task Serve()
    {
        var buffer = new byte[65536];
        var any = new IPEndPoint(IPAddress.Any, 0);
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                var r = await _socket.ReceiveFromAsync(buffer, SocketFlags.None, any, _stop.Token).ConfigureAwait(false);
                var request = Encoding.ASCII.GetString(buffer, 0, r.ReceivedBytes).Trim();
                var remote = (IPEndPoint)r.RemoteEndPoint;
                ReadOnlyMemory<byte> reply = request switch
                {
                    "hostname" => Encoding.UTF8.GetBytes(_pod.Name),
                    "client" => Encoding.UTF8.GetBytes($"{remote.Address}:{remote.Port}"),
                    _ => buffer.AsMemory(0, r.ReceivedBytes).ToArray(),
                };
                await _socket.SendToAsync(reply, SocketFlags.None, remote, _stop.Token).ConfigureAwait(false);
            }
            catch (SocketException)
            {
                // an ICMP error for an earlier reply: keep serving
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
            {
                return;
            }
        }
    }

    /// <summary>Datagrams have no connections to drain: stopping is immediate.</summary>
    public async Task StopAsync(TimeSpan grace)
    {
        if (_stop.IsCancellationRequested) return;
        await _stop.CancelAsync().ConfigureAwait(false);
        _socket.Dispose();
        await _loop.ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync(TimeSpan.Zero).ConfigureAwait(false);
        _stop.Dispose();
    }
}

/// <summary>A running workload of a pod: stops gracefully within a grace period.</summary>
public interface IWorkload : IAsyncDisposable
{
    Task StopAsync(TimeSpan grace);
}
