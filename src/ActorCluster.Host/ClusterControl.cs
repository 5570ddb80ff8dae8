using System.Diagnostics;
using System.Globalization;
using ActorCluster.Cluster.Hosting;

namespace ActorCluster.Host;

/// <summary>
/// The commands around a local cluster's lifetime, all keyed by its data directory: <c>up --detach</c> (start it in
/// the background and return once it is Ready), <c>status</c>, <c>down</c> (stop it) and <c>reset</c> (remove its
/// data). Whether a cluster runs is what <c>up</c>'s lock says (held for as long as <c>up</c> runs), never a stale
/// pid file.
/// </summary>
internal static class ClusterControl
{
    /// <summary>Set for an <c>up</c> started by <c>up --detach</c>: there is no terminal to press Ctrl-C in.</summary>
    public const string DetachedVariable = "ACTORCLUSTER_UP_DETACHED";

    private static readonly TimeSpan DetachWait = TimeSpan.FromMinutes(3);
    private static readonly TimeSpan DownWait = TimeSpan.FromSeconds(90);

    /// <summary>The pid of the <c>up</c> holding <paramref name="dataDir"/>'s lock, or null when none runs.</summary>
    public static int? RunningUp(string dataDir)
    {
        var lockPath = Path.Combine(dataDir, "up.lock");
        if (!File.Exists(lockPath)) return null;
        try
        {
            using var probe = new FileStream(lockPath, FileMode.Open, FileAccess.ReadWrite, FileShare.None);
            return null;
        }
        catch (IOException)
        {
            var pidPath = Path.Combine(dataDir, "up.pid");
            return File.Exists(pidPath) && int.TryParse(File.ReadAllText(pidPath).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var pid) ? pid : -1;
        }
        catch (UnauthorizedAccessException)
        {
            return -1;
        }
    }

    /// <summary>
    /// <c>up --detach</c>: runs <c>up</c> (without --detach) in a session of its own, its output in
    /// &lt;data-dir&gt;/logs/up.log, and returns once it says every node is Ready (or fails, with the log's end).
    /// </summary>
    public static async Task<int> Detach(string dataDir, IReadOnlyList<string> upArguments)
    {
        if (RunningUp(dataDir) is { } pid)
        {
            Console.Error.WriteLine($"actorcluster up: a cluster is already running on {dataDir} (up pid {pid}); stop it with: actorcluster down --data-dir {dataDir}");
            return 1;
        }
        Directory.CreateDirectory(Path.Combine(dataDir, "logs"));
        var log = Path.Combine(dataDir, "logs", "up.log");
        File.WriteAllText(log, "");
        // `setsid` puts it in a session of its own: closing this terminal (SIGHUP) does not stop the cluster.
        var self = Self.Program;
        var command = new List<string>(Self.Prefix) { "up" };
        command.AddRange(upArguments);
        var info = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
        info.ArgumentList.Add("-c");
        info.ArgumentList.Add("exec setsid \"$0\" \"$@\" >> \"$ACTORCLUSTER_UP_LOG\" 2>&1 < /dev/null");
        info.ArgumentList.Add(self);
        foreach (var a in command) info.ArgumentList.Add(a);
        info.Environment["ACTORCLUSTER_UP_LOG"] = log;
        info.Environment[DetachedVariable] = "1";
        using var process = Process.Start(info)!;
        Console.WriteLine($"actorcluster up: starting in the background (log: {log})");
        var deadline = DateTime.UtcNow + DetachWait;
        var shown = 0;
        while (DateTime.UtcNow < deadline)
        {
            var text = File.ReadAllText(log);
            // Pass on what `up` says (node by node), so the wait is not silent.
            var lines = text.Split('\n');
            for (; shown < lines.Length - 1; shown++) Console.WriteLine(lines[shown]);
            if (text.Contains("nodes Ready.", StringComparison.Ordinal))
            {
                Console.WriteLine($"actorcluster up: running in the background; stop it with: actorcluster down --data-dir {dataDir}");
                return 0;
            }
            if (process.HasExited && RunningUp(dataDir) is null)
            {
                Console.Error.WriteLine($"actorcluster up: the cluster did not start; see {log}");
                return 1;
            }
            await Task.Delay(200);
        }
        Console.Error.WriteLine($"actorcluster up: not Ready after {DetachWait.TotalMinutes:0} minutes; it keeps trying in the background (see {log}; stop it with actorcluster down)");
        return 1;
    }

    /// <summary>
    /// <c>status</c>: whether the cluster runs, its nodes (pid, address, Ready, which hosts the ApiServer), the
    /// kubeconfig and uptime. Exit code 0: running and every node Ready; 3: running, not every node Ready; 1: not running.
    /// </summary>
    public static async Task<int> Status(string dataDir)
    {
        if (RunningUp(dataDir) is not { } upPid)
        {
            Console.WriteLine($"actorcluster status: no cluster running on {dataDir}" + (Directory.Exists(dataDir) ? " (start it with: actorcluster up)" : ""));
            return 1;
        }
        var started = File.GetLastWriteTimeUtc(Path.Combine(dataDir, "up.pid"));
        var nodes = Directory.Exists(Path.Combine(dataDir, "nodes"))
            ? Directory.GetFiles(Path.Combine(dataDir, "nodes"), "*.pid").Select(Path.GetFileNameWithoutExtension).OfType<string>()
                .Select(n => (Name: n, Index: int.TryParse(n.Replace("k8s-worker", "", StringComparison.Ordinal), NumberStyles.None, CultureInfo.InvariantCulture, out var i) ? i : 0))
                .Where(n => n.Index > 0).OrderBy(n => n.Index).ToList()
            : [];
        using var api = new LocalApi(dataDir);
        var ready = new HashSet<string>();
        foreach (var (_, index) in nodes)
        {
            ready.UnionWith(await api.ReadyNodes(LocalCluster.Address(index), DefaultPorts.Api));
            if (ready.Count > 0) break;
        }
        Console.WriteLine($"cluster:    running (up pid {upPid}, up {Uptime(DateTime.UtcNow - started)})");
        Console.WriteLine($"data dir:   {dataDir}");
        Console.WriteLine($"kubeconfig: {Path.Combine(dataDir, "kubeconfig")}   (export KUBECONFIG=...)");
        Console.WriteLine();
        Console.WriteLine($"{"NODE",-14}{"PID",-9}{"ADDRESS",-12}{"API",-24}{"STATUS",-10}APISERVER");
        foreach (var (name, index) in nodes)
        {
            var pidText = File.ReadAllText(Path.Combine(dataDir, "nodes", name + ".pid")).Trim();
            var alive = int.TryParse(pidText, NumberStyles.None, CultureInfo.InvariantCulture, out var pid) && Posix.Alive(pid);
            var address = LocalCluster.Address(index);
            var hosts = alive ? await api.HostsApiServer(address, DefaultPorts.Api) : null;
            var state = !alive ? "down" : ready.Contains(name) ? "Ready" : "NotReady";
            Console.WriteLine($"{name,-14}{(alive ? pidText : "-"),-9}{address,-12}{$"https://{address}:{DefaultPorts.Api}",-24}{state,-10}{(hosts == true ? "yes" : "")}");
        }
        return nodes.Count > 0 && nodes.All(n => ready.Contains(n.Name)) ? 0 : 3;
    }

    private static string Uptime(TimeSpan t) =>
        t.TotalHours >= 1 ? $"{(int)t.TotalHours}h{t.Minutes:00}m" : t.TotalMinutes >= 1 ? $"{(int)t.TotalMinutes}m{t.Seconds:00}s" : $"{(int)t.TotalSeconds}s";

    /// <summary><c>down</c>: SIGTERM to the running <c>up</c> (it stops its nodes gracefully) and a bounded wait for it to end.</summary>
    public static async Task<int> Down(string dataDir)
    {
        if (RunningUp(dataDir) is not { } pid)
        {
            Console.WriteLine($"actorcluster down: no cluster running on {dataDir}");
            return 0;
        }
        if (pid <= 0)
        {
            Console.Error.WriteLine($"actorcluster down: a cluster holds {dataDir} but its pid is unknown ({Path.Combine(dataDir, "up.pid")} is missing)");
            return 1;
        }
        Console.WriteLine($"actorcluster down: stopping the cluster on {dataDir} (up pid {pid})");
        Posix.Terminate(pid);
        var deadline = DateTime.UtcNow + DownWait;
        while (RunningUp(dataDir) is not null)
        {
            if (DateTime.UtcNow > deadline)
            {
                Console.Error.WriteLine($"actorcluster down: still running after {DownWait.TotalSeconds:0} s; see {Path.Combine(dataDir, "logs")}");
                return 1;
            }
            await Task.Delay(200);
        }
        Console.WriteLine("actorcluster down: stopped");
        return 0;
    }

    /// <summary>
    /// <c>reset</c>: removes the data directory (database, CA, token, kubeconfig, logs) after a confirmation, or with
    /// --yes. Refused while a cluster runs on it, and for a directory that is not a cluster's.
    /// </summary>
    public static int Reset(string dataDir, bool yes, TextReader input, bool interactive)
    {
        if (!Directory.Exists(dataDir))
        {
            Console.WriteLine($"actorcluster reset: nothing to remove ({dataDir} does not exist)");
            return 0;
        }
        if (RunningUp(dataDir) is not null)
        {
            Console.Error.WriteLine($"actorcluster reset: a cluster is running on {dataDir}; stop it first: actorcluster down --data-dir {dataDir}");
            return 1;
        }
        // Only what a cluster leaves behind: never a home directory given by mistake.
        var marks = new[] { "actorcluster.db", "up.lock", "secrets.lock", "kubeconfig", "ca.crt" };
        if (!marks.Any(m => File.Exists(Path.Combine(dataDir, m))))
        {
            Console.Error.WriteLine($"actorcluster reset: {dataDir} is not an ActorCluster data directory (none of {string.Join(", ", marks)}); nothing removed");
            return 1;
        }
        if (!yes)
        {
            if (!interactive)
            {
                Console.Error.WriteLine($"actorcluster reset: would remove {dataDir}; confirm with --yes (no terminal to ask on)");
                return 1;
            }
            Console.Write($"Remove {dataDir} (the cluster's objects, CA, token, kubeconfig and logs)? [y/N] ");
            var answer = input.ReadLine()?.Trim();
            if (answer is not ("y" or "Y" or "yes"))
            {
                Console.WriteLine("actorcluster reset: nothing removed");
                return 1;
            }
        }
        Directory.Delete(dataDir, recursive: true);
        Console.WriteLine($"actorcluster reset: removed {dataDir}");
        return 0;
    }
}
