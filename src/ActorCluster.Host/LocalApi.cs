using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Nodes;

namespace ActorCluster.Host;

/// <summary>
/// A local cluster's API as its own commands (<c>up</c>, <c>status</c>) reach it: HTTPS with the data directory's CA
/// and the admin token, short timeouts, and "no answer" instead of an exception when a node is down.
/// </summary>
internal static class LocalApi
{
    /// <summary>GETs <paramref name="path"/> from the node at <paramref name="address"/>; null when it does not answer.</summary>
    public static async Task<string?> Get(string dataDir, string address, int port, string path)
    {
        var tokenPath = Path.Combine(dataDir, "token");
        var caPath = Path.Combine(dataDir, "ca.crt");
        if (!File.Exists(tokenPath) || !File.Exists(caPath)) return null;
        try
        {
            using var ca = X509Certificate2.CreateFromPem(await File.ReadAllTextAsync(caPath));
            using var handler = new HttpClientHandler
            {
                ServerCertificateCustomValidationCallback = (_, cert, _, errors) =>
                {
                    if (cert is null) return false;
                    if (errors == SslPolicyErrors.None) return true;
                    using var chain = new X509Chain();
                    chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                    chain.ChainPolicy.CustomTrustStore.Add(ca);
                    chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                    return chain.Build(cert);
                },
            };
            using var http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(2) };
            http.DefaultRequestHeaders.Authorization = new System.Net.Http.Headers.AuthenticationHeaderValue("Bearer", (await File.ReadAllTextAsync(tokenPath)).Trim());
            return await http.GetStringAsync($"https://{address}:{port}{path}");
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException or System.Security.Cryptography.CryptographicException)
        {
            return null;
        }
    }

    /// <summary>The names of the nodes the API at <paramref name="address"/> reports Ready (empty when it does not answer).</summary>
    public static async Task<IReadOnlyList<string>> ReadyNodes(string dataDir, string address, int port)
    {
        var text = await Get(dataDir, address, port, "/api/v1/nodes");
        if (text is null) return [];
        try
        {
            return JsonNode.Parse(text)?["items"]?.AsArray()
                .Where(n => n?["status"]?["conditions"]?.AsArray().Any(c => c?["type"]?.GetValue<string>() == "Ready" && c?["status"]?.GetValue<string>() == "True") == true)
                .Select(n => n!["metadata"]!["name"]!.GetValue<string>()).ToList() ?? [];
        }
        catch (System.Text.Json.JsonException)
        {
            return [];
        }
    }

    /// <summary>Whether the node at <paramref name="address"/> says (in /metrics) that it hosts the ApiServer; null when it does not answer.</summary>
    public static async Task<bool?> HostsApiServer(string dataDir, string address, int port)
    {
        var metrics = await Get(dataDir, address, port, "/metrics");
        if (metrics is null) return null;
        return metrics.Split('\n').Any(l => l.StartsWith("actorcluster_apiserver_host{", StringComparison.Ordinal) && l.EndsWith(" 1", StringComparison.Ordinal));
    }
}
