using ActorCluster.Cluster.ApiServer;
using ActorCluster.Cluster.Node;
using ActorCluster.Cluster.Proxy;
using ActorCluster.Cluster.Replica;
using ActorCluster.Cluster.Security;
using Akka.Actor;
using Akka.Cluster.Hosting;
using Akka.Cluster.Tools.Singleton;
using Akka.Configuration;
using Akka.Hosting;
using Akka.Persistence.Sql.Hosting;
using Akka.Remote.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace ActorCluster.Cluster.Hosting;

/// <summary>
/// One ActorCluster node as services of a .NET host (Akka.Hosting): the ActorSystem with remoting, clustering and
/// SQL persistence, the ApiServer singleton and this node's proxy to it, the replica, the NodeAgent and the service
/// proxy, each registered in the <see cref="ActorRegistry"/> under its actor type. The host may carry more (the
/// Kubernetes API's Kestrel does), and its <c>ILoggerFactory</c> receives Akka's log lines too.
/// </summary>
public static class NodeHosting
{
    public const string SystemName = "actorcluster";

    /// <summary>Adds the node. Throws <see cref="ArgumentException"/> at once for bad options or configuration.</summary>
    public static IServiceCollection AddActorClusterNode(this IServiceCollection services, NodeOptions options)
    {
        var node = NodeConfiguration.From(options);
        var seeds = options.Seeds.Select(SeedAddress).ToArray();
        var metrics = new NodeMetrics(options.Name);
        // Remoting speaks only mutual TLS, with a certificate for this node from the cluster CA.
        using var ca = ClusterCa.Load(options.DataDir, options.CaCertificateFile, options.CaKeyFile);
        var trusted = ClusterCa.PublicPart(ca);
        var certificate = ClusterCa.IssueNodeCertificate(ca, options.Name, options.Address);
        var tls = RemotingTls.Setup(trusted, certificate, (_, _) => metrics.RemotingPeersRefused.Inc());
        // The node tunnel proves nodes with the same certificates.
        var proxy = node.Proxy with
        {
            TunnelCredentials = new ActorCluster.Proxy.TunnelCredentials(certificate),
            TunnelPeer = peer => RemotingTls.NodeAddress(trusted, peer),
        };
        services.AddSingleton(options);
        services.AddSingleton(node);
        // The proxy's settings with this node's tunnel credentials: the API dials pods on other hosts with them.
        services.AddSingleton(proxy);
        services.AddSingleton(metrics);
        // Akka filters its own lines by akka.loglevel; with DEBUG, the host's minimum (Information) must not hide them.
        if (Akka.Event.Logging.LogLevelFor(node.Config.GetString("akka.loglevel", "INFO")) == Akka.Event.LogLevel.DebugLevel)
            services.AddLogging(log => log.AddFilter("Akka", LogLevel.Debug).AddFilter("DotNetty", LogLevel.Debug).AddFilter("ActorCluster.Cluster", LogLevel.Debug));
        services.AddAkka(SystemName, (akka, sp) =>
        {
            if (options.Persistence == "sqlite") SqliteStorage.Prepare(options.DataDir);
            // The layered HOCON is the base; what the builders below write (remoting address, seeds, journal
            // connection) goes above it, and a test's extra HOCON above everything.
            akka.AddHocon(node.Config, HoconAddMode.Append)
                .AddHocon(RemotingTls.Hocon, HoconAddMode.Prepend)
                .AddSetup(tls)
                .ConfigureLoggers(loggers =>
                {
                    loggers.LogLevel = Akka.Event.Logging.LogLevelFor(node.Config.GetString("akka.loglevel", "INFO"));
                    loggers.ClearLoggers();
                    loggers.AddLogger<NodeLogger>();
                })
                .WithRemoting(new RemoteOptions
                {
                    HostName = options.Address,
                    Port = options.Port,
                    MaxFrameSize = node.FrameBytes,
                    SendBufferSize = node.FrameBytes,
                    ReceiveBufferSize = node.FrameBytes,
                })
                .WithClustering(new ClusterOptions { SeedNodes = seeds })
                .WithPersistence(options, node)
                // HandOver, not PoisonPill: the ApiServer answers the writes it is journaling before it stops.
                .WithSingleton<ApiServerActor>("apiserver", ApiServerSupervisor.Props(node.ApiServer),
                    new ClusterSingletonOptions { TerminationMessage = HandOver.Instance }, createProxyToo: true)
                .WithActors((system, registry) =>
                {
                    var apiServer = registry.Get<ApiServerActor>();
                    var cluster = Akka.Cluster.Cluster.Get(system);
                    var replica = system.ActorOf(NodeReplica.Props(options.Name, apiServer, metrics.ReplicaApplyLatency), "replica");
                    registry.Register<NodeReplica>(replica);
                    registry.Register<NodeAgent>(system.ActorOf(NodeAgent.Props(
                        new NodeAgentSettings(options.Name, options.Address, cluster.SelfAddress.ToString()), apiServer, replica), "node-agent"));
                    registry.Register<ServiceProxyActor>(system.ActorOf(ServiceProxyActor.Props(proxy, apiServer, replica), "service-proxy"));
                    // Without seeds this node starts the cluster (its port may have been picked by the OS just now).
                    if (options.Seeds.Count == 0) cluster.Join(cluster.SelfAddress);
                });
            if (options.ExtraHocon is not null) akka.AddHocon(ConfigurationFactory.ParseString(options.ExtraHocon), HoconAddMode.Prepend);
        });
        return services;
    }

    private static string SeedAddress(string seed)
    {
        var colon = seed.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(seed[(colon + 1)..], global::System.Globalization.NumberStyles.None, global::System.Globalization.CultureInfo.InvariantCulture, out var port))
            throw new ArgumentException($"bad seed \"{seed}\": expected host:port");
        return new Address(RemotingTls.Protocol, SystemName, seed[..colon], port).ToString();
    }

    /// <summary>The journal and snapshot store: SQLite on two files of the data directory (see <see cref="SqliteStorage"/>), or PostgreSQL.</summary>
    private static AkkaConfigurationBuilder WithPersistence(this AkkaConfigurationBuilder akka, NodeOptions options, NodeConfiguration node)
    {
        if (options.Persistence != "sqlite") return akka.WithSqlPersistence(node.ConnectionString, node.ProviderName);
        var (journal, snapshots) = SqliteStorage.Options(options.DataDir, node.ProviderName);
        return akka.WithSqlPersistence(journal, snapshots);
    }
}
