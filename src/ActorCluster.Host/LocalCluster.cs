// Over 350 lines on purpose: `actorcluster up` is one supervisor (start, watch readiness, restart with backoff,
// stop) whose steps share its state; splitting it would scatter one lifecycle over several files.
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using ActorCluster.Cluster.Hosting;

namespace ActorCluster.Host;

/// <summary>Options of <c>actorcluster up</c>.</summary>
public sealed record UpOptions(int Nodes, string DataDir, IReadOnlyList<string> LoadBalancerPools, string? ConfigFile, string? ProxyMode = null);

/// <summary>
/// <c>actorcluster up</c>: a local cluster of real node processes (k8s-worker1..N at 127.0.1.1..N), each started as
/// <c>actorcluster node</c> with its log in &lt;data-dir&gt;/logs and its pid in &lt;data-dir&gt;/nodes. Shows progress
/// until every node is Ready, restarts a node that dies (with backoff), and stops them all gracefully on Ctrl-C or
/// SIGTERM. One `up` per data directory.
/// </summary>
public sealed class LocalCluster
{
    private const int RemotingPort = DefaultPorts.Remoting;
    private const int ApiPort = DefaultPorts.Api;

    private readonly UpOptions _options;
    private readonly Dictionary<int, Process> _processes = new();
    private readonly CancellationTokenSource _stopping = new();

    public LocalCluster(UpOptions options) => _options = options;

    public static string Address(int i) => $"127.0.1.{i}";

    public static string Name(int i) => $"k8s-worker{i}";

    /// <summary>Checks <c>up</c>'s values (the syntax is System.CommandLine's, in <see cref="Cli"/>).</summary>
    public static UpOptions Options(string? nodes, string? dataDir, IReadOnlyList<string> pools, string? config, string? proxyMode = null)
    {
        var count = 3;
        if (nodes is not null && (!int.TryParse(nodes, NumberStyles.None, CultureInfo.InvariantCulture, out count) || count is < 1 or > 200))
            throw new ArgumentException($"--nodes: \"{nodes}\" is not a number of nodes (1-200)");
        return new UpOptions(count, dataDir ?? "./.actorcluster", pools, config, proxyMode);
    }

    /// <summary>The configuration the nodes will start with, checked here, so a mistake is one line, not N crashing nodes.</summary>
    private Cluster.Hosting.NodeConfiguration? Configuration(out string? problem)
    {
        problem = null;
        try
        {
            return Cluster.Hosting.NodeConfiguration.From(new Cluster.Hosting.NodeOptions
            {
                Name = Name(1), Address = Address(1), DataDir = _options.DataDir, ConfigFile = _options.ConfigFile, LoadBalancerPools = _options.LoadBalancerPools,
                ProxyMode = _options.ProxyMode,
            });
        }
        catch (Exception e) when (e is ArgumentException or FormatException or Akka.Configuration.ConfigurationException or InvalidOperationException)
        {
            // Said once: "bad configuration: " is this command's prefix, not also the node's.
            problem = (e is ArgumentException { InnerException: { } inner } ? inner : e).Message.Split('\n')[0];
            return null;
        }
    }

    public async Task<int> RunAsync()
    {
        if (Configuration(out var problem) is not { } configuration)
        {
            Console.Error.WriteLine($"actorcluster up: bad configuration: {problem}");
            return 2;
        }
        var dataDir = Path.GetFullPath(_options.DataDir);
        // Secrets others may read are refused before anything else is looked at or started.
        foreach (var secret in new[] { "token", "ca.key", "kubeconfig" })
        {
            try
            {
                Cluster.Security.SecretFiles.EnsureOwnerOnly(Path.Combine(dataDir, secret));
            }
            catch (Cluster.Security.UnprotectedSecretException e)
            {
                Console.Error.WriteLine($"actorcluster up: {e.Message}");
                return 2;
            }
        }
        Directory.CreateDirectory(Path.Combine(dataDir, "logs"));
        Directory.CreateDirectory(Path.Combine(dataDir, "nodes"));

        // One `up` per data directory: the lock is held for as long as this process runs.
        var lockPath = Path.Combine(dataDir, "up.lock");
        FileStream lockFile;
        try
        {
            lockFile = new FileStream(lockPath, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException)
        {
            var pidPath = Path.Combine(dataDir, "up.pid");
            var holder = File.Exists(pidPath) ? File.ReadAllText(pidPath).Trim() : "?";
            Console.Error.WriteLine($"actorcluster up: another actorcluster up (pid {holder}) is running on {dataDir}");
            return 1;
        }
        using (lockFile)
        {
            File.WriteAllText(Path.Combine(dataDir, "up.pid"), Environment.ProcessId.ToString(CultureInfo.InvariantCulture));

            for (var i = 1; i <= _options.Nodes; i++)
            {
                foreach (var port in new[] { RemotingPort, ApiPort, configuration.Proxy.TunnelPort })
                {
                    if (!PortFree(Address(i), port))
                    {
                        Console.Error.WriteLine($"actorcluster up: {Address(i)}:{port} is already in use (is another cluster running?)");
                        return 1;
                    }
                }
            }

            using var term = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, c => { c.Cancel = true; _stopping.Cancel(); });
            using var intr = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGINT, c => { c.Cancel = true; _stopping.Cancel(); });

            // Kernel rules a crashed cluster left (nodes killed with -9 cannot remove their tables) would still take
            // traffic whatever mode this cluster runs in: removed before anything starts.
            if (Proxy.Linux.NftablesProxier.Probe() is null)
            {
                foreach (var table in Proxy.Linux.NftablesProxier.RemoveOrphans())
                    Console.WriteLine($"actorcluster up: removed nftables table {table} (its node process is gone)");
            }

            // The shared secrets exist before any node starts, so no two nodes can ever disagree on them.
            Api.ApiCredentials.LoadOrCreateToken(dataDir);
            Cluster.Security.ClusterCa.LoadOrCreate(dataDir).Dispose();
            Console.WriteLine($"actorcluster up: starting {_options.Nodes} node(s) in {dataDir} (logs: {Path.Combine(dataDir, "logs")})");
            var progress = UpProgress.ForConsole(Enumerable.Range(1, _options.Nodes).Select(Name).ToList());
            // Node 1 forms the cluster; the others start once it listens. Started together, a node that dialed node 1
            // before it listened had node 1's address gated for 5 s (Akka's retry-gate-closed-for) and joined late.
            Start(1, firstStart: true);
            progress.Reached(0, NodePhase.Started);
            await WaitListening(1, progress);
            for (var i = 2; i <= _options.Nodes && !_stopping.IsCancellationRequested; i++)
            {
                Start(i, firstStart: true);
                progress.Reached(i - 1, NodePhase.Started);
            }
            List<int> started;
            lock (_processes) started = _processes.Keys.ToList();
            var supervisors = started.Select(Supervise).ToList();
            try
            {
                await WaitReady(dataDir, progress);
            }
            catch (OperationCanceledException)
            {
            }
            if (!_stopping.IsCancellationRequested)
            {
                // The kubeconfig points at the first node (any node serves any request).
                try
                {
                    Api.ApiCredentials.WriteKubeconfig(Path.Combine(dataDir, "kubeconfig"), $"https://{Address(1)}:{ApiPort}",
                        (await File.ReadAllTextAsync(Path.Combine(dataDir, "token"))).Trim(), await File.ReadAllTextAsync(Path.Combine(dataDir, "ca.crt")));
                }
                catch (IOException e)
                {
                    Console.WriteLine($"actorcluster up: cannot write the kubeconfig: {e.Message}");
                }
                var stop = Environment.GetEnvironmentVariable(ClusterControl.DetachedVariable) == "1" ? "actorcluster down stops it" : "Ctrl-C stops the cluster";
                Console.WriteLine($"actorcluster up: {_options.Nodes}/{_options.Nodes} nodes Ready. Use it with: export KUBECONFIG={Path.Combine(dataDir, "kubeconfig")}   ({stop})");
                Console.WriteLine($"  a read-only user: actorcluster kubeconfig --data-dir {dataDir} --user alice --group view -o alice.kubeconfig");
                Console.WriteLine($"  the dashboard: https://{Address(1)}:{ApiPort}/ui/ (log in with the token in {Path.Combine(dataDir, "token")})");
                // The cluster is driven with kubectl: say how to get it rather than let the first command fail.
                if (!OnPath("kubectl"))
                    Console.WriteLine("  kubectl is not installed: apt-get install kubectl (Debian/Ubuntu with the Kubernetes apt repository), or see https://kubernetes.io/docs/tasks/tools/");
                try
                {
                    await Task.Delay(Timeout.Infinite, _stopping.Token);
                }
                catch (OperationCanceledException)
                {
                }
            }
            Console.WriteLine("actorcluster up: stopping the nodes");
            await StopAll();
            await Task.WhenAll(supervisors);
            Console.WriteLine("actorcluster up: stopped");
        }
        File.Delete(lockPath);
        File.Delete(Path.Combine(dataDir, "up.pid"));
        return 0;
    }

    private static bool PortFree(string address, int port)
    {
        try
        {
            using var probe = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            probe.Bind(new IPEndPoint(IPAddress.Parse(address), port));
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    private void Start(int i, bool firstStart)
    {
        var dataDir = Path.GetFullPath(_options.DataDir);
        var info = new ProcessStartInfo(Self.Program) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in Self.Prefix) info.ArgumentList.Add(a);
        foreach (var a in new[] { "node", "--name", Name(i), "--address", Address(i), "--data-dir", dataDir }) info.ArgumentList.Add(a);
        // The first node forms the cluster on a fresh start; afterwards every node joins through all the others.
        if (!(firstStart && i == 1))
        {
            info.ArgumentList.Add("--seeds");
            info.ArgumentList.Add(string.Join(",", Enumerable.Range(1, _options.Nodes).Where(j => j != i || !firstStart).Select(j => $"{Address(j)}:{RemotingPort}")));
        }
        if (_options.ConfigFile is not null)
        {
            info.ArgumentList.Add("--config");
            info.ArgumentList.Add(Path.GetFullPath(_options.ConfigFile));
        }
        foreach (var pool in _options.LoadBalancerPools)
        {
            info.ArgumentList.Add("--lb-pool");
            info.ArgumentList.Add(pool);
        }
        if (_options.ProxyMode is not null)
        {
            info.ArgumentList.Add("--proxy-mode");
            info.ArgumentList.Add(_options.ProxyMode);
        }
        var process = Process.Start(info)!;
        lock (_processes) _processes[i] = process;
        var log = new NodeLog(Path.Combine(dataDir, "logs", Name(i) + ".log"), Name(i));
        process.OutputDataReceived += (_, e) => log.Write(e.Data);
        process.ErrorDataReceived += (_, e) => log.Write(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        process.Exited += (_, _) => log.Dispose();
        process.EnableRaisingEvents = true;
        try
        {
            File.WriteAllText(Path.Combine(dataDir, "nodes", Name(i) + ".pid"), process.Id.ToString(CultureInfo.InvariantCulture));
        }
        catch (IOException e)
        {
            Console.WriteLine($"actorcluster up: cannot write {Name(i)}'s pid file: {e.Message}");
        }
    }

    /// <summary>
    /// A node's log file. Writing it must never take `up` down (a full disk, a removed directory): a line that
    /// cannot be written is dropped, and that is said once on the console until writing works again.
    /// </summary>
    private sealed class NodeLog(string path, string node) : IDisposable
    {
        private StreamWriter? _writer;
        private bool _failing;

        public void Write(string? line)
        {
            if (line is null) return;
            lock (this)
            {
                try
                {
                    _writer ??= new StreamWriter(path, append: true) { AutoFlush = true };
                    _writer.WriteLine(line);
                    if (_failing) Console.WriteLine($"actorcluster up: writing {node}'s log works again");
                    _failing = false;
                }
                catch (Exception e) when (e is IOException or UnauthorizedAccessException)
                {
                    if (!_failing) Console.WriteLine($"actorcluster up: cannot write {node}'s log ({e.Message}); dropping its lines until it can");
                    _failing = true;
                    try
                    {
                        _writer?.Dispose();
                    }
                    catch (IOException)
                    {
                        // The buffered part is lost with the line.
                    }
                    _writer = null;
                }
            }
        }

        public void Dispose()
        {
            lock (this)
            {
                try
                {
                    _writer?.Dispose();
                }
                catch (IOException)
                {
                }
                _writer = null;
            }
        }
    }

    /// <summary>Restarts a node that exits while the cluster should be running, with backoff up to 30 s.</summary>
    private async Task Supervise(int i)
    {
        var backoff = TimeSpan.FromSeconds(1);
        while (true)
        {
            Process process;
            lock (_processes) process = _processes[i];
            var started = DateTime.UtcNow;
            await process.WaitForExitAsync();
            if (_stopping.IsCancellationRequested) return;
            if (DateTime.UtcNow - started > TimeSpan.FromMinutes(1)) backoff = TimeSpan.FromSeconds(1);
            Console.WriteLine($"actorcluster up: {Name(i)} exited with code {process.ExitCode}; restarting in {backoff.TotalSeconds:0} s, " +
                              $"once the other nodes have removed it from the cluster (log: logs/{Name(i)}.log)");
            try
            {
                await Task.Delay(backoff, _stopping.Token);
                if (!await WaitRemoved(i))
                    Console.WriteLine($"actorcluster up: the other nodes still list {Name(i)} as a member after {RemovalWait.TotalSeconds:0} s; restarting it anyway");
            }
            catch (OperationCanceledException)
            {
                return;
            }
            backoff = TimeSpan.FromSeconds(Math.Min(30, backoff.TotalSeconds * 2));
            try
            {
                Start(i, firstStart: false);
                Console.WriteLine($"actorcluster up: {Name(i)} restarted");
            }
            catch (Exception e) when (e is IOException or System.ComponentModel.Win32Exception or UnauthorizedAccessException)
            {
                // Keep supervising: the next round tries again (the previous, exited process stands in until then).
                Console.WriteLine($"actorcluster up: cannot restart {Name(i)}: {e.Message}");
            }
        }
    }

    private static readonly TimeSpan RemovalWait = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Waits (bounded) until no other running node lists node <paramref name="i"/>'s address as a member. Until a node
    /// removes the dead incarnation (and so quarantines it), Akka.Remote keeps retrying its association; a retry that
    /// reaches a new incarnation already listening at the same address leaves a second association between the pair
    /// that nobody reads, the two stop hearing each other's heartbeats, and the split-brain resolver downs both (seen
    /// in CI under load, traced with remoting's debug log). Once every node has removed it, the old incarnation is
    /// quarantined and its writers are stopped: the new one is started only then.
    /// </summary>
    private async Task<bool> WaitRemoved(int i)
    {
        var member = $"@{Address(i)}:{RemotingPort}";
        using var api = new LocalApi(Path.GetFullPath(_options.DataDir));
        var deadline = DateTime.UtcNow + RemovalWait;
        while (DateTime.UtcNow < deadline)
        {
            var listed = false;
            for (var j = 1; j <= _options.Nodes && !listed; j++)
            {
                Process? other;
                lock (_processes) _processes.TryGetValue(j, out other);
                if (j == i || other is null || other.HasExited) continue;
                // A running node that does not answer may still list it: keep waiting for its answer.
                var members = await api.Members(Address(j), ApiPort);
                listed = members is null || members.Any(m => m.EndsWith(member, StringComparison.Ordinal));
            }
            if (!listed) return true;
            await Task.Delay(200, _stopping.Token);
        }
        return false;
    }

    private static bool OnPath(string program) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries).Any(d => File.Exists(Path.Combine(d, program)));

    private static bool Listening(ListeningPorts ports, int i) =>
        ports.IsListening(IPAddress.Parse(Address(i)), RemotingPort) && ports.IsListening(IPAddress.Parse(Address(i)), ApiPort);

    /// <summary>Waits (up to 60 s, or until it exits) for node <paramref name="i"/> to listen.</summary>
    private async Task WaitListening(int i, UpProgress progress)
    {
        Process process;
        lock (_processes) process = _processes[i];
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (!Listening(ListeningPorts.Read(), i) && !process.HasExited && DateTime.UtcNow < deadline && !_stopping.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(20, _stopping.Token);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
        if (Listening(ListeningPorts.Read(), i)) progress.Reached(i - 1, NodePhase.Listening);
    }

    /// <summary>Watches the nodes come up (ports in /proc/net, then the API as a client sees it) and shows each phase.</summary>
    private async Task WaitReady(string dataDir, UpProgress progress)
    {
        using var api = new LocalApi(dataDir);
        var deadline = DateTime.UtcNow + TimeSpan.FromMinutes(3);
        while (progress.ReadyCount < _options.Nodes)
        {
            _stopping.Token.ThrowIfCancellationRequested();
            if (DateTime.UtcNow > deadline)
            {
                Console.WriteLine($"actorcluster up: only {progress.ReadyCount}/{_options.Nodes} nodes Ready after 3 minutes; see {Path.Combine(dataDir, "logs")}");
                return;
            }
            var ports = ListeningPorts.Read();
            for (var i = 1; i <= _options.Nodes; i++)
            {
                if (Listening(ports, i)) progress.Reached(i - 1, NodePhase.Listening);
            }
            // Any listening node's API answers for the whole cluster.
            IReadOnlyDictionary<string, bool>? nodes = null;
            for (var i = 1; i <= _options.Nodes && nodes is null; i++)
            {
                if (Listening(ports, i)) nodes = await api.Nodes(Address(i), ApiPort);
            }
            for (var i = 1; i <= _options.Nodes; i++)
            {
                if (nodes is not null && nodes.TryGetValue(Name(i), out var ready)) progress.Reached(i - 1, ready ? NodePhase.Ready : NodePhase.Joined);
            }
            await Task.Delay(100, _stopping.Token);
        }
    }

    /// <summary>SIGTERM to every node, youngest first; a node that does not stop in 20 s is killed.</summary>
    private async Task StopAll()
    {
        List<(int Index, Process Process)> running;
        lock (_processes) running = _processes.OrderByDescending(p => p.Key).Select(p => (p.Key, p.Value)).ToList();
        foreach (var (i, process) in running)
        {
            if (process.HasExited) continue;
            Posix.Terminate(process.Id);
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(20));
            try
            {
                await process.WaitForExitAsync(cts.Token);
            }
            catch (OperationCanceledException)
            {
                Console.WriteLine($"actorcluster up: {Name(i)} did not stop in 20 s; killing it");
                process.Kill(entireProcessTree: true);
            }
            File.Delete(Path.Combine(Path.GetFullPath(_options.DataDir), "nodes", Name(i) + ".pid"));
        }
    }
}
