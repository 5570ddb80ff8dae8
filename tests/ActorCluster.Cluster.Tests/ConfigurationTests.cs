using ActorCluster.Cluster.Hosting;
using ActorCluster.Cluster.Proxy;

namespace ActorCluster.Cluster.Tests;

/// <summary>
/// The node's configuration as it is layered: the embedded defaults, the mode and persistence files, a user file,
/// then what flags give. Values from flags stay values, whatever characters they hold.
/// </summary>
public sealed class ConfigurationTests
{
    [Fact]
    public void The_embedded_defaults_are_read_and_every_shipped_proxy_setting_parses()
    {
        var config = ActorClusterNode.BuildConfig(new NodeOptions { Name = "k8s-worker1", DataDir = Path.GetTempPath() });
        Assert.Equal("127.96.0.0/12", config.GetString("actorcluster.service-cidr"));
        Assert.Equal(TimeSpan.FromMilliseconds(100), ProxySettings.From(config, "k8s-worker1", "127.0.1.1").MinSyncPeriod);
        Assert.NotNull(ActorClusterNode.ApiServerSettingsFrom(config));
        // Keys nothing reads are not shipped.
        Assert.False(config.HasPath("actorcluster.node.name"));
    }

    [Fact]
    public void Paths_and_pools_from_flags_stay_values_whatever_they_hold()
    {
        var dataDir = Path.Combine(Path.GetTempPath(), "we\"ird\\dir ${akka.loglevel} #x");
        var config = ActorClusterNode.BuildConfig(new NodeOptions
        {
            Name = "k8s-worker1", DataDir = dataDir, LoadBalancerPools = ["10.0.0.0/30", "10.0.1.1-10.0.1.9"],
        });
        Assert.Equal($"Data Source={Path.GetFullPath(Path.Combine(dataDir, "actorcluster.db"))}", config.GetString("akka.persistence.journal.sql.connection-string"));
        Assert.Equal(["10.0.0.0/30", "10.0.1.1-10.0.1.9"], config.GetStringList("actorcluster.load-balancer-pools"));
    }
}
