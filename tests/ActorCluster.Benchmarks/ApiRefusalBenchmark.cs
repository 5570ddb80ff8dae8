using System.Diagnostics;
using System.Net.Http.Headers;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using ActorCluster.Api;
using ActorCluster.Cluster.Hosting;

namespace ActorCluster.Benchmarks;

/// <summary>
/// How fast the API says no (issue "A control plane you can trust"): hostile and malformed requests through the HTTPS
/// API of a node that does not host the ApiServer, each answered with its Status, timed against two ordinary requests
/// (a GET and a create) in the same run. A refusal should cost about what an ordinary request does, never seconds.
/// </summary>
internal static class ApiRefusalBenchmark
{
    private const string Services = "/api/v1/namespaces/default/services";

    private sealed record Case(string What, HttpMethod Method, string Path, Func<int, HttpContent?> Body);

    public static async Task RunAsync(int rounds)
    {
        var dataDir = Path.Combine(Path.GetTempPath(), "actorcluster-bench", Guid.NewGuid().ToString("N"));
        Console.WriteLine($"api-refusals benchmark: 3 nodes in one process, the API of k8s-worker2 (the ApiServer is on k8s-worker1), {rounds} rounds");
        Console.WriteLine($"machine: {Environment.ProcessorCount} cores, .NET {Environment.Version}");
        KubernetesApi api = null!;
        var cluster = await ControlPlaneBenchmark.StartCluster(3, dataDir, seedOf: null, starter: async options =>
        {
            if (options.Name != "k8s-worker2") return await ActorClusterNode.StartAsync(options);
            api = await KubernetesApi.StartAsync(options, new ApiOptions(options.Address, 0, dataDir));
            return api.Node;
        });
        try
        {
            using var client = Client(api, dataDir);
            var nested = "apiVersion: v1\nkind: Service\nmetadata:\n  name: deep\n  labels:\n    x:\n" + new string('[', 100_000);
            var flat = "{\"apiVersion\":\"v1\",\"kind\":\"Service\",\"metadata\":{\"name\":\"flat\",\"managedFields\":[{\"fieldsV1\":[" +
                       string.Join(",", Enumerable.Repeat("0", 1_000_000)) + "]}]}}";
            // "Billion laughs": nine levels of anchors, each ten aliases of the one before (10^9 leaves if expanded).
            var laughs = new StringBuilder("apiVersion: v1\nkind: Service\nmetadata:\n  name: laughs\n  managedFields:\n  - fieldsV1:\n      l0: &l0 [\"lol\"]\n");
            for (var l = 1; l <= 9; l++) laughs.Append($"      l{l}: &l{l} [{string.Join(",", Enumerable.Repeat($"*l{l - 1}", 10))}]\n");
            var hugeBody = Service("huge", $",\"annotations\":{{\"a\":\"{new string('x', 3 * 1024 * 1024 + 10)}\"}}");
            var bigObject = Service("big", $",\"labels\":{{{string.Join(",", Enumerable.Range(0, 42_000).Select(i => $"\"l{i}\":\"{new string('v', 40)}\""))}}}");
            var cases = new[]
            {
                new Case("reference: GET one Service", HttpMethod.Get, Services + "/reference", _ => null),
                new Case("reference: create a Service", HttpMethod.Post, Services, i => Json(Service($"ok-{i}"))),
                new Case("reference: create a Service with 250 KiB of annotations", HttpMethod.Post, Services, i => Json(Service($"large-{i}", $",\"annotations\":{{\"a\":\"{new string('x', 250 * 1024)}\"}}"))),
                new Case("YAML nested 100,000 levels", HttpMethod.Post, Services, _ => Yaml(nested)),
                new Case("JSON nested 100,000 levels", HttpMethod.Post, Services, _ => Json(new string('[', 100_000))),
                new Case("YAML alias bomb (10^9 leaves expanded)", HttpMethod.Post, Services, _ => Yaml(laughs.ToString())),
                new Case("JSON, 1,000,000 array elements (2 MiB)", HttpMethod.Post, Services, _ => Json(flat)),
                new Case("body over 3 MiB", HttpMethod.Post, Services, _ => Json(hugeBody)),
                new Case("object over 1.5 MiB (42,000 labels)", HttpMethod.Post, Services, _ => Json(bigObject)),
                new Case("YAML with two documents", HttpMethod.Post, Services, _ => Yaml("apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: Service\nmetadata:\n  name: b\n")),
                new Case("non-string kind", HttpMethod.Post, Services, _ => Json("""{"apiVersion":"v1","kind":7,"metadata":{"name":"x"}}""")),
                new Case("merge patch removing metadata", HttpMethod.Patch, Services + "/reference", _ => new StringContent("{\"metadata\":null}", Encoding.UTF8, "application/merge-patch+json")),
                new Case("query: limit=many", HttpMethod.Get, Services + "?limit=many", _ => null),
            };
            using (var created = await client.PostAsync(Services, Json(Service("reference"))))
            {
                if (!created.IsSuccessStatusCode) throw new InvalidOperationException($"reference Service: {(int)created.StatusCode}");
            }
            // One untimed round first: JIT and connection set-up are not what is measured.
            foreach (var c in cases) await Send(client, c, -1);
            Console.WriteLine($"| request | status | p50 ms | max ms |");
            Console.WriteLine($"|---|---|---|---|");
            foreach (var c in cases)
            {
                var times = new List<double>();
                var status = 0;
                for (var r = 0; r < rounds; r++)
                {
                    var (code, ms) = await Send(client, c, r);
                    status = code;
                    times.Add(ms);
                }
                times.Sort();
                Console.WriteLine($"| {c.What} | {status} | {times[times.Count / 2]:0.0} | {times[^1]:0.0} |");
            }
        }
        finally
        {
            await api.DisposeAsync();
            for (var i = cluster.Count - 1; i >= 0; i--) await cluster[i].DisposeAsync();
            Directory.Delete(dataDir, recursive: true);
        }
    }

    /// <summary>Sends one request (the body built outside the timing) and reads the whole answer.</summary>
    private static async Task<(int Status, double Ms)> Send(HttpClient client, Case c, int round)
    {
        using var request = new HttpRequestMessage(c.Method, c.Path) { Content = c.Body(round) };
        if (request.Content is not null) await request.Content.LoadIntoBufferAsync();
        var sw = Stopwatch.StartNew();
        using var response = await client.SendAsync(request);
        await response.Content.ReadAsByteArrayAsync();
        return ((int)response.StatusCode, sw.Elapsed.TotalMilliseconds);
    }

    private static HttpClient Client(KubernetesApi api, string dataDir)
    {
        var ca = X509Certificate2.CreateFromPem(File.ReadAllText(Path.Combine(dataDir, "ca.crt")));
        var handler = new SocketsHttpHandler
        {
            SslOptions =
            {
                RemoteCertificateValidationCallback = (_, cert, _, _) =>
                {
                    if (cert is null) return false;
                    using var chain = new X509Chain();
                    chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                    chain.ChainPolicy.CustomTrustStore.Add(ca);
                    chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                    return chain.Build(new X509Certificate2(cert));
                },
            },
        };
        var client = new HttpClient(handler) { BaseAddress = new Uri(api.Url), Timeout = TimeSpan.FromSeconds(60) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", api.Token);
        return client;
    }

    private static string Service(string name, string metadataExtra = "") =>
        $$$"""{"apiVersion":"v1","kind":"Service","metadata":{"name":"{{{name}}}"{{{metadataExtra}}}},"spec":{"ports":[{"port":80}]}}""";

    private static StringContent Json(string body) => new(body, Encoding.UTF8, "application/json");

    private static StringContent Yaml(string body) => new(body, Encoding.UTF8, "application/yaml");
}
