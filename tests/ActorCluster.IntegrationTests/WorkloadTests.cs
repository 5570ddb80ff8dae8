using System.Diagnostics;
using System.Globalization;
using ActorCluster.Cluster.Tests;

namespace ActorCluster.IntegrationTests;

/// <summary>
/// A Deployment behind a NodePort on real node processes started by <c>actorcluster up</c>, driven with the real
/// kubectl while a client keeps calling the Service (a new connection per request, so each one is routed anew):
/// a rolling restart costs no request, and after a node is killed with SIGKILL the Service keeps answering and the
/// Deployment is back to three ready pods.
/// </summary>
[Collection(UpProcess.Collection)]
public sealed class WorkloadTests : IAsyncLifetime
{
    private readonly UpProcess _up = new();

    /// <summary>One request as the client saw it.</summary>
    private sealed record Call(DateTime At, string? Answer);

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        await _up.Stop();
        await _up.DisposeAsync();
    }

    [SkippableFact]
    public async Task A_deployment_behind_a_node_port_rolls_without_a_failed_request_and_heals_after_a_node_is_killed()
    {
        await _up.Start();
        await Kubectl("create", "deployment", "web", "--image=kubetm/app", "--replicas=3", "--port=8080");
        await Kubectl("expose", "deployment", "web", "--type=NodePort", "--port=9000", "--target-port=8080");
        await Kubectl("rollout", "status", "deployment/web", "--timeout=60s");
        var nodePort = int.Parse(await Kubectl("get", "svc", "web", "-o", "jsonpath={.spec.ports[0].nodePort}"), CultureInfo.InvariantCulture);
        // Through node 1 (it hosts the ApiServer and is never the one killed below).
        var host = UpProcess.NodeAddress(1);
        await UpProcess.Eventually(async () => (await Traffic.Get(host, nodePort, "/hostname")) is not null, "the NodePort answering");
        var firstPods = await PodNames();

        // 1. A rolling restart under a steady stream of requests: not one of them fails.
        var restart = await WhileCalling(host, nodePort, async () =>
        {
            await Kubectl("rollout", "restart", "deployment/web");
            await Kubectl("rollout", "status", "deployment/web", "--timeout=90s");
            // Until the old pods are gone, not only replaced.
            await UpProcess.Eventually(async () => !(await PodNames()).Overlaps(firstPods), "the old pods gone");
        });
        Assert.True(restart.All(c => c.Answer is not null), $"failed requests during the rolling restart at {string.Join(", ", restart.Where(c => c.Answer is null).Select(c => c.At.ToString("HH:mm:ss.fff", CultureInfo.InvariantCulture)))}");
        var restarted = await PodNames();
        Assert.Equal(3, restarted.Count);
        // The calls spanned the whole rollout: answered by old pods first, by new ones at the end.
        Assert.Contains(restart, c => c.Answer is not null && firstPods.Contains(c.Answer));
        Assert.Contains(restart, c => c.Answer is not null && restarted.Contains(c.Answer));

        // 2. kill -9 a node that runs one of the pods: the Service keeps answering (only a request in flight to a pod
        // on that node may fail), and the Deployment is back to three ready pods within the cluster's own bounds:
        // up restarts the node (or, past the local default toleration of 30 s, the pods are replaced elsewhere).
        var victim = (await Kubectl("get", "pods", "-l", "app=web", "-o", "jsonpath={.items[*].spec.nodeName}"))
            .Split(' ', StringSplitOptions.RemoveEmptyEntries).Select(n => int.Parse(n[^1..], CultureInfo.InvariantCulture)).Where(n => n != 1).Max();
        DateTime killedAt = default;
        var calls = await WhileCalling(host, nodePort, async () =>
        {
            UpProcess.Posix.Signal(_up.NodePid(victim), 9);
            killedAt = DateTime.UtcNow;
            await UpProcess.Eventually(() => Task.FromResult(_up.Said($"k8s-worker{victim} restarted")), $"up restarting k8s-worker{victim}", TimeSpan.FromSeconds(60));
            await UpProcess.Eventually(async () => await ReadyPods() == 3, "the Deployment back to 3 ready pods", TimeSpan.FromSeconds(60));
        });
        var after = calls.Where(c => c.At >= killedAt).ToList();
        var failed = after.Where(c => c.Answer is null).ToList();
        Assert.True(failed.Count <= 2, $"{failed.Count} of {after.Count} requests failed after the kill, at {string.Join(", ", failed.Select(c => c.At.ToString("HH:mm:ss.fff", CultureInfo.InvariantCulture)))}");
        // Kept answering: a failure (the request in flight to the killed pod) is followed by an answer, never by another failure.
        var consecutive = after.Zip(after.Skip(1), (earlier, later) => (Earlier: earlier, Later: later)).Where(pair => pair.Earlier.Answer is null && pair.Later.Answer is null).ToList();
        Assert.True(consecutive.Count == 0, $"the Service stopped answering after the kill: failures in a row at {string.Join(", ", consecutive.Select(p => p.Later.At.ToString("HH:mm:ss.fff", CultureInfo.InvariantCulture)))}");
        Assert.Contains(after, c => c.Answer is not null);
        Assert.Matches(@"(?m)^web\s+3/3\s+3\s+3\s", await Kubectl("get", "deployment", "web"));
    }

    /// <summary>Calls the Service again and again (a new connection each time) while <paramref name="action"/> runs.</summary>
    private static async Task<List<Call>> WhileCalling(string host, int port, Func<Task> action)
    {
        var calls = new List<Call>();
        using var stop = new CancellationTokenSource();
        var client = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                string? answer;
                try
                {
                    answer = await Traffic.Get(host, port, "/hostname");
                }
                catch (OperationCanceledException)
                {
                    answer = null; // no answer within Traffic's bound
                }
                lock (calls) calls.Add(new Call(DateTime.UtcNow, answer));
                await Task.Delay(20, CancellationToken.None);
            }
        }, CancellationToken.None);
        try
        {
            await action();
        }
        finally
        {
            await stop.CancelAsync();
            await client.WaitAsync(TimeSpan.FromSeconds(10));
        }
        lock (calls) return [.. calls];
    }

    private async Task<HashSet<string>> PodNames() =>
        (await Kubectl("get", "pods", "-l", "app=web", "-o", "jsonpath={.items[*].metadata.name}")).Split(' ', StringSplitOptions.RemoveEmptyEntries).ToHashSet();

    /// <summary>Pods of the Deployment that are Ready, not terminating, on a node that is Ready.</summary>
    private async Task<int> ReadyPods()
    {
        var readyNodes = (await Kubectl("get", "nodes", "-o", "jsonpath={range .items[*]}{.metadata.name}={.status.conditions[?(@.type==\"Ready\")].status}{\"\\n\"}{end}"))
            .Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.EndsWith("=True", StringComparison.Ordinal)).Select(l => l[..l.IndexOf('=', StringComparison.Ordinal)]).ToHashSet();
        var pods = (await Kubectl("get", "pods", "-l", "app=web", "-o",
                "jsonpath={range .items[*]}{.spec.nodeName}={.metadata.deletionTimestamp}={.status.conditions[?(@.type==\"Ready\")].status}{\"\\n\"}{end}"))
            .Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split('='));
        return pods.Count(p => readyNodes.Contains(p[0]) && p[1].Length == 0 && p[2] == "True");
    }

    private async Task<string> Kubectl(params string[] args)
    {
        var (code, stdout, stderr) = await UpProcess.Exec(UpProcess.Kubectl(), TimeSpan.FromSeconds(120), null,
            ["--kubeconfig", Path.Combine(_up.DataDir, "kubeconfig"), "--cache-dir", Path.Combine(_up.DataDir, "kube-cache"), .. args]);
        if (code != 0) Assert.Fail($"kubectl {string.Join(' ', args)}: {stderr}\nactorcluster up printed:\n{_up.Output}\nthe nodes' logs say:\n{_up.NodeLogDigest()}");
        return stdout;
    }
}
