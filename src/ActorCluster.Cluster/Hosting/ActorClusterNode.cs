using System.Globalization;
using ActorCluster.Cluster.ApiServer;
using ActorCluster.Cluster.Node;
using ActorCluster.Cluster.Replica;
using ActorCluster.Core.Allocation;
using ActorCluster.Core.ControlPlane;
using Akka.Actor;
using Akka.Cluster.Tools.Singleton;
using Akka.Configuration;
using Akka.Persistence.Sql;
using Microsoft.Data.Sqlite;

namespace ActorCluster.Cluster.Hosting;

/// <summary>
/// One ActorCluster node in this process: the ActorSystem joined to the cluster, the ApiServer singleton
/// (with its proxy), the node's replica and its NodeAgent. Used by <c>actorcluster node</c> and by tests alike.
/// </summary>
public sealed class ActorClusterNode : IAsyncDisposable
{
    public const string SystemName = "actorcluster";

    private ActorClusterNode(ActorSystem system, NodeOptions options, IActorRef apiServer, IActorRef replica, IActorRef agent)
    {
        System = system;
        Options = options;
        ApiServer = apiServer;
        Replica = replica;
        Agent = agent;
    }

    public ActorSystem System { get; }

    public NodeOptions Options { get; }

    /// <summary>The ApiServer singleton, through this node's proxy.</summary>
    public IActorRef ApiServer { get; }

    public IActorRef Replica { get; }

    public IActorRef Agent { get; }

    /// <summary>This node's kube-proxy: listeners on ClusterIPs and NodePorts.</summary>
    public IActorRef ServiceProxy { get; private init; } = ActorRefs.Nobody;

    /// <summary>This node's Prometheus registry and the metrics recorded where they happen (served at /metrics).</summary>
    public NodeMetrics Metrics { get; private init; } = null!;

    public Akka.Actor.Address SelfAddress => Akka.Cluster.Cluster.Get(System).SelfAddress;

    /// <summary>Layers the HOCON files and the options into the node's configuration.</summary>
    public static Config BuildConfig(NodeOptions options)
    {
        // The shipped files are embedded (hocon/*.conf in the repository); a user's file is layered over them.
        static Config File(string name)
        {
            using var stream = typeof(ActorClusterNode).Assembly.GetManifestResourceStream("hocon/" + name)
                               ?? throw new InvalidOperationException($"hocon/{name} is not embedded in {typeof(ActorClusterNode).Assembly.GetName().Name}");
            using var reader = new StreamReader(stream);
            return ConfigurationFactory.ParseString(reader.ReadToEnd());
        }
        if (options.Mode is not ("local" or "swarm")) throw new ArgumentException($"unknown mode \"{options.Mode}\": use local or swarm");
        if (options.Persistence is not ("sqlite" or "postgres")) throw new ArgumentException($"unknown persistence \"{options.Persistence}\": use sqlite or postgres");

        var config = File("actorcluster.conf");
        config = File(options.Mode + ".conf").WithFallback(config);
        config = File($"persistence-{options.Persistence}.conf").WithFallback(config);
        if (options.ConfigFile is not null)
        {
            if (!global::System.IO.File.Exists(options.ConfigFile)) throw new ArgumentException($"configuration file not found: {options.ConfigFile}");
            config = ConfigurationFactory.ParseString(global::System.IO.File.ReadAllText(options.ConfigFile)).WithFallback(config);
        }

        var connection = options.Persistence == "sqlite"
            ? $"Data Source={Path.GetFullPath(Path.Combine(options.DataDir, "actorcluster.db"))}"
            : options.PostgresConnectionString ?? Environment.GetEnvironmentVariable("ACTORCLUSTER_POSTGRES")
              ?? config.GetString("akka.persistence.journal.sql.connection-string", "");
        if (string.IsNullOrEmpty(connection))
            throw new ArgumentException("PostgreSQL persistence needs a connection string: --postgres or ACTORCLUSTER_POSTGRES");

        var overrides = new HoconSettings()
            .Set("akka.remote.dot-netty.tcp.hostname", options.Address)
            .Set("akka.remote.dot-netty.tcp.port", options.Port)
            .Set("akka.persistence.journal.sql.connection-string", connection)
            .Set("akka.persistence.snapshot-store.sql.connection-string", connection);
        // One setting sizes the wire: a request body may be max-request-bytes, and the message carrying it to the
        // ApiServer (or an object back) must fit one remoting frame with room for the envelope.
        var merged = ConfigurationFactory.ParseString(options.ExtraHocon ?? "").WithFallback(config);
        var frame = merged.GetInt("actorcluster.apiserver.max-request-bytes") + 256 * 1024;
        overrides.SetBytes("akka.remote.dot-netty.tcp.maximum-frame-size", frame)
            .SetBytes("akka.remote.dot-netty.tcp.send-buffer-size", frame)
            .SetBytes("akka.remote.dot-netty.tcp.receive-buffer-size", frame);
        if (options.LoadBalancerPools.Count > 0) overrides.Set("actorcluster.load-balancer-pools", options.LoadBalancerPools);
        if (options.PodNetworkPrefix is not null) overrides.Set("actorcluster.pod-network-prefix", options.PodNetworkPrefix);
        var top = overrides.ToConfig();
        if (options.ExtraHocon is not null) top = ConfigurationFactory.ParseString(options.ExtraHocon).WithFallback(top);
        return top.WithFallback(config)
            .WithFallback(SqlPersistence.DefaultConfiguration)
            .WithFallback(ClusterSingleton.DefaultConfig());
    }

    /// <summary>The ApiServer's settings as the configuration gives them.</summary>
    public static ApiServerSettings ApiServerSettingsFrom(Config config)
    {
        var pools = config.GetStringList("actorcluster.load-balancer-pools");
        PortRange range;
        try
        {
            range = PortRange.Parse(config.GetString("actorcluster.node-port-range"));
        }
        catch (FormatException e)
        {
            throw new FormatException("actorcluster.node-port-range: " + e.Message, e);
        }
        var controlPlane = new ControlPlaneConfig(
            new ServiceNetworkConfig(config.GetString("actorcluster.service-cidr"), range),
            pools.Count == 0 ? [] : [new IPAddressPool("default", pools.ToList())],
            config.GetString("actorcluster.pod-network-prefix"));
        // Fail at start, in words, rather than in the singleton later.
        _ = new IPAllocator(controlPlane.ServiceNetwork.ServiceCidr);
        _ = new LoadBalancerPools(controlPlane.LoadBalancerPools);
        int Positive(string key)
        {
            var text = config.GetString(key);
            if (!int.TryParse(text, global::System.Globalization.NumberStyles.None, global::System.Globalization.CultureInfo.InvariantCulture, out var n) || n < 1)
                throw new FormatException($"{key} = \"{text}\" is not a positive number");
            return n;
        }
        var ttl = config.GetTimeSpan("actorcluster.apiserver.event-ttl", null, allowInfinite: false);
        if (ttl <= TimeSpan.Zero) throw new FormatException("actorcluster.apiserver.event-ttl must be positive");
        return new ApiServerSettings(controlPlane, Positive("actorcluster.apiserver.snapshot-every"), Positive("actorcluster.apiserver.watch-history"))
        {
            MaxObjectBytes = Positive("actorcluster.apiserver.max-object-bytes"),
            EventTtl = ttl,
            EventSweepInterval = TimeSpan.FromTicks(Math.Min(ttl.Ticks, TimeSpan.FromMinutes(1).Ticks)),
        };
    }

    /// <summary>Starts the node and joins (or starts) the cluster. Throws ArgumentException for bad options or configuration.</summary>
    public static ActorClusterNode Start(NodeOptions options)
    {
        if (string.IsNullOrWhiteSpace(options.Name)) throw new ArgumentException("a node name is required (--name)");
        var config = BuildConfig(options);
        ApiServerSettings settings;
        Proxy.ProxySettings proxySettings;
        try
        {
            settings = ApiServerSettingsFrom(config);
            proxySettings = Proxy.ProxySettings.From(config, options.Name, options.Address);
        }
        catch (Exception e) when (e is FormatException or ArgumentException or ConfigurationException)
        {
            throw new ArgumentException("bad configuration: " + e.Message, e);
        }
        if (options.Persistence == "sqlite") PrepareSqlite(options.DataDir);

        var system = ActorSystem.Create(SystemName, config);
        var cluster = Akka.Cluster.Cluster.Get(system);

        // HandOver, not PoisonPill: the ApiServer answers the writes it is journaling before it stops.
        system.ActorOf(ClusterSingletonManager.Props(ApiServerSupervisor.Props(settings), HandOver.Instance, ClusterSingletonManagerSettings.Create(system)), "apiserver");
        var proxy = system.ActorOf(ClusterSingletonProxy.Props("/user/apiserver", ClusterSingletonProxySettings.Create(system)), "apiserver-proxy");

        var metrics = new NodeMetrics(options.Name);
        var replica = system.ActorOf(NodeReplica.Props(options.Name, proxy, metrics.ReplicaApplyLatency), "replica");
        var agent = system.ActorOf(NodeAgent.Props(new NodeAgentSettings(options.Name, options.Address, cluster.SelfAddress.ToString()), proxy, replica), "node-agent");
        var serviceProxy = system.ActorOf(Proxy.ServiceProxyActor.Props(proxySettings, proxy, replica), "service-proxy");

        if (options.Seeds.Count == 0)
            cluster.Join(cluster.SelfAddress);
        else
            cluster.JoinSeedNodes(options.Seeds.Select(ParseSeed).ToList());
        return new ActorClusterNode(system, options, proxy, replica, agent) { ServiceProxy = serviceProxy, Metrics = metrics };
    }

    private static Akka.Actor.Address ParseSeed(string seed)
    {
        var colon = seed.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(seed[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var port))
            throw new ArgumentException($"bad seed \"{seed}\": expected host:port");
        return new Akka.Actor.Address("akka.tcp", SystemName, seed[..colon], port);
    }

    /// <summary>Creates the data directory and puts the database in WAL mode (a file property, set once).</summary>
    private static void PrepareSqlite(string dataDir)
    {
        Directory.CreateDirectory(dataDir);
        using var connection = new SqliteConnection($"Data Source={Path.Combine(dataDir, "actorcluster.db")}");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA journal_mode=WAL;";
        command.ExecuteNonQuery();
    }

    /// <summary>Leaves the cluster gracefully (hands the singleton over) and stops the system.</summary>
    public async Task StopAsync()
    {
        await CoordinatedShutdown.Get(System).Run(CoordinatedShutdown.ClrExitReason.Instance).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
    }
}
