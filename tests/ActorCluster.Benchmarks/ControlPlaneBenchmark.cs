using System.Diagnostics;
using ActorCluster.Cluster.ApiServer;
using ActorCluster.Cluster.Hosting;
using ActorCluster.Cluster.Node;
using ActorCluster.Cluster.Replica;
using ActorCluster.Core.Objects;
using Akka.Actor;
using k8s.Models;

namespace ActorCluster.Benchmarks;

/// <summary>
/// The control plane's figures (issue "Control plane on Akka.Cluster"): durable creates per second, commit ->
/// applied latency on every node, recovery time and memory, on a real cluster of ActorSystems in this process
/// with the embedded SQLite journal.
/// </summary>
internal static class ControlPlaneBenchmark
{
    private static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(60);

    /// <summary>Concurrent writers, as many kubectl/controller clients would be (ACTORCLUSTER_BENCH_INFLIGHT).</summary>
    private static readonly int InFlight = int.TryParse(Environment.GetEnvironmentVariable("ACTORCLUSTER_BENCH_INFLIGHT"), out var n) ? n : 64;

    /// <summary>
    /// ACTORCLUSTER_BENCH_DATAPLANE=off stops every node's service proxy before the creates: the control plane alone.
    /// All nodes share this process's two cores, so each node's listeners (3 per Service here) cost the writers too.
    /// </summary>
    private static readonly bool DataPlane = Environment.GetEnvironmentVariable("ACTORCLUSTER_BENCH_DATAPLANE") != "off";

    /// <summary>
    /// Creates before the measured ones (ACTORCLUSTER_BENCH_WARMUP, default 2,000), in a namespace of their own, then
    /// deleted (so their listeners do not count against the open-file limit): a node that has just started still
    /// compiles its hot paths (a profile of the first 20 s showed ~20% of the CPU in the JIT), and a control plane's
    /// throughput is what it sustains once running. Both figures are printed.
    /// </summary>
    private static readonly int WarmUp = int.TryParse(Environment.GetEnvironmentVariable("ACTORCLUSTER_BENCH_WARMUP"), out var w) ? w : 2000;

    public static async Task RunAsync(int services, int pods, int nodes, int changes)
    {
        var dataDir = Path.Combine(Path.GetTempPath(), "actorcluster-bench", Guid.NewGuid().ToString("N"));
        Console.WriteLine($"control-plane benchmark: {nodes} nodes in one process, SQLite at {dataDir}");
        Console.WriteLine($"machine: {Environment.ProcessorCount} cores, .NET {Environment.Version}");
        var baseline = Rss();
        var cluster = await StartCluster(nodes, dataDir, seedOf: null);
        try
        {
            var api = cluster[0].ApiServer;
            Console.WriteLine($"data planes: {(DataPlane ? "running (every node binds every Service's listeners)" : "stopped (control plane alone)")}");
            if (!DataPlane) foreach (var n in cluster) n.System.Stop(n.ServiceProxy);

            // 1. Durable creates: many in flight, each acknowledged only after its event is written.
            if (WarmUp > 0)
            {
                if (await api.Ask<object>(new CreateObject("namespaces", "", """{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"warm-up"}}"""), AskTimeout) is not ObjectReply)
                    throw new InvalidOperationException("the warm-up namespace was not created");
                var cold = await Timed(WarmUp, i => new CreateObject("services", "warm-up", ServiceJson(i)));
                Console.WriteLine($"warm-up: {WarmUp} services in another namespace in {cold.TotalSeconds:0.00} s = {WarmUp / cold.TotalSeconds:0} creates/s (a node just started)");
                var deleted = await Timed(WarmUp, i => new DeleteObject("services", "warm-up", $"bench-{i}", null));
                Console.WriteLine($"warm-up: deleted again at {WarmUp / deleted.TotalSeconds:0} deletes/s");
            }
            var elapsed = await Timed(services, i => new CreateObject("services", "default", ServiceJson(i)));
            Console.WriteLine($"creates: {services} services in {elapsed.TotalSeconds:0.00} s = {services / elapsed.TotalSeconds:0} creates/s (durable, {InFlight} in flight)");

            // Sends count requests, InFlight at a time, each acknowledged only once its change is durable.
            async Task<TimeSpan> Timed(int count, Func<int, object> request)
            {
                var watch = Stopwatch.StartNew();
                await Bench.ForEachConcurrent(Enumerable.Range(0, count), InFlight, async i =>
                {
                    var reply = await api.Ask<object>(request(i), AskTimeout);
                    if (reply is not ObjectReply) throw new InvalidOperationException(reply.ToString());
                });
                return watch.Elapsed;
            }

            // 2. Propagation: changes one after another; every node's replica records commit -> applied.
            await WaitReplicas(cluster);
            foreach (var n in cluster) await n.Replica.Ask<ReplicaStats>(ResetReplicaStats.Instance, AskTimeout);
            var target = KubeObjects.FromJson<V1Service>(((ObjectReply)await api.Ask<object>(new GetObject("services", "default", "bench-0"), AskTimeout)).Json);
            // The nodes share this process: a garbage collection pauses all of them at once, so the phase reports its own.
            var (gcPause, gen2, gen1) = (GC.GetTotalPauseDuration(), GC.CollectionCount(2), GC.CollectionCount(1));
            // Whether a snapshot of the store was saved during the phase (one falls every max(snapshot-every, objects/4) events).
            var snapshotBefore = await LatestSnapshot(cluster[0].System);
            using var stalls = new StallWatch(TimeSpan.FromMilliseconds(40));
            for (var i = 0; i < changes; i++)
            {
                target.Metadata.Labels = new Dictionary<string, string> { ["round"] = i.ToString(System.Globalization.CultureInfo.InvariantCulture) };
                target.Metadata.ResourceVersion = null;
                var reply = await api.Ask<object>(new UpdateObject("services", "default", "bench-0", KubeObjects.ToJson(target), false), AskTimeout);
                if (reply is not ObjectReply) throw new InvalidOperationException(reply.ToString());
            }
            await WaitReplicas(cluster);
            Console.WriteLine($"propagation phase: GC paused the process {(GC.GetTotalPauseDuration() - gcPause).TotalMilliseconds:0} ms in all " +
                              $"({GC.CollectionCount(2) - gen2} gen2 and {GC.CollectionCount(1) - gen1 - (GC.CollectionCount(2) - gen2)} gen1 collections); " +
                              $"the process stopped: {stalls.Summary()}");
            var snapshotAfter = await LatestSnapshot(cluster[0].System);
            Console.WriteLine(snapshotAfter == snapshotBefore
                ? "propagation phase: no snapshot of the store was saved during it"
                : $"propagation phase: a snapshot of the store was saved during it (at sequence number {snapshotAfter}; before it: {snapshotBefore})");
            foreach (var n in cluster)
            {
                var s = await n.Replica.Ask<ReplicaStats>(GetReplicaStats.Instance, AskTimeout);
                Console.WriteLine($"propagation on {n.Options.Name}: {s.ChangesApplied} changes, p50 {s.P50Ms:0} ms, p99 {s.P99Ms:0} ms, max {s.MaxMs:0} ms");
            }

            // 3. Pods: running workloads spread over the nodes.
            if (pods > 0)
            {
                var sw = Stopwatch.StartNew();
                await Bench.ForEachConcurrent(Enumerable.Range(0, pods), 32, async i =>
                {
                    var reply = await api.Ask<object>(new CreateObject("pods", "default", PodJson(i)), AskTimeout);
                    if (reply is not ObjectReply) throw new InvalidOperationException(reply.ToString());
                });
                await Bench.Until(async () =>
                {
                    var running = 0;
                    foreach (var n in cluster) running += (await n.Agent.Ask<RunningPods>(GetRunningPods.Instance, AskTimeout)).IPsByPod.Count;
                    return running == pods;
                }, TimeSpan.FromMinutes(5));
                Console.WriteLine($"pods: {pods} running in {sw.Elapsed.TotalSeconds:0.0} s");
            }
            await WaitReplicas(cluster);
            GC.Collect();
            GC.WaitForPendingFinalizers();
            GC.Collect();
            var rss = Rss();
            Console.WriteLine($"memory: process RSS {rss / 1048576.0:0} MiB ({baseline / 1048576.0:0} MiB before start), managed heap {GC.GetTotalMemory(false) / 1048576.0:0} MiB; " +
                              $"per node ~{(rss - baseline) / 1048576.0 / nodes:0} MiB with {services} services and {pods} pods ({pods / Math.Max(1, nodes)} per node)");
        }
        finally
        {
            for (var i = cluster.Count - 1; i >= 0; i--) await cluster[i].DisposeAsync();
        }

        // 4. Recovery: a fresh node on the same database, until the ApiServer answers for the newest object.
        var sw2 = Stopwatch.StartNew();
        var single = await StartCluster(1, dataDir, seedOf: null, waitForNodes: false);
        try
        {
            await Bench.Until(async () =>
                await single[0].ApiServer.Ask<object>(new GetObject("services", "default", $"bench-{services - 1}"), AskTimeout) is ObjectReply,
                TimeSpan.FromMinutes(5));
            Console.WriteLine($"recovery: {services + pods} user objects (plus endpoints, slices, events) answered {sw2.Elapsed.TotalSeconds:0.00} s after start, node start included");
        }
        finally
        {
            await single[0].DisposeAsync();
            Directory.Delete(dataDir, recursive: true);
        }
    }

    // Service i selects pod i (if there is one): each pod belongs to one service, as is usual.
    private static string ServiceJson(int i) =>
        $$$"""{"apiVersion":"v1","kind":"Service","metadata":{"name":"bench-{{{i}}}"},"spec":{"selector":{"app":"bench-{{{i}}}"},"ports":[{"port":80,"targetPort":8080}]}}""";

    private static string PodJson(int i) =>
        $$$"""{"apiVersion":"v1","kind":"Pod","metadata":{"name":"bench-pod-{{{i}}}","labels":{"app":"bench-{{{i}}}"}},"spec":{"containers":[{"name":"app","image":"kubetm/app","ports":[{"containerPort":8080}]}]}}""";

    /// <summary>The sequence number of the ApiServer's newest snapshot (0: none), from the snapshot store all nodes share.</summary>
    private static async Task<long> LatestSnapshot(ActorSystem system)
    {
        var store = Akka.Persistence.Persistence.Instance.Apply(system).SnapshotStoreFor(null);
        var reply = await store.Ask<object>(new Akka.Persistence.LoadSnapshot(ApiServerActor.PersistenceIdValue, Akka.Persistence.SnapshotSelectionCriteria.Latest, long.MaxValue), AskTimeout);
        return reply is Akka.Persistence.LoadSnapshotResult { Snapshot: { } snapshot } ? snapshot.Metadata.SequenceNr : 0;
    }

    private static long Rss()
    {
        foreach (var line in File.ReadLines("/proc/self/status"))
        {
            if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                return long.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], System.Globalization.CultureInfo.InvariantCulture) * 1024;
        }
        return 0;
    }

    internal static async Task<List<ActorClusterNode>> StartCluster(int count, string dataDir, string? seedOf, bool waitForNodes = true,
        Func<NodeOptions, Task<ActorClusterNode>>? starter = null)
    {
        var nodes = new List<ActorClusterNode>();
        for (var i = 1; i <= count; i++)
        {
            var seeds = nodes.Count == 0 ? [] : new[] { $"{nodes[0].SelfAddress.Host}:{nodes[0].SelfAddress.Port}" };
            nodes.Add(await (starter ?? (o => ActorClusterNode.StartAsync(o)))(new NodeOptions
            {
                Name = $"k8s-worker{i}", Address = $"127.0.10.{i}", Port = 0, Seeds = seeds, DataDir = dataDir,
                PodNetworkPrefix = "127.199", ExtraHocon = "akka.loglevel = WARNING\nakka.stdout-loglevel = WARNING",
            }));
        }
        if (waitForNodes)
        {
            await Bench.Until(async () =>
            {
                for (var i = 1; i <= count; i++)
                {
                    if (await nodes[0].ApiServer.Ask<object>(new GetObject("nodes", null, $"k8s-worker{i}"), AskTimeout) is not ObjectReply) return false;
                }
                return true;
            }, TimeSpan.FromMinutes(2));
        }
        return nodes;
    }

    private static async Task WaitReplicas(List<ActorClusterNode> cluster)
    {
        await Bench.Until(async () =>
        {
            var rvs = new List<long>();
            foreach (var n in cluster) rvs.Add((await n.Replica.Ask<ReplicaStats>(GetReplicaStats.Instance, AskTimeout)).ResourceVersion);
            return rvs.Distinct().Count() == 1;
        }, TimeSpan.FromMinutes(2));
    }
}
