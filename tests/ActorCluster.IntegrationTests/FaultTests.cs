using System.Collections.Concurrent;
using System.Globalization;
using System.Net;
using System.Text;
using System.Text.Json.Nodes;

namespace ActorCluster.IntegrationTests;

/// <summary>
/// Faults as production meets them, on real node processes started by <c>actorcluster up</c>: writers on every
/// node's API while the node hosting the ApiServer is killed with SIGKILL, and then while the next host is cut off
/// the network. No acknowledged write may be lost, no version acknowledged twice, the survivors' replicas agree,
/// a writer is answered again promptly once writes are accepted, and <c>up</c> brings every node back.
/// </summary>
[Collection(UpProcess.Collection)]
public sealed class FaultTests : IAsyncLifetime
{
    private readonly UpProcess _up = new();

    /// <summary>One write attempt as its client saw it.</summary>
    private sealed record Attempt(int Via, string Name, DateTime Started, DateTime Ended, int Status, long Version, string? Error = null);

    public Task InitializeAsync() => Task.CompletedTask;

    private bool _mounted;

    public async Task DisposeAsync()
    {
        await _up.Stop();
        if (_mounted) UpProcess.Command("umount", _up.DataDir);
        await _up.DisposeAsync();
    }

    [SkippableFact]
    public async Task Writes_on_a_full_disk_are_refused_at_once_with_the_cause_and_succeed_again_when_space_returns()
    {
        if (Environment.UserName != "root")
        {
            if (Environment.GetEnvironmentVariable("CI") is { Length: > 0 }) throw new InvalidOperationException("the full-disk test needs root (to mount a tmpfs) under CI");
            Skip.If(true, "mounting a small tmpfs needs root");
        }
        // The whole data directory (database, secrets, logs) on a 48 MiB tmpfs.
        Directory.CreateDirectory(_up.DataDir);
        UpProcess.Command("mount", "-t", "tmpfs", "-o", "size=48m", "tmpfs", _up.DataDir);
        _mounted = true;
        await _up.Start();
        // A short client timeout: a write that waits for one is a failure of this test, not a slow answer.
        using var client = _up.Api(2, TimeSpan.FromSeconds(10));
        var acked = new Dictionary<string, long>();
        for (var i = 0; i < 20; i++) acked[$"before-{i}"] = await Created(client, $"before-{i}");

        // Fill the disk.
        var filler = Path.Combine(_up.DataDir, "filler");
        await using (var fill = new FileStream(filler, FileMode.Create))
        {
            var block = new byte[1 << 20];
            try
            {
                while (true) await fill.WriteAsync(block);
            }
            catch (IOException)
            {
                // No space left on device: that is the point.
            }
        }

        // Writes are refused with the storage's own cause, answered (never a timeout), and none is acknowledged.
        string? cause = null;
        for (var i = 0; i < 200 && cause is null; i++)
        {
            using var response = await Post(client, $"full-{i}");
            var text = await response.Content.ReadAsStringAsync();
            if (response.StatusCode == HttpStatusCode.Created)
            {
                // SQLite may still have room in pages it already holds: this write is durable and counts.
                acked[$"full-{i}"] = Version(text);
                continue;
            }
            Assert.True(response.StatusCode is HttpStatusCode.InternalServerError or HttpStatusCode.ServiceUnavailable, $"{(int)response.StatusCode}: {text}");
            if (response.StatusCode == HttpStatusCode.InternalServerError) cause = (string?)JsonNode.Parse(text)!["message"];
            else await Task.Delay(response.Headers.RetryAfter?.Delta ?? TimeSpan.FromSeconds(1));
        }
        Assert.NotNull(cause);
        Assert.Contains("disk is full", cause, StringComparison.Ordinal);
        Assert.StartsWith("Internal error occurred: storage write failed", cause, StringComparison.Ordinal);

        // up keeps supervising (its own log writes fail too) and the nodes keep running.
        Assert.False(_up.Process!.HasExited, _up.Output);

        // Space returns: writes succeed again, and nothing acknowledged before was lost.
        File.Delete(filler);
        await UpProcess.Eventually(async () =>
        {
            using var response = await Post(client, "after");
            if (response.StatusCode != HttpStatusCode.Created) return false;
            acked["after"] = Version(await response.Content.ReadAsStringAsync());
            return true;
        }, "a write accepted once space returned");
        var stored = await Services(client);
        foreach (var (name, version) in acked)
            Assert.True(stored.TryGetValue(name, out var v) && v == version, $"{name} acknowledged at {version}, stored at {(stored.TryGetValue(name, out var s) ? s : 0)}");
        Assert.Equal(acked.Count, acked.Values.Distinct().Count());
        Assert.False(_up.Process!.HasExited, _up.Output);
    }

    private static Task<HttpResponseMessage> Post(HttpClient client, string name) =>
        client.PostAsync("/api/v1/namespaces/default/services", new StringContent(
            $$$"""{"apiVersion":"v1","kind":"Service","metadata":{"name":"{{{name}}}"},"spec":{"ports":[{"port":80}]}}""", Encoding.UTF8, "application/json"));

    private static long Version(string json) =>
        long.Parse((string)JsonNode.Parse(json)!["metadata"]!["resourceVersion"]!, CultureInfo.InvariantCulture);

    private static async Task<long> Created(HttpClient client, string name)
    {
        using var response = await Post(client, name);
        var text = await response.Content.ReadAsStringAsync();
        Assert.True(response.StatusCode == HttpStatusCode.Created, text);
        return Version(text);
    }

    [SkippableFact]
    public async Task The_ApiServer_host_killed_and_then_partitioned_under_writers_loses_no_acknowledged_write()
    {
        using var partition = Partition.Create();
        await _up.Start();
        var clients = Enumerable.Range(0, 4).Select(n => n == 0 ? null! : _up.Api(n, TimeSpan.FromSeconds(30))).ToArray();
        var attempts = new ConcurrentQueue<Attempt>();
        using var stop = new CancellationTokenSource();
        var writers = Enumerable.Range(1, 3).Select(n => Task.Run(() => Write(n, clients[n], attempts, stop.Token))).ToList();

        int AcksSince(DateTime t, params int[] via) => attempts.Count(a => a.Status == 201 && a.Started >= t && via.Contains(a.Via));
        await UpProcess.Eventually(() => Task.FromResult(AcksSince(DateTime.MinValue, 1, 2, 3) >= 20), "writes before the faults");
        await ApiServerOn(clients, 1);

        // 1. SIGKILL the node hosting the ApiServer (the oldest, k8s-worker1). Writers through the others go on.
        // Each fault's moment is taken once the fault is in place: a write that started a moment earlier (before
        // the signal landed, or before nft's rules applied) may still be answered by the old host, and counting it
        // as "accepted again" would time the survivors from before the fault.
        UpProcess.Posix.Signal(_up.NodePid(1), 9);
        var killedAt = DateTime.UtcNow;
        await UpProcess.Eventually(() => Task.FromResult(AcksSince(killedAt, 2, 3) >= 20), "writes accepted again after the kill", TimeSpan.FromSeconds(90));
        // up restarts k8s-worker1; the ApiServer now runs on k8s-worker2, the oldest left.
        await UpProcess.Eventually(() => Task.FromResult(_up.Said("k8s-worker1 restarted")), "up restarting k8s-worker1");
        await ReadyNodes(clients[3], 3);
        // The ApiServer now runs on the oldest member left: whichever of k8s-worker2 and -3 joined first.
        var host = await ApiServerOn(clients, 2, 3);
        var others = new[] { 1, 2, 3 }.Where(n => n != host).ToArray();

        // 2. Cut the new host off the cluster's network. The majority moves the ApiServer again.
        // The partition follows the node: if up restarts it meanwhile, the new process is cut off as well (a partition
        // of its host), never half-connected (its own connections out working while nobody reaches it).
        partition.Isolate(() => _up.RunningNodePid(host), UpProcess.NodeAddress(host), 4053);
        var partitionedAt = DateTime.UtcNow;
        await UpProcess.Eventually(() => Task.FromResult(AcksSince(partitionedAt, others) >= 20), "writes accepted again after the partition", TimeSpan.FromSeconds(90));
        partition.Heal();
        var healedAt = DateTime.UtcNow;
        await UpProcess.Eventually(() => Task.FromResult(AcksSince(healedAt, 1, 2, 3) >= 10), "writes after the partition healed", TimeSpan.FromSeconds(90));
        await stop.CancelAsync();
        await Task.WhenAll(writers).WaitAsync(TimeSpan.FromSeconds(60));

        // Every node is back (up kept supervising) and answers.
        await ReadyNodes(clients[1], 3);

        // No version acknowledged twice; every acknowledged write is stored with the version it was acknowledged with.
        var acked = attempts.Where(a => a.Status == 201).ToList();
        Assert.Equal(acked.Count, acked.Select(a => a.Version).Distinct().Count());
        var stored = await Services(clients[3]);
        foreach (var a in acked)
            Assert.True(stored.TryGetValue(a.Name, out var v) && v == a.Version, $"{a.Name} acknowledged at {a.Version} through k8s-worker{a.Via}, stored at {(stored.TryGetValue(a.Name, out var s) ? s : 0)}");

        // A client writing one object at a time through a surviving node is answered within 2 s of the moment
        // writes are accepted again (honouring Retry-After as client-go does), never left waiting for a timeout.
        AssertPromptAfter(attempts, killedAt, survivors: [2, 3]);
        AssertPromptAfter(attempts, partitionedAt, survivors: others);

        // The replicas of all three nodes converge on the same store.
        var last = Array.Empty<ReplicaState>();
        try
        {
            await UpProcess.Eventually(async () =>
            {
                last = await Task.WhenAll(Enumerable.Range(1, 3).Select(n => Replica(clients[n])));
                return last.All(r => r.Synced && r.Version == last[0].Version && r.Objects == last[0].Objects && r.Version >= acked.Max(a => a.Version));
            }, "the three replicas at the same version with the same objects");
        }
        catch (TimeoutException e)
        {
            throw new TimeoutException($"{e.Message}; last seen: {string.Join("; ", last.Select((r, i) => $"k8s-worker{i + 1} {r}"))}", e);
        }

        // Every node, holding hundreds of Services now, stops gracefully when asked: none has to be killed.
        await _up.Stop();
        Assert.Equal(0, _up.Process!.ExitCode);
        Assert.DoesNotContain("did not stop in", _up.Output, StringComparison.Ordinal);
    }

    /// <summary>One writer: creates Services one after another through one node, honouring Retry-After like client-go.</summary>
    private static async Task Write(int via, HttpClient client, ConcurrentQueue<Attempt> attempts, CancellationToken stop)
    {
        for (var n = 0; !stop.IsCancellationRequested; n++)
        {
            var name = $"w{via}-{n}";
            var started = DateTime.UtcNow;
            var status = 0;
            long version = 0;
            string? error = null;
            TimeSpan pause = TimeSpan.FromMilliseconds(200);
            try
            {
                using var response = await Post(client, name);
                status = (int)response.StatusCode;
                if (response.StatusCode == HttpStatusCode.Created) version = Version(await response.Content.ReadAsStringAsync(CancellationToken.None));
                if (response.Headers.RetryAfter?.Delta is { } after) pause = after;
            }
            catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
            {
                // The node is down or cut off: not acknowledged.
                error = e.InnerException?.Message ?? e.Message;
            }
            attempts.Enqueue(new Attempt(via, name, started, DateTime.UtcNow, status, version, error));
            if (status != 201) await Task.Delay(pause, CancellationToken.None);
        }
    }

    private void AssertPromptAfter(IEnumerable<Attempt> all, DateTime fault, int[] survivors)
    {
        var attempts = all.Where(a => a.Started >= fault || a.Ended >= fault).ToList();
        var acceptedAgain = attempts.Where(a => a.Status == 201 && a.Started >= fault && survivors.Contains(a.Via)).Min(a => a.Ended);
        foreach (var via in survivors)
        {
            var mine = attempts.Where(a => a.Via == via).ToList();
            Assert.True(mine.Any(a => a.Status == 201 && a.Ended >= acceptedAgain),
                $"k8s-worker{via}'s writer got no answer but: {string.Join(", ", mine.GroupBy(a => (a.Status, a.Error)).Select(g => $"{g.Key.Status}{(g.Key.Error is { } e ? $" ({e})" : "")} x{g.Count()}"))} " +
                $"since {fault:HH:mm:ss.fff} (writes accepted again through the others at {acceptedAgain:HH:mm:ss.fff}); " +
                $"its attempts: {string.Join(", ", mine.TakeLast(12).Select(a => $"{a.Started:HH:mm:ss.fff}-{a.Ended:HH:mm:ss.fff} {a.Status}"))}\nup said:\n{_up.Output}");
            var next = mine.Where(a => a.Status == 201 && a.Ended >= acceptedAgain).Min(a => a.Ended);
            Assert.True(next - acceptedAgain <= TimeSpan.FromSeconds(2),
                $"k8s-worker{via}'s writer was answered {(next - acceptedAgain).TotalSeconds:0.0} s after writes were accepted again ({acceptedAgain:HH:mm:ss.fff}); " +
                $"its attempts since the fault: {string.Join(", ", mine.Where(a => a.Ended <= next).TakeLast(8).Select(a => $"{a.Started:HH:mm:ss.fff}-{a.Ended:HH:mm:ss.fff} {a.Status}"))}; " +
                $"the nodes' slow requests:\n{SlowRequests()}");
        }
    }

    /// <summary>What the nodes logged about requests to the ApiServer that took long: where the time went.</summary>
    private string SlowRequests() => string.Join("\n", Directory.GetFiles(Path.Combine(_up.DataDir, "logs"), "*.log")
        .SelectMany(f => File.ReadLines(f).Where(l => l.Contains("ApiServerClient", StringComparison.Ordinal)).Select(l => $"{Path.GetFileNameWithoutExtension(f)}: {l}")));

    private static async Task<Dictionary<string, long>> Services(HttpClient client)
    {
        var list = JsonNode.Parse(await client.GetStringAsync("/api/v1/namespaces/default/services"))!;
        return list["items"]!.AsArray().ToDictionary(i => (string)i!["metadata"]!["name"]!, i => long.Parse((string)i!["metadata"]!["resourceVersion"]!, CultureInfo.InvariantCulture));
    }

    private static async Task ReadyNodes(HttpClient client, int count) =>
        await UpProcess.Eventually(async () =>
        {
            try
            {
                var nodes = JsonNode.Parse(await client.GetStringAsync("/api/v1/nodes"))!["items"]!.AsArray();
                return nodes.Count(n => n!["status"]!["conditions"]!.AsArray().Any(c => (string?)c!["type"] == "Ready" && (string?)c["status"] == "True")) == count;
            }
            catch (HttpRequestException)
            {
                return false;
            }
        }, $"{count} Ready nodes", TimeSpan.FromSeconds(120));

    private sealed record ReplicaState(bool Synced, long Version, long Objects);

    private static async Task<ReplicaState> Replica(HttpClient client)
    {
        var metrics = await client.GetStringAsync("/metrics");
        long Value(string metric) => long.Parse(metrics.Split('\n').Single(l => l.StartsWith(metric + "{", StringComparison.Ordinal)).Split(' ')[^1], CultureInfo.InvariantCulture);
        return new ReplicaState(Value("actorcluster_replica_synced") == 1, Value("actorcluster_replica_resource_version"), Value("actorcluster_replica_objects"));
    }

    /// <summary>Waits until every node's view agrees that exactly one node, one of <paramref name="candidates"/>, hosts the ApiServer.</summary>
    private static async Task<int> ApiServerOn(HttpClient[] clients, params int[] candidates)
    {
        var hosts = new List<int>();
        try
        {
            await UpProcess.Eventually(async () =>
            {
                hosts.Clear();
                for (var n = 1; n <= 3; n++)
                {
                    var metrics = await clients[n].GetStringAsync("/metrics");
                    if (metrics.Split('\n').Any(l => l.StartsWith("actorcluster_apiserver_host{", StringComparison.Ordinal) && l.EndsWith(" 1", StringComparison.Ordinal))) hosts.Add(n);
                }
                return hosts.Count == 1 && candidates.Contains(hosts[0]);
            }, "one node hosting the ApiServer");
        }
        catch (TimeoutException e)
        {
            throw new TimeoutException($"{e.Message} (one of k8s-worker{string.Join(",", candidates)}); the nodes last said: {string.Join(",", hosts.Select(h => $"k8s-worker{h}"))}", e);
        }
        return hosts[0];
    }
}
