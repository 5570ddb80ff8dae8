using ActorCluster.Cluster.Tests;
using System.Diagnostics;
using System.Net.Sockets;
using System.Text;

namespace ActorCluster.IntegrationTests;

/// <summary>
/// The seed walkthrough as a user runs it: `actorcluster up` (three real node processes at 127.0.1.1-3), then the
/// README's walkthrough block run as written in bash with the real kubectl and curl, each output compared with the
/// README's; then a node killed and restarted, and a full restart on the same data with a LoadBalancer pool.
/// </summary>
[Collection(UpProcess.Collection)]
public sealed class WalkthroughTests : IAsyncLifetime
{
    // A clone's root as the README's reader has it: deploy/ (a link to this repository's) and .actorcluster/.
    private readonly string _work = Path.Combine(Path.GetTempPath(), "actorcluster-readme", Guid.NewGuid().ToString("N"));
    private readonly UpProcess _up;
    private string DataDir => _up.DataDir;

    public WalkthroughTests() => _up = new UpProcess(Path.Combine(_work, ".actorcluster"));

    public Task InitializeAsync()
    {
        Directory.CreateDirectory(_work);
        Directory.CreateSymbolicLink(Path.Combine(_work, "deploy"), Path.Combine(UpProcess.RepositoryRoot(), "deploy"));
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _up.DisposeAsync();
        if (Environment.GetEnvironmentVariable("ACTORCLUSTER_KEEP_E2E") == "1") return;
        File.Delete(Path.Combine(_work, "deploy"));
        Directory.Delete(_work, recursive: true);
    }

    /// <summary>
    /// Runs the README's walkthrough block in <see cref="_work"/>. A command that only reads is run again (bounded)
    /// while its output differs, as a reader would after a change that nodes apply a moment later; any other command
    /// must match the first time.
    /// </summary>
    private async Task<IReadOnlyList<ReadmeConsole.Step>> RunReadmeWalkthrough()
    {
        var steps = ReadmeConsole.Steps(await File.ReadAllTextAsync(Path.Combine(UpProcess.RepositoryRoot(), "README.md")), "## The walkthrough");
        Assert.True(steps.Count >= 10, $"the README's walkthrough has {steps.Count} commands");
        var state = new List<string>();
        foreach (var step in steps)
        {
            var script = "exec 2>&1\ncd " + _work + "\n" + string.Join("\n", state.Append(step.Command));
            var expected = ReadmeConsole.Normalize(step.Expected);
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
            while (true)
            {
                var (code, output, _) = await UpProcess.Exec("bash", TimeSpan.FromSeconds(60), null, "-c", script);
                var actual = ReadmeConsole.Normalize(output.Split('\n'));
                if (actual.SequenceEqual(expected)) break;
                if (!ReadmeConsole.ReadsOnly(step.Command) || DateTime.UtcNow > deadline)
                {
                    Assert.Fail($"README walkthrough: `$ {step.Command}` (exit {code}) printed, normalized:\n{string.Join('\n', actual)}\n" +
                                $"the README shows, normalized:\n{string.Join('\n', expected)}\nthe nodes' logs say:\n{_up.NodeLogDigest()}");
                }
                await Task.Delay(250);
            }
            if (ReadmeConsole.SetsState(step.Command)) state.Add(step.Command);
        }
        return steps;
    }

    private bool UpSaid(string text) => _up.Said(text);

    private static Task<(int Code, string Stdout, string Stderr)> Run(params string[] args) => UpProcess.Run(args);

    private static string Kubectl() => UpProcess.Kubectl();

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
        // A failure says what `up` printed (restarts) and what the nodes logged (membership, downing).
        if (p.ExitCode != 0)
            Assert.Fail($"kubectl {string.Join(' ', args)}: {await stderr}\nactorcluster up printed:\n{_up.Output}\nthe nodes' logs say:\n{_up.NodeLogDigest()}");
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

    private static Task Eventually(Func<Task<bool>> condition, string what, TimeSpan? timeout = null) => UpProcess.Eventually(condition, what, timeout);

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
        var pid = _up.NodePid(3);
        var others = new[] { _up.NodePid(1), _up.NodePid(2) };
        // Second resolution, as the condition's timestamps: the new incarnation's Ready comes seconds after the kill.
        var now = DateTime.UtcNow;
        var killed = now.AddTicks(-(now.Ticks % TimeSpan.TicksPerSecond));
        Process.GetProcessById(pid).Kill();
        await Eventually(() => Task.FromResult(UpSaid("k8s-worker3 restarted")), "up to restart k8s-worker3");
        Assert.True(UpSaid("k8s-worker3 exited with code 137; restarting in 1 s, once the other nodes have removed it from the cluster"));
        // Ready again means the new incarnation joined: Ready=True since after the kill (the old one's Ready lingers
        // until its death is detected, as a kubelet's does).
        await Eventually(async () =>
            {
                var ready = (await Kubectl("get", "node", "k8s-worker3", "-o", "jsonpath={.status.conditions[?(@.type==\"Ready\")].status} {.status.conditions[?(@.type==\"Ready\")].lastTransitionTime}")).Split(' ');
                return ready is ["True", var since] && DateTime.Parse(since, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.AdjustToUniversal) > killed;
            },
            "k8s-worker3's new incarnation Ready", TimeSpan.FromSeconds(90));
        // The README's walkthrough, as written: apply, the ClusterIP and NodePorts spreading, svc-4 pending with the
        // reason, Local on 30002 (k8s-worker3 resetting), the client's address under Local, pod-1 recreated.
        var steps = await RunReadmeWalkthrough();
        // The kill cost only the killed node: the others kept running throughout (none was downed with it).
        Assert.True(others.SequenceEqual([_up.NodePid(1), _up.NodePid(2)]), $"a node other than k8s-worker3 was restarted:\n{_up.Output}\n{_up.NodeLogDigest()}");

        // The recreated pod-1 has a new IP (not the one `get pods -o wide` showed), and the Service follows it.
        var firstIP = steps.Single(s => s.Command == "kubectl get pods -o wide").Expected.Single(l => l.StartsWith("pod-1 ", StringComparison.Ordinal))
            .Split(' ', StringSplitOptions.RemoveEmptyEntries)[5];
        await Kubectl("wait", "--for=condition=Ready", "pod/pod-1", "--timeout=60s");
        var newIP = await Kubectl("get", "pod", "pod-1", "-o", "jsonpath={.status.podIP}");
        Assert.Matches(@"^127\.244\.1\.\d+$", newIP);
        Assert.NotEqual(firstIP, newIP);
        var clusterIP = await Kubectl("get", "svc", "svc-1", "-o", "jsonpath={.spec.clusterIP}");
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
