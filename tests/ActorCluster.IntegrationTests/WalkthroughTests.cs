using ActorCluster.Cluster.Tests;
using System.Diagnostics;
using System.Net.Sockets;
using System.Text;

namespace ActorCluster.IntegrationTests;

/// <summary>
/// The seed walkthrough as a user runs it: `actorcluster up` (three real node processes at 127.0.1.1-3), the real
/// kubectl, and plain TCP clients against the ClusterIP and the NodePorts; then a full restart on the same data.
/// </summary>
[Collection(UpProcess.Collection)]
public sealed class WalkthroughTests : IAsyncLifetime
{
    private readonly UpProcess _up = new();
    private string DataDir => _up.DataDir;

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync() => await _up.DisposeAsync();

    private bool UpSaid(string text) => _up.Said(text);

    private static Task<(int Code, string Stdout, string Stderr)> Run(params string[] args) => UpProcess.Run(args);

    private static string Kubectl() => UpProcess.Kubectl();

    private static string Seed(string file)
    {
        var dir = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(dir, "ActorCluster.sln"))) dir = Path.GetDirectoryName(dir)!;
        return Path.Combine(dir, "deploy", "examples", "seed", file);
    }

    private Task StartUp(params string[] extra) => _up.Start(extra);

    private Task StopUp() => _up.Stop();

    private async Task<string> Kubectl(params string[] args)
    {
        var info = new ProcessStartInfo(Kubectl()) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "--kubeconfig", Path.Combine(DataDir, "kubeconfig"), "--cache-dir", Path.Combine(DataDir, "kube-cache") }.Concat(args)) info.ArgumentList.Add(a);
        using var p = Process.Start(info)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        await p.WaitForExitAsync(cts.Token);
        Assert.True(p.ExitCode == 0, $"kubectl {string.Join(' ', args)}: {await stderr}");
        return await stdout;
    }

    private static async Task<HashSet<string>> Spread(string host, int port)
    {
        var seen = new HashSet<string>();
        for (var i = 0; i < 30; i++)
        {
            if (await Traffic.Get(host, port, "/hostname") is { } name) seen.Add(name);
        }
        return seen;
    }

    private static Task Eventually(Func<Task<bool>> condition, string what) => UpProcess.Eventually(condition, what);

    [SkippableFact]
    public async Task The_seed_walkthrough_works_end_to_end_and_survives_a_restart()
    {
        Kubectl();
        await StartUp();
        Assert.Matches(@"(?m)^k8s-worker1\s+Ready\s", await Kubectl("get", "nodes"));

        // A second `up` on the same data, or on the same addresses, is refused in one line.
        var (code, _, stderr) = await Run("up", "--data-dir", DataDir);
        Assert.Equal(1, code);
        Assert.Equal($"actorcluster up: another actorcluster up (pid {_up.Process!.Id}) is running on {DataDir}\n", stderr);
        (code, _, stderr) = await Run("up", "--data-dir", DataDir + "-other");
        Assert.Equal(1, code);
        Assert.Equal("actorcluster up: 127.0.1.1:4053 is already in use (is another cluster running?)\n", stderr);
        Directory.Delete(DataDir + "-other", recursive: true);

        // A node process that dies is restarted, reported, and rejoins.
        var pid = int.Parse(await File.ReadAllTextAsync(Path.Combine(DataDir, "nodes", "k8s-worker3.pid")), System.Globalization.CultureInfo.InvariantCulture);
        Process.GetProcessById(pid).Kill();
        await Eventually(() => Task.FromResult(UpSaid("k8s-worker3 restarted")), "up to restart k8s-worker3");
        Assert.True(UpSaid("k8s-worker3 exited with code 137; restarting in 1 s"));
        await Eventually(async () => (await Kubectl("get", "node", "k8s-worker3")).Contains(" Ready ", StringComparison.Ordinal)
                                     && int.Parse(await File.ReadAllTextAsync(Path.Combine(DataDir, "nodes", "k8s-worker3.pid")), System.Globalization.CultureInfo.InvariantCulture) != pid,
            "k8s-worker3 Ready again");
        await Kubectl("apply", "-f", Seed("pod-1.yaml"), "-f", Seed("pod-2.yaml"), "-f", Seed("svc-1-clusterip.yaml"), "-f", Seed("svc-2-nodeport.yaml"), "-f", Seed("svc-4-loadbalancer.yaml"));
        await Kubectl("wait", "--for=condition=Ready", "pod/pod-1", "pod/pod-2", "--timeout=60s");
        var wide = await Kubectl("get", "pods", "-o", "wide");
        Assert.Matches(@"(?m)^pod-1\s+1/1\s+Running\s+0\s+\S+\s+127\.244\.1\.\d+\s+k8s-worker1\s", wide);
        Assert.Matches(@"(?m)^pod-2\s+1/1\s+Running\s+0\s+\S+\s+127\.244\.2\.\d+\s+k8s-worker2\s", wide);
        var clusterIP = await Kubectl("get", "svc", "svc-1", "-o", "jsonpath={.spec.clusterIP}");
        var pod1IP = await Kubectl("get", "pod", "pod-1", "-o", "jsonpath={.status.podIP}");

        // ClusterIP from the machine, spread over both pods; NodePort 30000 on every node, spread too.
        await Eventually(async () => (await Spread(clusterIP, 9000)).SetEquals(["pod-1", "pod-2"]), "the ClusterIP to spread");
        for (var n = 1; n <= 3; n++)
        {
            var node = $"127.0.1.{n}";
            await Eventually(async () => (await Spread(node, 30000)).SetEquals(["pod-1", "pod-2"]), $"NodePort 30000 on {node} to spread");
        }
        Assert.Matches(@"(?m)^svc-4\s+LoadBalancer\s+\S+\s+<pending>\s", await Kubectl("get", "svc", "svc-4"));

        // The Local variant on 30002: each node answers from its own pod only; k8s-worker3 refuses at once.
        await Kubectl("apply", "-f", Seed("svc-2-nodeport-local.yaml"));
        // Each node applies the change from its own replica, so each is waited for (until then 30002 is not bound there).
        await Eventually(async () => (await Spread("127.0.1.1", 30002)).SetEquals(["pod-1"]), "Local on k8s-worker1");
        await Eventually(async () => (await Spread("127.0.1.2", 30002)).SetEquals(["pod-2"]), "Local on k8s-worker2");
        // Never a hang: the connection is reset, not left to time out (nor refused by the kernel, as before the bind).
        await Eventually(async () => await Traffic.Refusal("127.0.1.3", 30002) == SocketError.ConnectionReset, "k8s-worker3 resetting");

        // Deleting and recreating pod-1 gives it a new IP; the service follows.
        await Kubectl("delete", "pod", "pod-1");
        await Kubectl("apply", "-f", Seed("pod-1.yaml"));
        await Kubectl("wait", "--for=condition=Ready", "pod/pod-1", "--timeout=60s");
        var newPod1IP = await Kubectl("get", "pod", "pod-1", "-o", "jsonpath={.status.podIP}");
        Assert.NotEqual(pod1IP, newPod1IP);
        await Eventually(async () => (await Spread(clusterIP, 9000)).Contains("pod-1"), "the ClusterIP to reach the new pod-1");

        // A full restart keeps ClusterIP and NodePort, and the bare pods run again.
        await StopUp();
        Assert.Equal(0, _up.Process!.ExitCode);
        await StartUp("--lb-pool", "127.0.2.0/24");
        Assert.Equal(clusterIP, await Kubectl("get", "svc", "svc-1", "-o", "jsonpath={.spec.clusterIP}"));
        Assert.Equal("30002", await Kubectl("get", "svc", "svc-2", "-o", "jsonpath={.spec.ports[0].nodePort}"));
        await Kubectl("wait", "--for=condition=Ready", "pod/pod-1", "pod/pod-2", "--timeout=60s");
        await Eventually(async () => (await Spread(clusterIP, 9000)).SetEquals(["pod-1", "pod-2"]), "the ClusterIP after the restart");
        // With a pool configured, the pending LoadBalancer gets an address.
        await Eventually(async () => (await Kubectl("get", "svc", "svc-4", "-o", "jsonpath={.status.loadBalancer.ingress[0].ip}")).StartsWith("127.0.2.", StringComparison.Ordinal), "svc-4 to get an IP");
    }
}
