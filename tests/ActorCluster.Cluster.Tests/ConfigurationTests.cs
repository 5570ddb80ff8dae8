using ActorCluster.Cluster.Hosting;
using ActorCluster.Cluster.Proxy;

namespace ActorCluster.Cluster.Tests;

/// <summary>
/// The node's configuration as it is layered: the embedded defaults, the mode and persistence files, a user file,
/// then what flags give; and what the running node's ActorSystem ends up with once Akka.Hosting adds its parts.
/// Values from flags stay values, whatever characters they hold.
/// </summary>
public sealed class ConfigurationTests
{
    [Fact]
    public void The_embedded_defaults_are_read_and_every_shipped_proxy_setting_parses()
    {
        var node = NodeConfiguration.From(new NodeOptions { Name = "k8s-worker1", DataDir = Path.GetTempPath() });
        Assert.Equal("127.96.0.0/12", node.Config.GetString("actorcluster.service-cidr"));
        Assert.Equal(TimeSpan.FromMilliseconds(100), node.Proxy.MinSyncPeriod);
        Assert.Equal(DefaultPorts.Tunnel, node.Proxy.TunnelPort);
        Assert.Equal("SQLite.MS", node.ProviderName);
        // Keys nothing reads are not shipped.
        Assert.False(node.Config.HasPath("actorcluster.node.name"));
    }

    [Fact]
    public void A_users_file_changes_the_tunnel_port_the_node_uses()
    {
        var file = Path.Combine(Path.GetTempPath(), $"actorcluster-config-{Guid.NewGuid():N}.conf");
        File.WriteAllText(file, "actorcluster.proxy.tunnel-port = 4999");
        try
        {
            Assert.Equal(4999, NodeConfiguration.From(new NodeOptions { Name = "k8s-worker1", DataDir = Path.GetTempPath(), ConfigFile = file }).Proxy.TunnelPort);
        }
        finally
        {
            File.Delete(file);
        }
    }

    [Fact]
    public void Paths_and_pools_from_flags_stay_values_whatever_they_hold()
    {
        var dataDir = Path.Combine(Path.GetTempPath(), "we\"ird\\dir ${akka.loglevel} #x");
        var node = NodeConfiguration.From(new NodeOptions
        {
            Name = "k8s-worker1", DataDir = dataDir, LoadBalancerPools = ["10.0.0.0/30", "10.0.1.1-10.0.1.9"],
        });
        Assert.Equal($"Data Source={Path.GetFullPath(Path.Combine(dataDir, "actorcluster.db"))}", node.ConnectionString);
        Assert.Equal(["10.0.0.0/30", "10.0.1.1-10.0.1.9"], node.Config.GetStringList("actorcluster.load-balancer-pools"));
    }

    [Fact]
    public void A_bad_value_is_refused_in_words_before_anything_starts()
    {
        var e = Assert.Throws<ArgumentException>(() => NodeConfiguration.From(new NodeOptions
        {
            Name = "k8s-worker1", DataDir = Path.GetTempPath(), ExtraHocon = "actorcluster.apiserver.watch-history = many",
        }));
        Assert.Equal("bad configuration: actorcluster.apiserver.watch-history = \"many\" is not a positive number", e.Message);
    }

    [Fact]
    public async Task The_running_node_has_the_hosting_parts_and_the_shipped_tunings_together()
    {
        var dataDir = Path.Combine(Path.GetTempPath(), "actorcluster-tests", Guid.NewGuid().ToString("N"));
        await using var node = await ActorClusterNode.StartAsync(new NodeOptions
        {
            Name = "k8s-worker1", Address = "127.0.18.1", Port = 0, DataDir = dataDir, PodNetworkPrefix = "127.197", ExtraHocon = "akka.loglevel = ERROR",
        });
        try
        {
            var config = node.System.Settings.Config;
            // From the builders: the address, the frame that fits a largest request, the journal's connection.
            Assert.Equal("127.0.18.1", config.GetString("akka.remote.dot-netty.tcp.hostname"));
            Assert.Equal(3 * 1024 * 1024 + 256 * 1024, config.GetByteSize("akka.remote.dot-netty.tcp.maximum-frame-size"));
            Assert.Equal($"Data Source={Path.GetFullPath(Path.Combine(dataDir, "actorcluster.db"))}", config.GetString("akka.persistence.journal.sql.connection-string"));
            Assert.Equal("SQLite.MS", config.GetString("akka.persistence.journal.sql.provider-name"));
            Assert.Equal($"Data Source={Path.GetFullPath(Path.Combine(dataDir, "snapshots.db"))}", config.GetString("akka.persistence.snapshot-store.sql.connection-string"));
            // From the shipped files, kept under the builders' layers: SQLite's one writer, the resolver, the proxy's buffer.
            Assert.Equal(1, config.GetInt("akka.persistence.journal.sql.parallelism"));
            Assert.Equal("keep-majority", config.GetString("akka.cluster.split-brain-resolver.active-strategy"));
            Assert.Equal(10000, config.GetInt("akka.cluster.singleton-proxy.buffer-size"));
            // From the test's extra HOCON, above everything (the logger builder writes a level too).
            Assert.Equal("ERROR", config.GetString("akka.loglevel"));
            Assert.Equal(ActorClusterNode.SystemName, node.System.Name);
        }
        finally
        {
            await node.DisposeAsync();
            Directory.Delete(dataDir, recursive: true);
        }
    }
}
