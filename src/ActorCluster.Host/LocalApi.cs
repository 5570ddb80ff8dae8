using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Nodes;

namespace ActorCluster.Host;

/// <summary>
/// A local cluster's API as its own commands (<c>up</c>, <c>status</c>) reach it: HTTPS with the data directory's CA
/// and the admin token, short timeouts, and "no answer" instead of an exception when a node is down. One instance
/// keeps its connections, so polling does not cost the nodes a TLS handshake per request.
/// </summary>
internal sealed class LocalApi : IDisposable
{
    private readonly HttpClient? _http;
    private readonly X509Certificate2? _ca;

    public LocalApi(string dataDir)
    {
        var tokenPath = Path.Combine(dataDir, "token");
        var caPath = Path.Combine(dataDir, "ca.crt");
        if (!File.Exists(tokenPath) || !File.Exists(caPath)) return;
        try
        {
            _ca = X509Certificate2.CreateFromPem(File.ReadAllText(caPath));
            var ca = _ca;
            var handler = new SocketsHttpHandler
            {
                ConnectTimeout = TimeSpan.FromSeconds(2),
                SslOptions =
                {
                    RemoteCertificateValidationCallback = (_, cert, _, errors) =>
                    {
                        if (cert is null) return false;
                        if (errors == SslPolicyErrors.None) return true;
                        using var chain = new X509Chain();
                        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                        chain.ChainPolicy.CustomTrustStore.Add(ca);
                        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                        using var presented = new X509Certificate2(cert);
                        return chain.Build(presented);
                    },
                },
            };
            _http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(2) };
            _http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", File.ReadAllText(tokenPath).Trim());
        }
        catch (Exception e) when (e is IOException or System.Security.Cryptography.CryptographicException)
        {
            _http = null;
        }
    }

    /// <summary>GETs <paramref name="path"/> from the node at <paramref name="address"/>; null when it does not answer.</summary>
    public async Task<string?> Get(string address, int port, string path)
    {
        if (_http is null) return null;
        try
        {
            return await _http.GetStringAsync($"https://{address}:{port}{path}");
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException or System.Security.Cryptography.CryptographicException)
        {
            return null;
        }
    }

    /// <summary>
    /// The nodes the API at <paramref name="address"/> knows (registered), each with whether it is Ready; null when it
    /// does not answer.
    /// </summary>
    public async Task<IReadOnlyDictionary<string, bool>?> Nodes(string address, int port)
    {
        var text = await Get(address, port, "/api/v1/nodes");
        if (text is null) return null;
        try
        {
            return JsonNode.Parse(text)?["items"]?.AsArray().ToDictionary(
                n => n!["metadata"]!["name"]!.GetValue<string>(),
                n => n?["status"]?["conditions"]?.AsArray().Any(c => c?["type"]?.GetValue<string>() == "Ready" && c?["status"]?.GetValue<string>() == "True") == true)
                ?? new Dictionary<string, bool>();
        }
        catch (Exception e) when (e is System.Text.Json.JsonException or InvalidOperationException or NullReferenceException)
        {
            return null;
        }
    }

    /// <summary>The names of the nodes the API at <paramref name="address"/> reports Ready (empty when it does not answer).</summary>
    public async Task<IReadOnlyList<string>> ReadyNodes(string address, int port) =>
        (await Nodes(address, port))?.Where(n => n.Value).Select(n => n.Key).ToList() ?? [];

    /// <summary>Whether the node at <paramref name="address"/> says (in /metrics) that it hosts the ApiServer; null when it does not answer.</summary>
    public async Task<bool?> HostsApiServer(string address, int port)
    {
        var metrics = await Get(address, port, "/metrics");
        if (metrics is null) return null;
        return metrics.Split('\n').Any(l => l.StartsWith("actorcluster_apiserver_host{", StringComparison.Ordinal) && l.EndsWith(" 1", StringComparison.Ordinal));
    }

    /// <summary>
    /// The Akka addresses of the cluster's members as the node at <paramref name="address"/> sees them (from its
    /// <c>/metrics</c>); null when it does not answer.
    /// </summary>
    public async Task<IReadOnlySet<string>?> Members(string address, int port)
    {
        var metrics = await Get(address, port, "/metrics");
        if (metrics is null) return null;
        const string Label = "member=\"";
        return metrics.Split('\n')
            .Where(l => l.StartsWith("actorcluster_cluster_members{", StringComparison.Ordinal) && l.Contains(Label, StringComparison.Ordinal))
            .Select(l => l[(l.IndexOf(Label, StringComparison.Ordinal) + Label.Length)..])
            .Select(v => v[..v.IndexOf('"', StringComparison.Ordinal)])
            .ToHashSet();
    }

    public void Dispose()
    {
        _http?.Dispose();
        _ca?.Dispose();
    }
}
