using System.Diagnostics;
using System.Globalization;
using System.Text.RegularExpressions;
using ActorCluster.Cluster.ApiServer;
using ActorCluster.Cluster.Hosting;
using ActorCluster.Cluster.Node;
using Akka.Actor;

namespace ActorCluster.Benchmarks;

/// <summary>
/// The data plane's figures (issue "Data plane"): wrk through the NodePort vs straight to the pod vs HAProxy
/// <c>mode tcp</c> in front of the same pod, keep-alive and one request per connection; then the cost of a new
/// connection with 10 and with 10,000 services. One node in this process whose relay carries its NodePort, and, where
/// this process may program nftables (root; run it inside <c>unshare --net</c> to keep the rules off the host), a
/// second single-node cluster in nftables mode whose NodePort the kernel carries; wrk and HAProxy as their own
/// processes, all on this machine's loopback.
/// </summary>
internal static partial class DataPlaneBenchmark
{
    private const string NodeAddress = "127.0.1.51";
    private const string HaproxyAddress = "127.0.1.52";
    private const string BackendAddress = "127.0.1.53";
    private const string KernelNodeAddress = "127.0.1.54";
    private const int NodePort = 30080;
    private static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(60);

    private sealed record WrkResult(double RequestsPerSecond, double P50Ms, double P99Ms, long Errors, long Requests)
    {
        /// <summary>CPU time the process in the path (backend, HAProxy or node) spent per request, in microseconds.</summary>
        public double CpuUsPerRequest { get; init; }

        /// <summary>Garbage collections in this process (the node's) during the run: (gen0, gen1, gen2).</summary>
        public string Collections { get; init; } = "";
    }

    public static async Task RunAsync(int seconds, int connections, int rounds, string phase = "all")
    {
        if (phase is not ("all" or "keep-alive" or "close" or "services")) throw new ArgumentException($"unknown phase {phase}: keep-alive, close, services or all");
        foreach (var tool in new[] { "wrk", "haproxy" })
        {
            if (Which(tool) is null) throw new InvalidOperationException($"{tool} is not installed: apt-get install -y wrk haproxy");
        }
        var dataDir = Path.Combine(Path.GetTempPath(), "actorcluster-bench", Guid.NewGuid().ToString("N"));
        Console.WriteLine($"data-plane benchmark: wrk -t2 -c{connections} -d{seconds}s, {rounds} round(s) interleaved, the median round reported; {Environment.ProcessorCount} cores, .NET {Environment.Version}");
        var kernelRefusal = Environment.GetEnvironmentVariable("ACTORCLUSTER_BENCH_NFTABLES") == "off" ? "ACTORCLUSTER_BENCH_NFTABLES=off" : Proxy.Linux.NftablesProxier.Probe();
        Console.WriteLine(kernelRefusal is null ? "nftables: a second node in nftables mode at " + KernelNodeAddress : $"nftables: not measured ({kernelRefusal})");
        var nodes = new List<(string Name, ActorClusterNode Node, string Address)>
        {
            ("ActorCluster NodePort", await StartNode("k8s-worker1", NodeAddress, Path.Combine(dataDir, "relay"), "127.198", "userspace"), NodeAddress),
        };
        if (kernelRefusal is null)
            nodes.Add(("NodePort (nftables)", await StartNode("k8s-worker9", KernelNodeAddress, Path.Combine(dataDir, "kernel"), "127.197", "nftables"), KernelNodeAddress));
        Process? haproxy = null;
        Process? backend = null;
        try
        {
            // The backend is its own process (kubetm/app's server), in front of which all paths are measured; the
            // Service has no selector and a hand-written EndpointSlice, as for any workload outside the cluster.
            backend = StartBackend();
            await Bench.Until(() => Answers($"http://{BackendAddress}:8080/hostname"), TimeSpan.FromSeconds(30));
            foreach (var (_, node, address) in nodes)
            {
                await ExposeBackend(node.ApiServer, "backend", NodePort);
                await Bench.Until(() => Answers($"http://{address}:{NodePort}/hostname"), TimeSpan.FromMinutes(1));
            }

            haproxy = StartHaproxy(dataDir, BackendAddress);
            await Bench.Until(() => Answers($"http://{HaproxyAddress}:8090/hostname"), TimeSpan.FromSeconds(30));

            // Each path with the process whose CPU time it costs: per request, that is the steadiest figure of the run
            // (the kernel's DNAT costs no process: its CPU is in softirq, counted for none of them).
            var targets = new List<(string Name, string Url, int Pid)>
            {
                ("direct to the backend", $"http://{BackendAddress}:8080/hostname", backend.Id),
                ("HAProxy mode tcp", $"http://{HaproxyAddress}:8090/hostname", haproxy.Id),
            };
            targets.AddRange(nodes.Select(n => (n.Name, $"http://{n.Address}:{NodePort}/hostname", Environment.ProcessId)));
            // Warm-up: every path JIT-compiled and at its steady tier before anything is measured.
            foreach (var (_, url, _) in targets) await Wrk(url, keepAlive: true, 2, connections);
            foreach (var keepAlive in new[] { true, false }.Where(k => phase == "all" || phase == (k ? "keep-alive" : "close")))
            {
                Console.WriteLine(keepAlive ? "keep-alive:" : "one request per connection (Connection: close):");
                // Rounds interleave the paths so that a slow moment of the machine hits all of them, each round starting
                // one path later (A B C D, B C D A, ...): no path always follows the same one (the relay's run leaves
                // this process busy for a moment, which a path right after it would always pay).
                var runs = targets.ToDictionary(t => t.Name, _ => new List<WrkResult>());
                for (var round = 0; round < rounds; round++)
                {
                    foreach (var (name, url, pid) in targets.Skip(round % targets.Count).Concat(targets.Take(round % targets.Count)))
                    {
                        await EmptyConnectionTracking();
                        runs[name].Add(await Measured(url, keepAlive, seconds, connections, pid));
                    }
                }
                var results = new Dictionary<string, WrkResult>();
                foreach (var (name, _, _) in targets)
                {
                    var r = Median(runs[name]);
                    results[name] = r;
                    Console.WriteLine($"  {name,-22} {r.RequestsPerSecond,9:0} req/s  p50 {r.P50Ms,6:0.00} ms  p99 {r.P99Ms,6:0.00} ms  {r.CpuUsPerRequest,5:0.0} us CPU/req  errors {r.Errors}{r.Collections}   (rounds: {string.Join(", ", runs[name].Select(x => x.RequestsPerSecond.ToString("0", CultureInfo.InvariantCulture)))})");
                }
                var d = results["direct to the backend"];
                var h = results["HAProxy mode tcp"];
                var n = results["ActorCluster NodePort"];
                Console.WriteLine($"  NodePort / HAProxy: {n.RequestsPerSecond / h.RequestsPerSecond:0.00}x requests/s, {n.P99Ms / h.P99Ms:0.00}x p99 (targets >= 0.9x, <= 1.5x), {n.CpuUsPerRequest / h.CpuUsPerRequest:0.00}x CPU per request");
                if (results.TryGetValue("NodePort (nftables)", out var k))
                    Console.WriteLine($"  NodePort (nftables) / direct: {k.RequestsPerSecond / d.RequestsPerSecond:0.00}x requests/s, {k.P99Ms / d.P99Ms:0.00}x p99 (targets >= 0.9x, <= 1.2x)");
            }

            // New-connection cost against the number of services: 10, then 10,000 (a ClusterIP listener each for the
            // relay, a map element each for nftables), and for nftables how long one more Service takes to answer.
            if (phase is not ("all" or "services")) return;
            foreach (var (name, node, address) in nodes) await ServicesPhase(name, node, address, seconds, connections, rounds);
        }
        finally
        {
            foreach (var p in new[] { haproxy, backend })
            {
                if (p is null) continue;
                p.Kill();
                await p.WaitForExitAsync();
            }
            foreach (var (_, node, _) in nodes) await node.DisposeAsync();
            Directory.Delete(dataDir, recursive: true);
        }
    }

    private static async Task<ActorClusterNode> StartNode(string name, string address, string dataDir, string podPrefix, string proxyMode)
    {
        var node = await ActorClusterNode.StartAsync(new NodeOptions
        {
            Name = name, Address = address, Port = 0, DataDir = dataDir, PodNetworkPrefix = podPrefix,
            ExtraHocon = $"akka.loglevel = WARNING\nakka.stdout-loglevel = WARNING\nactorcluster.proxy.mode = {proxyMode}",
        });
        await Bench.Until(async () => await node.ApiServer.Ask<object>(new GetObject("nodes", null, name), AskTimeout) is ObjectReply, TimeSpan.FromMinutes(1));
        return node;
    }

    /// <summary>A NodePort Service without a selector and a hand-written EndpointSlice naming the backend process.</summary>
    private static async Task ExposeBackend(IActorRef api, string name, int nodePort)
    {
        await Create(api, "services", $$$"""{"apiVersion":"v1","kind":"Service","metadata":{"name":"{{{name}}}"},"spec":{"type":"NodePort","ports":[{"port":80,"targetPort":8080,"nodePort":{{{nodePort}}}}]}}""");
        await Create(api, "endpointslices", $$$"""{"apiVersion":"discovery.k8s.io/v1","kind":"EndpointSlice","metadata":{"name":"{{{name}}}-1","labels":{"kubernetes.io/service-name":"{{{name}}}"}},"addressType":"IPv4","ports":[{"name":"","port":8080,"protocol":"TCP"}],"endpoints":[{"addresses":["{{{BackendAddress}}}"],"conditions":{"ready":true}}]}""");
    }

    private static async Task ServicesPhase(string name, ActorClusterNode node, string address, int seconds, int connections, int rounds)
    {
        // Rounds alternate between 10 and 10,000 Services (9,990 created, measured, deleted, measured, ...), so the
        // machine's drift over minutes falls on both counts alike; each pair of rounds gives one ratio.
        Console.WriteLine($"{name}: new connections (Connection: close) with 10 and with 10,000 services, {rounds} interleaved round(s):");
        var api = node.ApiServer;
        var url = $"http://{address}:{NodePort}/hostname";
        var runs = new Dictionary<int, List<WrkResult>> { [10] = [], [10_000] = [] };
        var others = 0; // other-1 .. other-N exist; with the backend's Service, N + 1 Services
        for (var round = 0; round < rounds; round++)
        {
            foreach (var total in new[] { 10, 10_000 })
            {
                var sw = Stopwatch.StartNew();
                await Bench.ForEachConcurrent(Enumerable.Range(others + 1, Math.Max(0, total - 1 - others)), 64, i =>
                    Create(api, "services", $$$"""{"apiVersion":"v1","kind":"Service","metadata":{"name":"other-{{{i}}}"},"spec":{"selector":{"app":"other-{{{i}}}"},"ports":[{"port":80,"targetPort":8080}]}}"""));
                await Bench.ForEachConcurrent(Enumerable.Range(total, Math.Max(0, others - (total - 1))), 64, i => Delete(api, "services", $"other-{i}"));
                others = total - 1;
                // The backend's Service has two addresses (ClusterIP and NodePort), every other one its ClusterIP.
                await Bench.Until(async () => (await node.ServiceProxy.Ask<Cluster.Proxy.ProxyListeners>(Cluster.Proxy.GetProxyListeners.Instance, AskTimeout)).Bound.Count == total + 1,
                    TimeSpan.FromMinutes(5));
                var setUp = sw.Elapsed;
                // The addresses are served before the control plane is done (an EndpointSlice per selector Service is
                // still being written, applied or removed): measure once the node is quiet again, below a tenth of a core.
                var idle = 1.0;
                await Bench.Until(async () =>
                {
                    var from = CpuTime(Environment.ProcessId);
                    await Task.Delay(TimeSpan.FromSeconds(1));
                    idle = (CpuTime(Environment.ProcessId) - from) / TimeSpan.FromSeconds(1);
                    return idle < 0.1;
                }, TimeSpan.FromMinutes(5), "the node quiet after changing the services");
                var settled = sw.Elapsed;
                await EmptyConnectionTracking();
                var r = await Measured(url, keepAlive: false, seconds, connections, Environment.ProcessId);
                runs[total].Add(r);
                Console.WriteLine($"  round {round + 1}: {total,6} services (served in {setUp.TotalSeconds:0.0} s, quiet after {settled.TotalSeconds:0.0} s at {idle:P0} of a core): {r.RequestsPerSecond,9:0} conn/s  p50 {r.P50Ms,6:0.00} ms  p99 {r.P99Ms,6:0.00} ms  {r.CpuUsPerRequest,5:0.0} us CPU/req  errors {r.Errors}{r.Collections}");
            }
        }
        var few = Median(runs[10]);
        var many = Median(runs[10_000]);
        var pairs = runs[10].Zip(runs[10_000], (a, b) => (b.RequestsPerSecond / a.RequestsPerSecond).ToString("0.00", CultureInfo.InvariantCulture));
        Console.WriteLine($"  medians: 10 services {few.RequestsPerSecond:0} conn/s (p50 {few.P50Ms:0.00} ms), 10,000 services {many.RequestsPerSecond:0} conn/s (p50 {many.P50Ms:0.00} ms)");
        Console.WriteLine($"  10,000 / 10 services: {many.RequestsPerSecond / few.RequestsPerSecond:0.00}x connections/s, {many.P50Ms / few.P50Ms:0.00}x p50 (target within 10%); per round pair: {string.Join(", ", pairs)}");

        // One more Service with 10,000 in place: from the create's answer to its NodePort answering, five times.
        var applied = new List<double>();
        for (var i = 0; i < 5; i++)
        {
            var sw = Stopwatch.StartNew();
            await ExposeBackend(api, $"probe-{i}", 31000 + i);
            await Bench.Until(() => Answers($"http://{address}:{31000 + i}/hostname"), TimeSpan.FromMinutes(1));
            applied.Add(sw.Elapsed.TotalMilliseconds);
        }
        var counters = await node.ServiceProxy.Ask<Cluster.Proxy.ProxyCounters>(Cluster.Proxy.GetProxyCounters.Instance, AskTimeout);
        applied.Sort();
        Console.WriteLine($"  one more Service with 10,000 in place, create to answering: median {applied[2]:0} ms (runs {string.Join(", ", applied.Select(a => a.ToString("0", CultureInfo.InvariantCulture)))} ms; "
                          + $"includes the write, the replica and min-sync-period){(counters.Mode == "nftables" ? $"; the last nft transaction took {counters.KernelLastTransactionMs:0.0} ms" : "")}");
    }

    /// <summary>This program again, as <c>backend</c>: kubetm/app's HTTP server alone at BackendAddress:8080.</summary>
    private static Process StartBackend()
    {
        var p = Process.Start(new ProcessStartInfo(Environment.ProcessPath!, ["backend", BackendAddress, "8080"]) { RedirectStandardInput = true })!;
        return p;
    }

    /// <summary>The backend process: serves until killed (or until its standard input closes).</summary>
    public static async Task RunBackendAsync(string address, int port)
    {
        await using var app = Cluster.Workloads.KubetmApp.Start(new Cluster.Workloads.PodIdentity("backend", "default", address, "external"), port);
        await Console.In.ReadToEndAsync();
    }

    private static async Task Delete(IActorRef api, string resource, string name)
    {
        var reply = await api.Ask<object>(new DeleteObject(resource, "default", name, 0), AskTimeout);
        if (reply is not ObjectReply) throw new InvalidOperationException(reply.ToString());
    }

    private static async Task Create(IActorRef api, string resource, string json)
    {
        var reply = await api.Ask<object>(new CreateObject(resource, "default", json), AskTimeout);
        if (reply is not ObjectReply) throw new InvalidOperationException(reply.ToString());
    }

    /// <summary>HAProxy 2.6 in mode tcp with one server, configured like the NodePort (no health checks, no logging).</summary>
    private static Process StartHaproxy(string dataDir, string backend)
    {
        var config = Path.Combine(dataDir, "haproxy.cfg");
        File.WriteAllText(config, $"""
            global
              maxconn 8000
            defaults
              mode tcp
              timeout connect 5s
              timeout client 60s
              timeout server 60s
            listen backend
              bind {HaproxyAddress}:8090
              server backend {backend}:8080

            """);
        var p = Process.Start(new ProcessStartInfo("haproxy", ["-db", "-f", config]) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        p.OutputDataReceived += (_, _) => { };
        p.ErrorDataReceived += (_, _) => { };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return p;
    }

    /// <summary>The round with the median requests/s (its own latencies), errors summed over the rounds.</summary>
    private static WrkResult Median(List<WrkResult> runs)
    {
        var sorted = runs.OrderBy(r => r.RequestsPerSecond).ToList();
        return sorted[(sorted.Count - 1) / 2] with { Errors = runs.Sum(r => r.Errors) };
    }

    private static async Task<WrkResult> Median(string url, bool keepAlive, int seconds, int connections, int rounds, int pid)
    {
        var runs = new List<WrkResult>();
        for (var i = 0; i < rounds; i++) runs.Add(await Measured(url, keepAlive, seconds, connections, pid));
        return Median(runs);
    }

    /// <summary>
    /// Empties the connection-tracking table before a measurement: every path's connections are tracked once any NAT
    /// rule exists in the namespace, and one request per connection leaves ~10^5 TIME_WAIT entries per 10 s (each kept
    /// 120 s, near nf_conntrack_max), a burden on whichever path runs next. Only in a network namespace of the harness's
    /// own: the host's table is never touched.
    /// </summary>
    private static async Task EmptyConnectionTracking()
    {
        if (!InPrivateNetworkNamespace()) return;
        using var flush = Process.Start(new ProcessStartInfo("conntrack", ["-F"]) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        await flush.WaitForExitAsync();
    }

    /// <summary>One wrk run, with the CPU time <paramref name="pid"/> spent per request meanwhile.</summary>
    private static async Task<WrkResult> Measured(string url, bool keepAlive, int seconds, int connections, int pid)
    {
        var cpu = CpuTime(pid);
        var gcs = new[] { GC.CollectionCount(0), GC.CollectionCount(1), GC.CollectionCount(2) };
        var r = await Wrk(url, keepAlive, seconds, connections);
        return r with
        {
            CpuUsPerRequest = (CpuTime(pid) - cpu).TotalMicroseconds / Math.Max(1, r.Requests),
            Collections = pid == Environment.ProcessId ? $"  GCs {GC.CollectionCount(0) - gcs[0]}/{GC.CollectionCount(1) - gcs[1]}/{GC.CollectionCount(2) - gcs[2]}" : "",
        };
    }

    private static async Task<WrkResult> Wrk(string url, bool keepAlive, int seconds, int connections)
    {
        var args = new List<string> { "-t2", $"-c{connections}", $"-d{seconds}s", "--latency", "--timeout", "5s" };
        if (!keepAlive) args.AddRange(["-H", "Connection: close"]);
        args.Add(url);
        var p = Process.Start(new ProcessStartInfo("wrk", args) { RedirectStandardOutput = true, RedirectStandardError = true })!;
        var output = await p.StandardOutput.ReadToEndAsync();
        await p.WaitForExitAsync();
        if (p.ExitCode != 0) throw new InvalidOperationException("wrk failed: " + output + await p.StandardError.ReadToEndAsync());
        var rps = double.Parse(RequestsPerSec().Match(output).Groups[1].Value, CultureInfo.InvariantCulture);
        var errors = SocketErrors().Matches(output).Sum(m => long.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture));
        var non2xx = Non2xx().Match(output);
        if (non2xx.Success) errors += long.Parse(non2xx.Groups[1].Value, CultureInfo.InvariantCulture);
        var requests = long.Parse(TotalRequests().Match(output).Groups[1].Value, CultureInfo.InvariantCulture);
        return new WrkResult(rps, Percentile(output, "50%"), Percentile(output, "99%"), errors, requests);
    }

    /// <summary>A latency line of wrk's distribution ("99%    1.23ms") in milliseconds.</summary>
    private static double Percentile(string output, string label)
    {
        var m = Regex.Match(output, $@"^\s*{Regex.Escape(label)}\s+([0-9.]+)(us|ms|s)\s*$", RegexOptions.Multiline);
        var v = double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
        return m.Groups[2].Value switch { "us" => v / 1000, "s" => v * 1000, _ => v };
    }

    [GeneratedRegex(@"(\d+) requests in ")]
    private static partial Regex TotalRequests();

    /// <summary>User + system CPU time of a process so far (/proc/PID/stat, in clock ticks of 10 ms).</summary>
    private static TimeSpan CpuTime(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' '); // after "pid (comm) ": field 3 onwards
        var ticks = long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
        return TimeSpan.FromMilliseconds(ticks * 10);
    }

    [GeneratedRegex(@"Requests/sec:\s+([0-9.]+)")]
    private static partial Regex RequestsPerSec();

    [GeneratedRegex(@"(?:connect|read|write|timeout) (\d+)")]
    private static partial Regex SocketErrors();

    [GeneratedRegex(@"Non-2xx or 3xx responses: (\d+)")]
    private static partial Regex Non2xx();

    private static async Task<bool> Answers(string url)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) };
        try
        {
            return (await http.GetAsync(url)).IsSuccessStatusCode;
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or System.Net.Sockets.SocketException or IOException)
        {
            // (A connection reset while HttpClient sets it up surfaces as a bare SocketException.)
            return false;
        }
    }

    /// <summary>Whether this process runs in a network namespace other than the host's (pid 1's), e.g. under <c>unshare --net</c>.</summary>
    private static bool InPrivateNetworkNamespace()
    {
        try
        {
            return new FileInfo("/proc/self/ns/net").LinkTarget != new FileInfo("/proc/1/ns/net").LinkTarget;
        }
        catch (UnauthorizedAccessException)
        {
            return false;
        }
    }

    private static string? Which(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Select(d => Path.Combine(d, tool)).FirstOrDefault(File.Exists);
}
