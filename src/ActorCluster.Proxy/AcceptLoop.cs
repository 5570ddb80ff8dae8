using System.Net.Sockets;

namespace ActorCluster.Proxy;

/// <summary>The accept loop every listener here runs: accept until stopped, hand each connection to its own task.</summary>
public static class AcceptLoop
{
    public static async Task RunAsync(Socket listener, Func<Socket, Task> serve, CancellationToken stop)
    {
        while (!stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await listener.AcceptAsync(stop).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return; // stopped, or the socket was closed under us
            }
            // Started here, not queued: serving runs synchronously only up to its first await (a dial or a read).
            _ = serve(client);
        }
    }
}
