using System.Globalization;
using ActorCluster.Cluster.Hosting;

namespace ActorCluster.Host;

/// <summary>
/// The values of <c>actorcluster node</c>'s flags (the syntax is System.CommandLine's, in <see cref="Cli"/>); each flag
/// has an ACTORCLUSTER_* environment variable (what containers use). Flags win over the environment; a malformed
/// value is an error naming the flag.
/// </summary>
public static class CommandLine
{
    /// <summary>The flags of <c>node</c>: name (without dashes) and what <c>--help</c> says of it.</summary>
    public static readonly IReadOnlyList<(string Name, string Description)> NodeFlags =
    [
        ("name", "Kubernetes node name, e.g. k8s-worker1 (required)"),
        ("address", "IP (or a CIDR holding one address of this host) to bind remoting, the API and NodePorts; default 127.0.1.1"),
        ("port", $"remoting port; default {DefaultPorts.Remoting}"),
        ("api-port", $"Kubernetes API port on the address; default {DefaultPorts.Api}"),
        ("seeds", "seed nodes as host:port[,host:port]; none: this node starts a new cluster"),
        ("data-dir", "data directory (database, token, CA, kubeconfig); default ./.actorcluster"),
        ("config", "a HOCON file layered over the shipped defaults"),
        ("mode", "timing profile: local (default) or swarm"),
        ("persistence", "sqlite (default, embedded) or postgres"),
        ("proxy-mode", "Service data path: userspace (default, the relay), nftables (the kernel; needs root) or auto"),
        ("postgres", "PostgreSQL connection string"),
        ("postgres-file", "read the PostgreSQL connection string from a file, e.g. a Docker secret"),
        ("token-file", "the API bearer token from a file, e.g. a Docker secret; default: generated once in <data-dir>/token"),
        ("ca-cert", "the cluster CA certificate (PEM), e.g. a Docker secret shared by every node; default <data-dir>/ca.crt, created once"),
        ("ca-key", "the cluster CA key (PEM, mode 0600), given with --ca-cert; default <data-dir>/ca.key"),
    ];

    /// <summary>The environment variable a flag falls back to: --data-dir -> ACTORCLUSTER_DATA_DIR.</summary>
    public static string EnvironmentVariable(string flag) => "ACTORCLUSTER_" + flag.Replace('-', '_').ToUpperInvariant();

    /// <summary>
    /// The node's options from the flags given (name -> value, without dashes) and the repeatable --lb-pool, each
    /// falling back to its environment variable; values are checked here, with messages naming the flag.
    /// </summary>
    public static (NodeOptions Node, int ApiPort, string? Token) ParseNode(IReadOnlyDictionary<string, string> values, IReadOnlyList<string> lbPools, Func<string, string?> env)
    {
        var pools = lbPools.ToList();
        string? Get(string flag) => values.TryGetValue(flag, out var v) ? v : env(EnvironmentVariable(flag));

        var nodeName = Get("name") ?? throw new ArgumentException("--name is required (or ACTORCLUSTER_NAME)");
        var port = DefaultPorts.Remoting;
        if (Get("port") is { } p && (!int.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out port) || port is < 0 or > 65535))
            throw new ArgumentException($"--port: \"{p}\" is not a port number");
        var apiPort = DefaultPorts.Api;
        if (Get("api-port") is { } ap && (!int.TryParse(ap, NumberStyles.None, CultureInfo.InvariantCulture, out apiPort) || apiPort is < 0 or > 65535))
            throw new ArgumentException($"--api-port: \"{ap}\" is not a port number");
        var address = Get("address") ?? "127.0.1.1";
        if (address.Contains('/', StringComparison.Ordinal)) address = AddressIn(address);
        else if (!System.Net.IPAddress.TryParse(address, out _))
            throw new ArgumentException($"--address: \"{address}\" is not an IP address or a CIDR");
        var postgres = Get("postgres");
        if (postgres is null && Get("postgres-file") is { } postgresFile) postgres = ReadSecret("--postgres-file", postgresFile);
        var token = Get("token-file") is { } tokenFile ? ReadSecret("--token-file", tokenFile) : null;
        if (pools.Count == 0 && env("ACTORCLUSTER_LB_POOLS") is { Length: > 0 } envPools)
            pools.AddRange(envPools.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries));
        return (new NodeOptions
        {
            Name = nodeName,
            Address = address,
            Port = port,
            Seeds = (Get("seeds") ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
            DataDir = Get("data-dir") ?? "./.actorcluster",
            CaCertificateFile = Get("ca-cert"),
            CaKeyFile = Get("ca-key"),
            ConfigFile = Get("config"),
            Mode = Get("mode") ?? "local",
            Persistence = Get("persistence") ?? "sqlite",
            ProxyMode = Get("proxy-mode"),
            PostgresConnectionString = postgres,
            LoadBalancerPools = pools,
        }, apiPort, token);
    }

    /// <summary>The one address of this host inside <paramref name="cidr"/> (what a swarm-wide stack file can say).</summary>
    private static string AddressIn(string cidr)
    {
        System.Net.IPNetwork network;
        try
        {
            network = System.Net.IPNetwork.Parse(cidr);
        }
        catch (FormatException)
        {
            throw new ArgumentException($"--address: \"{cidr}\" is not an IP address or a CIDR");
        }
        // A /32 is a LoadBalancer IP a node announced on this host (or any single address added by hand), not the
        // host's own address in that network.
        var matches = System.Net.NetworkInformation.NetworkInterface.GetAllNetworkInterfaces()
            .SelectMany(i => i.GetIPProperties().UnicastAddresses)
            .Where(u => network.Contains(u.Address) && u.PrefixLength < 32).Select(u => u.Address).Distinct().ToList();
        return matches.Count switch
        {
            1 => matches[0].ToString(),
            0 => throw new ArgumentException($"--address: this host has no address in {cidr}"),
            _ => throw new ArgumentException($"--address: this host has several addresses in {cidr} ({string.Join(", ", matches)}): give one"),
        };
    }

    private static string ReadSecret(string flag, string path)
    {
        try
        {
            var value = File.ReadAllText(path).Trim();
            return value.Length > 0 ? value : throw new ArgumentException($"{flag}: {path} is empty");
        }
        catch (IOException e)
        {
            throw new ArgumentException($"{flag}: cannot read {path}: {e.Message}");
        }
        catch (UnauthorizedAccessException e)
        {
            throw new ArgumentException($"{flag}: cannot read {path}: {e.Message}");
        }
    }
}
