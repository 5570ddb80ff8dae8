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
    // 32 KB per direction, rented: a new connection allocates no buffers (a busy proxy opens thousands a second).
    private const int BufferSize = 32 * 1024;

    /// <summary>Relays until both directions end; bytes are added to <paramref name="stats"/> as they pass.</summary>
    public static async Task RunAsync(Socket client, Socket upstream, ListenerStats stats, CancellationToken token)
    {
        // The reads and writes take no token (a registration per operation costs more than the copy): stopping,
        // or a failure in one direction, closes both sockets, which ends whatever the other direction awaits.
        void Abort()
        {
            client.Dispose();
            upstream.Dispose();
        }
        await using var stop = token.Register(Abort);
        var up = Pump(client, upstream, Abort, stats, inbound: true);
        var down = Pump(upstream, client, Abort, stats, inbound: false);
        await Task.WhenAll(up, down).ConfigureAwait(false);
    }

    private static async Task Pump(Socket from, Socket to, Action abort, ListenerStats stats, bool inbound)
    {
        var buffer = System.Buffers.ArrayPool<byte>.Shared.Rent(BufferSize);
        try
        {
            while (true)
            {
                var n = await from.ReceiveAsync(buffer, SocketFlags.None).ConfigureAwait(false);
                if (n == 0)
                {
                    to.Shutdown(SocketShutdown.Send); // half-close: the peer sees end of stream, and may still answer
                    return;
                }
                var sent = 0;
                while (sent < n) sent += await to.SendAsync(buffer.AsMemory(sent, n - sent), SocketFlags.None).ConfigureAwait(false);
                Interlocked.Add(ref inbound ? ref stats.BytesIn : ref stats.BytesOut, n);
            }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            // One direction failed: the connection is over for both.
            abort();
        }
        finally
        {
            System.Buffers.ArrayPool<byte>.Shared.Return(buffer);
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
            if (source is not null)
            {
                // IP_BIND_ADDRESS_NO_PORT: pick the port at connect time, per destination, so a busy proxy dialing
                // from one source address is not limited to one ephemeral range (TIME_WAIT included) for all pods.
                if (OperatingSystem.IsLinux()) socket.SetRawSocketOption(0 /* IPPROTO_IP */, 24 /* IP_BIND_ADDRESS_NO_PORT */, BitConverter.GetBytes(1));
                socket.Bind(new IPEndPoint(source, 0));
            }
            var connect = socket.ConnectAsync(target, CancellationToken.None);
            // A connect that finished at once (a local pod usually does) needs no timer; only a pending one is bounded.
            if (!connect.IsCompleted) await connect.AsTask().WaitAsync(timeout, token).ConfigureAwait(false);
            else await connect.ConfigureAwait(false);
            return socket;
        }
        catch (Exception e) when (e is SocketException or OperationCanceledException or TimeoutException)
        {
            socket.Dispose();
            return null;
        }
    }
}
