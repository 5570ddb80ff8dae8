using System.Net;
using ActorCluster.Cluster.Hosting;

namespace ActorCluster.Api.Tests;

/// <summary>
/// /livez and /readyz as kube-apiserver answers them: a node is live while it serves, and ready only when its replica
/// follows the ApiServer and the ApiServer is reachable; both without a token, in kube-apiserver's format.
/// </summary>
public sealed class HealthTests(ThreeApis c) : IClassFixture<ThreeApis>
{
    private static async Task<(HttpStatusCode Code, string Body)> Get(HttpClient client, string path)
    {
        using var response = await client.GetAsync(path);
        return (response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    [Fact]
    public async Task A_node_of_a_formed_cluster_is_live_and_ready_and_says_which_checks_passed()
    {
        using var client = c.Client(1);
        client.DefaultRequestHeaders.Authorization = null; // health needs no token
        Assert.Equal((HttpStatusCode.OK, "ok"), await Get(client, "/livez"));
        Assert.Equal((HttpStatusCode.OK, "ok"), await Get(client, "/readyz"));
        Assert.Equal((HttpStatusCode.OK, "[+]ping ok\n[+]apiserver-reachable ok\n[+]replica-synced ok\nreadyz check passed\n"), await Get(client, "/readyz?verbose"));
        Assert.Equal((HttpStatusCode.OK, "ok"), await Get(client, "/readyz/replica-synced"));
        Assert.Equal((HttpStatusCode.OK, "[+]ping ok\n[+]replica-synced ok\n[+]apiserver-reachable excluded: ok\nreadyz check passed\n"),
            await Get(client, "/readyz?verbose&exclude=apiserver-reachable"));
        Assert.Equal(HttpStatusCode.NotFound, (await Get(client, "/readyz/etcd")).Code);
    }

    [Fact]
    public async Task A_node_that_never_joined_a_cluster_is_live_but_not_ready()
    {
        var dataDir = Path.Combine(Path.GetTempPath(), "actorcluster-health", Guid.NewGuid().ToString("N"));
        // Its seed is a port nobody listens on: no cluster, no ApiServer, no replica stream.
        var api = await KubernetesApi.StartAsync(new NodeOptions
        {
            Name = "k8s-lonely", Address = "127.0.19.1", Port = 0, Seeds = ["127.0.19.2:9"], DataDir = dataDir, PodNetworkPrefix = "127.198",
            ExtraHocon = "akka.loglevel = ERROR",
        }, new ApiOptions("127.0.19.1", 0, dataDir));
        try
        {
            using var client = ThreeApis.TrustedClient(api, dataDir);
            Assert.Equal((HttpStatusCode.OK, "ok"), await Get(client, "/livez"));
            Assert.Equal((HttpStatusCode.InternalServerError,
                "[+]ping ok\n[-]apiserver-reachable failed: reason withheld\n[-]replica-synced failed: reason withheld\nreadyz check failed\n"),
                await Get(client, "/readyz"));
        }
        finally
        {
            await api.DisposeAsync();
            Directory.Delete(dataDir, recursive: true);
        }
    }
}
