using System.Globalization;
using ActorCluster.Cluster.Hosting;

namespace ActorCluster.Host;

/// <summary>
/// Flags of <c>actorcluster node</c>; each has an ACTORCLUSTER_* environment variable (what containers use).
/// Flags win over the environment; anything unknown or malformed is an error naming the flag.
/// </summary>
public static class CommandLine
{
    public const string NodeUsage = """
        usage: actorcluster node --name NAME [options]

          --name NAME          Kubernetes node name (ACTORCLUSTER_NAME), e.g. k8s-worker1
          --address IP|CIDR    address to bind remoting, API and NodePorts (ACTORCLUSTER_ADDRESS, default 127.0.1.1);
                               a CIDR picks this host's address in it (one stack file for every swarm host)
          --port N             remoting port (ACTORCLUSTER_PORT, default 4053)
          --api-port N         Kubernetes API port on --address (ACTORCLUSTER_API_PORT, default 6443)
          --seeds H:P[,H:P]    seed nodes (ACTORCLUSTER_SEEDS); none: this node starts a new cluster
          --data-dir DIR       data directory (ACTORCLUSTER_DATA_DIR, default ./.actorcluster)
          --config FILE        extra HOCON file layered over the shipped ones (ACTORCLUSTER_CONFIG)
          --mode local|swarm   timing profile (ACTORCLUSTER_MODE, default local)
          --persistence sqlite|postgres   (ACTORCLUSTER_PERSISTENCE, default sqlite)
          --postgres CONNSTR   PostgreSQL connection string (ACTORCLUSTER_POSTGRES)
          --postgres-file F    read the connection string from a file, e.g. a Docker secret (ACTORCLUSTER_POSTGRES_FILE)
          --token-file F       the API bearer token from a file, e.g. a Docker secret (ACTORCLUSTER_TOKEN_FILE);
                               default: generated once in <data-dir>/token
          --lb-pool RANGE      LoadBalancer pool, CIDR or first-last; repeatable (ACTORCLUSTER_LB_POOLS, comma-separated)
        """;

    public static (NodeOptions Node, int ApiPort, string? Token) ParseNode(IReadOnlyList<string> args, Func<string, string?> env)
    {
        var values = new Dictionary<string, string>();
        var pools = new List<string>();
        for (var i = 0; i < args.Count; i++)
        {
            var arg = args[i];
            if (!arg.StartsWith("--", StringComparison.Ordinal)) throw new ArgumentException($"unexpected argument \"{arg}\"");
            var name = arg[2..];
            string value;
            var eq = name.IndexOf('=');
            if (eq >= 0)
            {
                value = name[(eq + 1)..];
                name = name[..eq];
            }
            else
            {
                if (i + 1 >= args.Count) throw new ArgumentException($"flag --{name} needs a value");
                value = args[++i];
            }
            if (name is not ("name" or "address" or "port" or "api-port" or "seeds" or "data-dir" or "config" or "mode" or "persistence" or "postgres" or "postgres-file" or "token-file" or "lb-pool"))
                throw new ArgumentException($"unknown flag --{name}");
            if (name == "lb-pool") pools.Add(value);
            else values[name] = value;
        }
        string? Get(string flag) => values.TryGetValue(flag, out var v) ? v : env("ACTORCLUSTER_" + flag.Replace('-', '_').ToUpperInvariant());

        var nodeName = Get("name") ?? throw new ArgumentException("--name is required (or ACTORCLUSTER_NAME)");
        var port = 4053;
        if (Get("port") is { } p && (!int.TryParse(p, NumberStyles.None, CultureInfo.InvariantCulture, out port) || port is < 0 or > 65535))
            throw new ArgumentException($"--port: \"{p}\" is not a port number");
        var apiPort = 6443;
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
            ConfigFile = Get("config"),
            Mode = Get("mode") ?? "local",
            Persistence = Get("persistence") ?? "sqlite",
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
