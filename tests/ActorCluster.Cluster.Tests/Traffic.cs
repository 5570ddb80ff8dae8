using System.Net;
using System.Net.Sockets;
using System.Text;

namespace ActorCluster.Cluster.Tests;

/// <summary>Real clients for the data-plane tests: one HTTP request per connection, refusals, UDP exchanges.</summary>
internal static class Traffic
{
    /// <summary>Whether a server certificate chains to the cluster CA alone (what kubectl checks with the kubeconfig's CA).</summary>
    public static bool SignedBy(System.Security.Cryptography.X509Certificates.X509Certificate2 ca, System.Security.Cryptography.X509Certificates.X509Certificate? cert)
    {
        if (cert is null) return false;
        using var chain = new System.Security.Cryptography.X509Certificates.X509Chain();
        chain.ChainPolicy.TrustMode = System.Security.Cryptography.X509Certificates.X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(ca);
        chain.ChainPolicy.RevocationMode = System.Security.Cryptography.X509Certificates.X509RevocationMode.NoCheck;
        return chain.Build(cert as System.Security.Cryptography.X509Certificates.X509Certificate2 ?? new System.Security.Cryptography.X509Certificates.X509Certificate2(cert));
    }

    /// <summary>One HTTP/1.0 request over a fresh connection (so every request is routed anew); null when refused or reset.</summary>
    public static async Task<string?> Get(string host, int port, string path, string? fromAddress = null)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (fromAddress is not null) socket.Bind(new IPEndPoint(IPAddress.Parse(fromAddress), 0));
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            await socket.ConnectAsync(host, port, cts.Token);
            await socket.SendAsync(Encoding.ASCII.GetBytes($"GET {path} HTTP/1.0\r\n\r\n"), SocketFlags.None, cts.Token);
            using var stream = new NetworkStream(socket);
            var response = await new StreamReader(stream).ReadToEndAsync(cts.Token);
            var body = response.IndexOf("\r\n\r\n", StringComparison.Ordinal);
            return body < 0 ? null : response[(body + 4)..].Trim();
        }
        catch (Exception e) when (e is SocketException or IOException)
        {
            return null;
        }
    }

    /// <summary>How a connection that gets no answer ends: reset or refused (at once) rather than timed out (a hang).</summary>
    public static async Task<SocketError?> Refusal(string host, int port, string? fromAddress = null)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        if (fromAddress is not null) socket.Bind(new IPEndPoint(IPAddress.Parse(fromAddress), 0));
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
        try
        {
            await socket.ConnectAsync(host, port, cts.Token);
            // Nothing is sent: a served connection would wait here; a refused one is reset by the proxy at once.
            var buffer = new byte[4096];
            while (await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token) > 0)
            {
            }
            return null; // closed normally
        }
        catch (SocketException e)
        {
            return e.SocketErrorCode;
        }
        catch (OperationCanceledException)
        {
            return SocketError.TimedOut;
        }
    }

    /// <summary>The pod names answering <c>/hostname</c> over <paramref name="tries"/> fresh connections.</summary>
    public static async Task<HashSet<string>> Responders(string host, int port, int tries = 40, string? fromAddress = null)
    {
        var seen = new HashSet<string>();
        for (var i = 0; i < tries; i++)
        {
            if (await Get(host, port, "/hostname", fromAddress) is { } name) seen.Add(name);
        }
        return seen;
    }

    /// <summary>A UDP client socket (one flow) bound to a loopback source and connected to the service address.</summary>
    public static Socket UdpClient(string host, int port, string from = "127.0.0.1")
    {
        var socket = new Socket(AddressFamily.InterNetwork, SocketType.Dgram, ProtocolType.Udp);
        socket.Bind(new IPEndPoint(IPAddress.Parse(from), 0));
        socket.Connect(IPAddress.Parse(host), port);
        return socket;
    }

    /// <summary>
    /// Sends one datagram and waits up to a second for the answer: the text, null when none came, or the socket
    /// error (ConnectionRefused: the kernel's ICMP port-unreachable).
    /// </summary>
    public static async Task<(string? Reply, SocketError? Error)> Exchange(Socket socket, string request)
    {
        var buffer = new byte[2048];
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(1));
        try
        {
            await socket.SendAsync(Encoding.ASCII.GetBytes(request), SocketFlags.None, cts.Token);
            var n = await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token);
            return (Encoding.UTF8.GetString(buffer, 0, n), null);
        }
        catch (SocketException e)
        {
            return (null, e.SocketErrorCode);
        }
        catch (OperationCanceledException)
        {
            return (null, null);
        }
    }
}
