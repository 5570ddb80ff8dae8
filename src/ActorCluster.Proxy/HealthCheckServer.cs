using System.Net;
using System.Net.Sockets;
using System.Text;
using ActorCluster.Core.Routing;

namespace ActorCluster.Proxy;

/// <summary>
/// kube-proxy's healthCheckNodePort server for a LoadBalancer Service with externalTrafficPolicy Local: every request
/// gets 200 when this node has a local endpoint, 503 when not, with kube-proxy's JSON body and headers, so an
/// external load balancer sends traffic only to nodes that can serve it locally.
/// </summary>
public sealed class HealthCheckServer : IAsyncDisposable
{
    private readonly Socket _socket;
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _loop;
    private RoutingTable _table;

    private HealthCheckServer(Socket socket, RoutingTable table)
    {
        _socket = socket;
        _table = table;
        _loop = Task.Run(() => AcceptLoop.RunAsync(_socket, Serve, _stop.Token));
    }

    public IPEndPoint EndPoint => (IPEndPoint)_socket.LocalEndPoint!;

    public static HealthCheckServer Start(IPEndPoint endPoint, RoutingTable table)
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            socket.Bind(endPoint);
            socket.Listen(128);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        return new HealthCheckServer(socket, table);
    }

    public void Update(RoutingTable table) => Volatile.Write(ref _table, table);

    /// <summary>The response kube-proxy gives (pkg/proxy/healthcheck/service_health.go), with the local endpoint count.</summary>
    public static (int Status, string Body) Response(RoutingTable table)
    {
        var count = table.LocalEndpointCount;
        var body = "{\n\t\"service\": {\n\t\t\"namespace\": \"" + table.Namespace + "\",\n\t\t\"name\": \"" + table.ServiceName +
                   "\"\n\t},\n\t\"localEndpoints\": " + count + ",\n\t\"serviceProxyHealthy\": true\n}\n";
        return (count > 0 ? 200 : 503, body);
    }

    private async Task Serve(Socket client)
    {
        using (client)
        {
            try
            {
                var buffer = new byte[4096];
                using var cts = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
                cts.CancelAfter(TimeSpan.FromSeconds(5));
                await client.ReceiveAsync(buffer, SocketFlags.None, cts.Token).ConfigureAwait(false);
                var table = Volatile.Read(ref _table);
                var (status, body) = Response(table);
                var head = $"HTTP/1.1 {status} {(status == 200 ? "OK" : "Service Unavailable")}\r\nContent-Type: application/json\r\n" +
                           $"X-Content-Type-Options: nosniff\r\nX-Load-Balancing-Endpoint-Weight: {table.LocalEndpointCount}\r\n" +
                           $"Content-Length: {Encoding.UTF8.GetByteCount(body)}\r\nConnection: close\r\n\r\n";
                await client.SendAsync(Encoding.UTF8.GetBytes(head + body), SocketFlags.None, cts.Token).ConfigureAwait(false);
                client.Shutdown(SocketShutdown.Both);
            }
            catch (Exception e) when (e is SocketException or OperationCanceledException)
            {
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync().ConfigureAwait(false);
        _socket.Dispose();
        await _loop.ConfigureAwait(false);
        _stop.Dispose();
    }
}
