using System.Net;
using System.Net.Sockets;

namespace ActorCluster.Proxy;

/// <summary>
/// Copies bytes both ways between two connected sockets until both directions are done. End of stream on one side
/// becomes a half-close (shutdown of sending) on the other, so protocols that half-close keep working; a reset or
/// error on either side closes both. Backpressure is the sockets' own: a read waits until the previous write is done.
/// </summary>
public static class TcpRelay
{
    private const int BufferSize = 64 * 1024;

    /// <summary>Relays until both directions end; bytes are added to <paramref name="stats"/> as they pass.</summary>
    public static async Task RunAsync(Socket client, Socket upstream, ListenerStats stats, CancellationToken token)
    {
        using var abort = CancellationTokenSource.CreateLinkedTokenSource(token);
        var up = Pump(client, upstream, abort, bytes => Interlocked.Add(ref stats.BytesIn, bytes));
        var down = Pump(upstream, client, abort, bytes => Interlocked.Add(ref stats.BytesOut, bytes));
        await Task.WhenAll(up, down).ConfigureAwait(false);
    }

    private static async Task Pump(Socket from, Socket to, CancellationTokenSource abort, Action<int> count)
    {
        var buffer = GC.AllocateUninitializedArray<byte>(BufferSize);
        try
        {
            while (true)
            {
                var n = await from.ReceiveAsync(buffer, SocketFlags.None, abort.Token).ConfigureAwait(false);
                if (n == 0)
                {
                    to.Shutdown(SocketShutdown.Send); // half-close: the peer sees end of stream, and may still answer
                    return;
                }
                var sent = 0;
                while (sent < n) sent += await to.SendAsync(buffer.AsMemory(sent, n - sent), SocketFlags.None, abort.Token).ConfigureAwait(false);
                count(n);
            }
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or ObjectDisposedException)
        {
            // One direction failed: the connection is over for both.
            await abort.CancelAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Closes with RST rather than FIN: the client learns at once that there is no service.</summary>
    public static void Refuse(Socket socket)
    {
        try
        {
            socket.LingerState = new LingerOption(true, 0);
        }
        catch (SocketException)
        {
        }
        socket.Dispose();
    }

    /// <summary>Dials with a bound, optionally from a chosen local address (source address semantics).</summary>
    public static async Task<Socket?> DialAsync(IPEndPoint target, IPAddress? source, TimeSpan timeout, CancellationToken token)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            if (source is not null) socket.Bind(new IPEndPoint(source, 0));
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(token);
            cts.CancelAfter(timeout);
            await socket.ConnectAsync(target, cts.Token).ConfigureAwait(false);
            return socket;
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException)
        {
            socket.Dispose();
            return null;
        }
    }
}
