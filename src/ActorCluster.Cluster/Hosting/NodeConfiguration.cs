using ActorCluster.Cluster.ApiServer;
using ActorCluster.Core.Allocation;
using ActorCluster.Core.ControlPlane;
using Akka.Configuration;

namespace ActorCluster.Cluster.Hosting;

/// <summary>
/// Everything a node starts from, read and checked before anything starts: the HOCON layers (the embedded
/// defaults, the mode and persistence files, a user's file, what options give), the journal's connection, the
/// remoting frame, and the ApiServer's and proxy's settings. A mistake is an <see cref="ArgumentException"/> in words.
/// </summary>
public sealed record NodeConfiguration(
    Config Config,
    string ConnectionString,
    string ProviderName,
    long FrameBytes,
    ApiServerSettings ApiServer,
    Proxy.ProxySettings Proxy)
{
    /// <summary>The shipped defaults alone (hocon/actorcluster.conf, embedded in the assembly).</summary>
    public static Config Defaults { get; } = Embedded("actorcluster.conf");

    public static NodeConfiguration From(NodeOptions options)
    {
        if (string.IsNullOrWhiteSpace(options.Name)) throw new ArgumentException("a node name is required (--name)");
        var config = Layers(options);
        var connection = options.Persistence == "sqlite"
            ? SqliteStorage.ConnectionString(options.DataDir, SqliteStorage.JournalFile)
            : options.PostgresConnectionString ?? Environment.GetEnvironmentVariable("ACTORCLUSTER_POSTGRES")
              ?? config.GetString("akka.persistence.journal.sql.connection-string", "");
        if (string.IsNullOrEmpty(connection))
            throw new ArgumentException("PostgreSQL persistence needs a connection string: --postgres or ACTORCLUSTER_POSTGRES");
        try
        {
            // One setting sizes the wire: a request body may be max-request-bytes, and the message carrying it to
            // the ApiServer (or an object back) must fit one remoting frame with room for the envelope.
            var frame = config.GetInt("actorcluster.apiserver.max-request-bytes") + 256L * 1024;
            var proxy = Cluster.Proxy.ProxySettings.From(config, options.Name, options.Address);
            // Asked for by name, the kernel path must be possible: refused here, in one line, rather than a node without a proxy.
            if (proxy.Mode == Cluster.Proxy.ProxyMode.Nftables && ActorCluster.Proxy.Linux.NftablesProxier.Probe() is { } why)
                throw new ArgumentException($"actorcluster.proxy.mode = nftables, but this process cannot program nftables ({why}): run it as root with Debian's nftables package, or use auto or userspace");
            return new NodeConfiguration(config, connection, config.GetString("akka.persistence.journal.sql.provider-name"), frame,
                ApiServerSettingsFrom(config), proxy);
        }
        catch (Exception e) when (e is FormatException or ConfigurationException)
        {
            throw new ArgumentException("bad configuration: " + e.Message, e);
        }
    }

    /// <summary>The HOCON layers, top first: extra HOCON (tests), what options give, a user's file, persistence, mode, defaults.</summary>
    public static Config Layers(NodeOptions options)
    {
        if (options.Mode is not ("local" or "swarm")) throw new ArgumentException($"unknown mode \"{options.Mode}\": use local or swarm");
        if (options.Persistence is not ("sqlite" or "postgres")) throw new ArgumentException($"unknown persistence \"{options.Persistence}\": use sqlite or postgres");
        var config = Embedded($"persistence-{options.Persistence}.conf").WithFallback(Embedded(options.Mode + ".conf")).WithFallback(Defaults);
        if (options.ConfigFile is not null)
        {
            if (!File.Exists(options.ConfigFile)) throw new ArgumentException($"configuration file not found: {options.ConfigFile}");
            config = ConfigurationFactory.ParseString(File.ReadAllText(options.ConfigFile)).WithFallback(config);
        }
        var fromOptions = new HoconSettings();
        if (options.LoadBalancerPools.Count > 0) fromOptions.Set("actorcluster.load-balancer-pools", options.LoadBalancerPools);
        if (options.PodNetworkPrefix is not null) fromOptions.Set("actorcluster.pod-network-prefix", options.PodNetworkPrefix);
        if (options.ProxyMode is not null) fromOptions.Set("actorcluster.proxy.mode", options.ProxyMode);
        config = fromOptions.ToConfig().WithFallback(config);
        return options.ExtraHocon is null ? config : ConfigurationFactory.ParseString(options.ExtraHocon).WithFallback(config);
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
        var tolerationText = config.GetString("actorcluster.apiserver.default-toleration-seconds");
        if (!long.TryParse(tolerationText, global::System.Globalization.NumberStyles.None, global::System.Globalization.CultureInfo.InvariantCulture, out var toleration))
            throw new FormatException($"actorcluster.apiserver.default-toleration-seconds = \"{tolerationText}\" is not a number of seconds (0 or more)");
        var controlPlane = new ControlPlaneConfig(
            new ServiceNetworkConfig(config.GetString("actorcluster.service-cidr"), range),
            pools.Count == 0 ? [] : [new IPAddressPool("default", pools.ToList())],
            config.GetString("actorcluster.pod-network-prefix"),
            toleration);
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
        var resync = config.GetTimeSpan("actorcluster.apiserver.resync-interval", null, allowInfinite: false);
        if (resync <= TimeSpan.Zero) throw new FormatException("actorcluster.apiserver.resync-interval must be positive");
        return new ApiServerSettings(controlPlane, Positive("actorcluster.apiserver.snapshot-every"), Positive("actorcluster.apiserver.watch-history"))
        {
            MaxObjectBytes = Positive("actorcluster.apiserver.max-object-bytes"),
            EventTtl = ttl,
            EventSweepInterval = TimeSpan.FromTicks(Math.Min(ttl.Ticks, TimeSpan.FromMinutes(1).Ticks)),
            ResyncInterval = resync,
        };
    }

    private static Config Embedded(string name)
    {
        var assembly = typeof(NodeConfiguration).Assembly;
        using var stream = assembly.GetManifestResourceStream("hocon/" + name)
                           ?? throw new InvalidOperationException($"hocon/{name} is not embedded in {assembly.GetName().Name}");
        using var reader = new StreamReader(stream);
        return ConfigurationFactory.ParseString(reader.ReadToEnd());
    }
}
