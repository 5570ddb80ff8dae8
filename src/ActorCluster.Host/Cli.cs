using System.CommandLine;
using ActorCluster.Api;
using ActorCluster.Cluster.Hosting;
using ActorCluster.Cluster.Security;
using Microsoft.Extensions.Logging;

namespace ActorCluster.Host;

/// <summary>
/// The <c>actorcluster</c> command line, with System.CommandLine: commands, flags, generated help, <c>--version</c>
/// and completions. A mistake is one line on stderr naming the command (<c>actorcluster up: ...</c>), exit code 2.
/// </summary>
internal static class Cli
{
    public static async Task<int> RunAsync(string[] args)
    {
        var root = new RootCommand("ActorCluster: Kubernetes Services (ClusterIP, NodePort, LoadBalancer) on an Akka.NET cluster, driven by kubectl.");
        root.Subcommands.Add(UpCommand());
        root.Subcommands.Add(StatusCommand());
        root.Subcommands.Add(DownCommand());
        root.Subcommands.Add(ResetCommand());
        root.Subcommands.Add(NodeCommand());
        root.Subcommands.Add(KubeconfigCommand());
        root.Subcommands.Add(CaCommand());
        root.Subcommands.Add(VersionCommand());
        var result = root.Parse(args);
        if (result.Errors.Count > 0)
        {
            var command = result.CommandResult.Command;
            var prefix = command == root ? "actorcluster" : $"actorcluster {command.Name}";
            Console.Error.WriteLine($"{prefix}: {result.Errors[0].Message}");
            if (command == root) Console.Error.WriteLine("try 'actorcluster --help'");
            return 2;
        }
        // SIGTERM and Ctrl-C are ours: `up` stops its nodes and `node` leaves the cluster, however long that takes.
        // (System.CommandLine would otherwise end the process with 143 two seconds after the signal.)
        return await result.InvokeAsync(new InvocationConfiguration { ProcessTerminationTimeout = null });
    }

    private static Command UpCommand()
    {
        var nodes = new Option<string?>("--nodes") { Description = "how many node processes (1-200); default 3, at 127.0.1.1..N" };
        var dataDir = new Option<string?>("--data-dir") { Description = "data directory of the cluster (database, logs, token, kubeconfig); default ./.actorcluster" };
        var pools = new Option<string[]>("--lb-pool") { Description = "LoadBalancer address pool, a CIDR or first-last; repeatable" };
        var config = new Option<string?>("--config") { Description = "a HOCON file layered over the shipped defaults, for every node" };
        var detach = new Option<bool>("--detach", "-d") { Description = "run in the background: return once every node is Ready (stop it with actorcluster down)" };
        var proxyMode = new Option<string?>("--proxy-mode") { Description = "Service data path: userspace (default, the relay), nftables (the kernel's DNAT; needs root) or auto" };
        var up = new Command("up", "Start a local cluster of node processes (k8s-worker1..N at 127.0.1.1..N), supervised until Ctrl-C,\n" +
                                   "or in the background with --detach.\n" +
                                   "Examples: actorcluster up\n" +
                                   "          actorcluster up --detach --lb-pool 127.0.1.240-127.0.1.250\n" +
                                   "          sudo actorcluster up --proxy-mode nftables") { nodes, dataDir, pools, config, detach, proxyMode };
        up.SetAction(async (result, _) =>
        {
            UpOptions options;
            try
            {
                options = LocalCluster.Options(result.GetValue(nodes), result.GetValue(dataDir), result.GetValue(pools) ?? [], result.GetValue(config), result.GetValue(proxyMode));
            }
            catch (ArgumentException e)
            {
                Console.Error.WriteLine($"actorcluster up: {e.Message}");
                return 2;
            }
            if (!result.GetValue(detach)) return await new LocalCluster(options).RunAsync();
            // The same up, in the background: every other flag passed on as given.
            var arguments = new List<string> { "--nodes", options.Nodes.ToString(System.Globalization.CultureInfo.InvariantCulture), "--data-dir", Path.GetFullPath(options.DataDir) };
            foreach (var pool in options.LoadBalancerPools) arguments.AddRange(["--lb-pool", pool]);
            if (options.ConfigFile is { } file) arguments.AddRange(["--config", Path.GetFullPath(file)]);
            if (options.ProxyMode is { } mode) arguments.AddRange(["--proxy-mode", mode]);
            return await ClusterControl.Detach(Path.GetFullPath(options.DataDir), arguments);
        });
        return up;
    }

    private static Command NodeCommand()
    {
        var node = new Command("node", "Run one node in the foreground until Ctrl-C or SIGTERM, then leave the cluster gracefully. " +
                                       "Every flag falls back to an ACTORCLUSTER_* environment variable (--data-dir: ACTORCLUSTER_DATA_DIR).");
        var flags = CommandLine.NodeFlags.Select(f => (f.Name, Option: new Option<string?>("--" + f.Name)
        {
            Description = $"{f.Description} [{CommandLine.EnvironmentVariable(f.Name)}]",
        })).ToList();
        foreach (var (_, option) in flags) node.Options.Add(option);
        var pools = new Option<string[]>("--lb-pool")
        {
            Description = $"LoadBalancer address pool, a CIDR or first-last; repeatable [{CommandLine.EnvironmentVariable("lb-pool")}S, comma-separated]",
        };
        node.Options.Add(pools);
        node.SetAction(async (result, _) =>
        {
            var values = flags.Where(f => result.GetResult(f.Option) is not null && result.GetValue(f.Option) is not null)
                .ToDictionary(f => f.Name, f => result.GetValue(f.Option)!);
            return await RunNode(values, result.GetValue(pools) ?? []);
        });
        return node;
    }

    private static Option<string?> DataDirOption() => new("--data-dir") { Description = "data directory of the cluster; default ./.actorcluster" };

    private static string DataDir(ParseResult result, Option<string?> option) => Path.GetFullPath(result.GetValue(option) ?? "./.actorcluster");

    private static Command StatusCommand()
    {
        var dataDir = DataDirOption();
        var command = new Command("status", "Show whether the local cluster runs: its nodes (pid, address, API, Ready, which hosts the ApiServer),\n" +
                                            "the kubeconfig and uptime. Exit code 0: every node Ready; 3: running, not all Ready; 1: not running.\n" +
                                            "Example: actorcluster status") { dataDir };
        command.SetAction(async (result, _) => await ClusterControl.Status(DataDir(result, dataDir)));
        return command;
    }

    private static Command DownCommand()
    {
        var dataDir = DataDirOption();
        var command = new Command("down", "Stop the local cluster (started with up --detach, or up in another terminal): every node leaves\n" +
                                          "gracefully; its objects stay in the data directory for the next up.\n" +
                                          "Example: actorcluster down") { dataDir };
        command.SetAction(async (result, _) => await ClusterControl.Down(DataDir(result, dataDir)));
        return command;
    }

    private static Command ResetCommand()
    {
        var dataDir = DataDirOption();
        var yes = new Option<bool>("--yes", "-y") { Description = "do not ask for confirmation" };
        var command = new Command("reset", "Remove the data directory (the cluster's objects, CA, token, kubeconfig, logs) after a confirmation,\n" +
                                           "so the next up starts empty. Refused while the cluster runs.\n" +
                                           "Example: actorcluster down && actorcluster reset --yes") { dataDir, yes };
        command.SetAction(result => ClusterControl.Reset(DataDir(result, dataDir), result.GetValue(yes), Console.In, !Console.IsInputRedirected));
        return command;
    }

    private static Command CaCommand()
    {
        var output = new Option<string>("--out") { Description = "directory to write ca.crt and ca.key (mode 0600) into", Required = true };
        var command = new Command("ca", "Create a cluster CA for nodes that share no data directory (a Swarm): every node is given the same pair\n" +
                                        "(--ca-cert/--ca-key, e.g. from Docker secrets) and trusts only peers with a certificate it issued.\n" +
                                        "Example: actorcluster ca --out ./pki") { output };
        command.SetAction(result =>
        {
            var dir = Path.GetFullPath(result.GetValue(output)!);
            var cert = Path.Combine(dir, "ca.crt");
            var key = Path.Combine(dir, "ca.key");
            if (File.Exists(cert) || File.Exists(key))
            {
                Console.Error.WriteLine($"actorcluster ca: {dir} already holds a CA; a new one would lock out every node that uses it");
                return 1;
            }
            Directory.CreateDirectory(dir);
            var (certificatePem, keyPem) = ClusterCa.Create("actorcluster-ca");
            SecretFiles.WriteAtomically(key, keyPem);
            SecretFiles.WriteAtomically(cert, certificatePem);
            Console.WriteLine($"actorcluster ca: wrote {cert} and {key}");
            return 0;
        });
        return command;
    }

    private static Command VersionCommand()
    {
        var command = new Command("version", "Print the versions: ActorCluster (and its commit), the Kubernetes API it serves, Akka.NET and .NET.");
        command.SetAction(_ =>
        {
            var informational = typeof(Cli).Assembly.GetCustomAttributes(typeof(System.Reflection.AssemblyInformationalVersionAttribute), false)
                .OfType<System.Reflection.AssemblyInformationalVersionAttribute>().FirstOrDefault()?.InformationalVersion ?? "unknown";
            var akka = typeof(Akka.Actor.ActorSystem).Assembly.GetName().Version;
            Console.WriteLine($"actorcluster {informational}");
            Console.WriteLine("Kubernetes API: v1.32.0-actorcluster");
            Console.WriteLine($"Akka.NET: {akka?.Major}.{akka?.Minor}.{akka?.Build}");
            Console.WriteLine($".NET: {Environment.Version}");
            return 0;
        });
        return command;
    }

    private static Command KubeconfigCommand()
    {
        var dataDir = new Option<string?>("--data-dir") { Description = "data directory of the cluster; default ./.actorcluster" };
        var user = new Option<string?>("--user") { Description = "a user of the cluster's token file (<data-dir>/tokens.csv): created on first use, its token reused after" };
        var groups = new Option<string[]>("--group") { Description = "a group of a new user: view (get, list, watch) or system:masters (everything); repeatable" };
        var output = new Option<string?>("--output", "-o") { Description = "write the kubeconfig to this file (mode 0600) instead of printing it" };
        var merge = new Option<bool>("--merge") { Description = "merge it into your kubeconfig ($KUBECONFIG's first file, or ~/.kube/config) and make it the current context" };
        var context = new Option<string?>("--context") { Description = "the name of the merged cluster, user and context; default actorcluster" };
        var command = new Command("kubeconfig", "Print a kubeconfig for this cluster: the admin's, or with --user a user's of the token file;\n" +
                                                "or merge it into your own kubeconfig, as kind and k3d do.\n" +
                                                "Examples: actorcluster kubeconfig --merge\n" +
                                                "          actorcluster kubeconfig --user alice --group view -o alice.kubeconfig") { dataDir, user, groups, output, merge, context };
        command.SetAction(result =>
        {
            var dir = Path.GetFullPath(result.GetValue(dataDir) ?? "./.actorcluster");
            var admin = Path.Combine(dir, "kubeconfig");
            try
            {
                if (!File.Exists(admin)) throw new ArgumentException($"no cluster in {dir} (no kubeconfig): start one with actorcluster up --data-dir {dir}");
                SecretFiles.EnsureOwnerOnly(admin);
                string text;
                if (result.GetValue(user) is { } name)
                {
                    // The server and the CA come from the admin's kubeconfig: in a Swarm the CA is a secret, not a file of the data directory.
                    var adminText = File.ReadAllText(admin);
                    var server = System.Text.RegularExpressions.Regex.Match(adminText, @"server: (\S+)").Groups[1].Value;
                    var caPem = System.Text.Encoding.ASCII.GetString(Convert.FromBase64String(
                        System.Text.RegularExpressions.Regex.Match(adminText, @"certificate-authority-data: (\S+)").Groups[1].Value));
                    var token = ApiCredentials.LoadOrCreateUserToken(dir, name, result.GetValue(groups) ?? []);
                    text = ApiCredentials.Kubeconfig(server, token, caPem, name);
                }
                else
                {
                    if (result.GetValue(groups) is { Length: > 0 }) throw new ArgumentException("--group needs --user");
                    text = File.ReadAllText(admin);
                }
                if (result.GetValue(merge))
                {
                    if (result.GetValue(output) is not null) throw new ArgumentException("--merge and --output: choose one");
                    var target = (Environment.GetEnvironmentVariable("KUBECONFIG") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault()
                                 ?? Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".kube", "config");
                    var contextName = result.GetValue(context) ?? "actorcluster";
                    Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(target))!);
                    SecretFiles.WriteAtomically(target, ApiCredentials.MergeKubeconfig(File.Exists(target) ? File.ReadAllText(target) : null, text, contextName));
                    Console.WriteLine($"actorcluster kubeconfig: merged into {target} as context \"{contextName}\" (now current): kubectl get nodes");
                    return 0;
                }
                if (result.GetValue(context) is not null) throw new ArgumentException("--context needs --merge");
                if (result.GetValue(output) is { } file) SecretFiles.WriteAtomically(file, text);
                else Console.Write(text);
                return 0;
            }
            catch (Exception e) when (e is ArgumentException or FormatException or UnprotectedSecretException or IOException)
            {
                Console.Error.WriteLine($"actorcluster kubeconfig: {e.Message}");
                return 1;
            }
        });
        return command;
    }

    /// <summary>One node and its API in the foreground, in one host; the exit code says how it ended.</summary>
    private static async Task<int> RunNode(IReadOnlyDictionary<string, string> values, IReadOnlyList<string> pools)
    {
        NodeOptions options;
        KubernetesApi api;
        try
        {
            (options, var apiPort, var token) = CommandLine.ParseNode(values, pools, Environment.GetEnvironmentVariable);
            try
            {
                api = await KubernetesApi.StartAsync(options, new ApiOptions(options.Address, apiPort, options.DataDir, token), NodeLog);
            }
            catch (IOException e)
            {
                Console.Error.WriteLine($"actorcluster node: cannot serve the API on {options.Address}:{apiPort}: {e.Message}");
                return 2;
            }
        }
        catch (Exception e) when (e is ArgumentException or UnprotectedSecretException)
        {
            Console.Error.WriteLine($"actorcluster node: {e.Message}");
            return 2;
        }
        var node = api.Node;
        Console.WriteLine($"actorcluster node {options.Name} running at {node.SelfAddress}; API {api.Url}; kubeconfig {Path.GetFullPath(api.KubeconfigPath)}");
        var stopped = new TaskCompletionSource();
        using (System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, c => { c.Cancel = true; stopped.TrySetResult(); }))
        using (System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGINT, c => { c.Cancel = true; stopped.TrySetResult(); }))
        {
            await Task.WhenAny(stopped.Task, node.System.WhenTerminated);
        }
        // The actor system can end on its own (downed by the split-brain resolver, a fatal error): the process ends
        // with it, non-zero, so whoever supervises it (`up`, Docker) starts a fresh node; the API never outlives it.
        var systemEnded = !stopped.Task.IsCompleted;
        Console.WriteLine(systemEnded ? $"actorcluster node {options.Name}: the actor system terminated; exiting" : $"actorcluster node {options.Name} stopping");
        // Kestrel stops first, then the node leaves the cluster (handing the ApiServer over if it holds it).
        await api.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(40)).ContinueWith(_ => { }, TaskScheduler.Default);
        return systemEnded ? 1 : 0;
    }

    /// <summary>The node's log: ASP.NET Core's and Akka's lines alike, one per line with a timestamp, on stdout.</summary>
    private static void NodeLog(ILoggingBuilder log) => log
        .AddSimpleConsole(o =>
        {
            o.SingleLine = true;
            o.TimestampFormat = "yyyy-MM-ddTHH:mm:ss.fffZ ";
            o.UseUtcTimestamp = true;
        })
        .SetMinimumLevel(LogLevel.Information)
        // Kestrel's per-connection chatter (TLS handshakes of probing clients) is not the node's news.
        .AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
}
