using System.Net.Sockets;

namespace ActorCluster.Proxy;

/// <summary>
/// The accept loop of the .NET-socket servers (node tunnel, health checks, pods' workloads): accept until stopped,
/// hand each connection to its own task. Service listeners do not use it: the relay loops accept for them.
/// </summary>
public static class AcceptLoop
{
    /// <summary>
    /// Runs one accept loop per core on the listening socket: a connection's first steps (route, dial, first
    /// copy) run in the accepting loop until they wait, so with one loop new connections would queue behind them.
    /// </summary>
    public static Task RunAsync(Socket listener, Func<Socket, Task> serve, CancellationToken stop) =>
        Task.WhenAll(Enumerable.Range(0, Math.Max(1, Environment.ProcessorCount)).Select(_ => Task.Run(() => Loop(listener, serve, stop), CancellationToken.None)));

    private static async Task Loop(Socket listener, Func<Socket, Task> serve, CancellationToken stop)
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
