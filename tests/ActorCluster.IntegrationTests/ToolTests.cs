using ActorCluster.Cluster.Tests;

namespace ActorCluster.IntegrationTests;

/// <summary>
/// ActorCluster as a user installs and drives it: the packed .nupkg installed with <c>dotnet tool install</c> into a
/// tool path of its own, then <c>up --detach</c>, <c>status</c>, kubectl through a merged kubeconfig, a Service
/// answering, <c>down</c> and <c>reset --yes</c>, each checked by its output and exit code.
/// </summary>
[Collection(UpProcess.Collection)]
public sealed class ToolTests : IAsyncLifetime
{
    private readonly string _work = Path.Combine(Path.GetTempPath(), "actorcluster-tool", Guid.NewGuid().ToString("N"));
    private string Tool => Path.Combine(_work, "tools", "actorcluster");
    private string DataDir => Path.Combine(_work, "data");
    private string UserKubeconfig => Path.Combine(_work, "home", ".kube", "config");

    public Task InitializeAsync() => Task.CompletedTask;

    public async Task DisposeAsync()
    {
        // Whatever happened, no cluster is left running.
        if (File.Exists(Tool)) await UpProcess.Exec(Tool, TimeSpan.FromMinutes(2), null, "down", "--data-dir", DataDir);
        if (Directory.Exists(_work)) Directory.Delete(_work, recursive: true);
    }

    private static string Kubectl() => UpProcess.Kubectl();

    private Task<(int Code, string Stdout, string Stderr)> Actorcluster(TimeSpan bound, params string[] args) =>
        UpProcess.Exec(Tool, bound, new Dictionary<string, string> { ["KUBECONFIG"] = UserKubeconfig }, args);

    [SkippableFact]
    public async Task The_packed_tool_installs_and_runs_a_cluster_in_the_background_from_up_to_reset()
    {
        var kubectl = Kubectl();
        var root = UpProcess.RepositoryRoot();
        // The package, from the build the tests already made, and installed as `dotnet tool install` does.
        var (code, stdout, stderr) = await UpProcess.Exec("dotnet", TimeSpan.FromMinutes(3), null,
            "pack", Path.Combine(root, "src", "ActorCluster.Host"), "--no-build", "-c", Configuration, "-o", Path.Combine(_work, "feed"));
        Assert.True(code == 0, stdout + stderr);
        var package = Assert.Single(Directory.GetFiles(Path.Combine(_work, "feed"), "ActorCluster.*.nupkg"));
        var version = Path.GetFileNameWithoutExtension(package)["ActorCluster.".Length..];
        (code, stdout, stderr) = await UpProcess.Exec("dotnet", TimeSpan.FromMinutes(3), null,
            "tool", "install", "--tool-path", Path.Combine(_work, "tools"), "--source", Path.Combine(_work, "feed"), "ActorCluster", "--version", version);
        Assert.True(code == 0, stdout + stderr);
        Assert.Contains("was successfully installed", stdout, StringComparison.Ordinal);
        (code, stdout, _) = await Actorcluster(TimeSpan.FromSeconds(30), "version");
        Assert.Equal(0, code);
        Assert.StartsWith($"actorcluster {version}+", stdout, StringComparison.Ordinal);

        // Nothing runs yet.
        Assert.Equal(1, (await Actorcluster(TimeSpan.FromSeconds(30), "status", "--data-dir", DataDir)).Code);

        // up --detach returns once every node is Ready, and leaves the cluster running.
        (code, stdout, stderr) = await Actorcluster(TimeSpan.FromMinutes(4), "up", "--detach", "--data-dir", DataDir);
        Assert.True(code == 0, stdout + stderr);
        Assert.Contains("3/3 nodes Ready", stdout, StringComparison.Ordinal);
        Assert.Contains($"running in the background; stop it with: actorcluster down --data-dir {DataDir}", stdout, StringComparison.Ordinal);

        // status: three Ready nodes, exactly one hosting the ApiServer, exit code 0.
        (code, stdout, _) = await Actorcluster(TimeSpan.FromSeconds(60), "status", "--data-dir", DataDir);
        Assert.True(code == 0, stdout);
        var rows = stdout.Split('\n').Where(l => l.StartsWith("k8s-worker", StringComparison.Ordinal)).ToList();
        Assert.Equal(3, rows.Count);
        Assert.All(rows, r => Assert.Matches(@"^k8s-worker\d\s+\d+\s+127\.0\.1\.\d\s+https://127\.0\.1\.\d:6443\s+Ready", r));
        Assert.Single(rows, r => r.TrimEnd().EndsWith("yes", StringComparison.Ordinal));
        Assert.Contains($"kubeconfig: {Path.Combine(DataDir, "kubeconfig")}", stdout, StringComparison.Ordinal);

        // The kubeconfig merged into the user's own, as kind does; kubectl uses it without --kubeconfig.
        (code, stdout, stderr) = await Actorcluster(TimeSpan.FromSeconds(30), "kubeconfig", "--merge", "--context", "ac-e2e", "--data-dir", DataDir);
        Assert.True(code == 0, stdout + stderr);
        Assert.Equal($"actorcluster kubeconfig: merged into {UserKubeconfig} as context \"ac-e2e\" (now current): kubectl get nodes\n", stdout);
        Task<(int Code, string Stdout, string Stderr)> Kube(params string[] args) =>
            UpProcess.Exec(kubectl, TimeSpan.FromSeconds(90), new Dictionary<string, string> { ["KUBECONFIG"] = UserKubeconfig }, ["--cache-dir", Path.Combine(_work, "kube-cache"), .. args]);
        Assert.Equal("ac-e2e\n", (await Kube("config", "current-context")).Stdout);
        (code, stdout, stderr) = await Kube("apply", "-f", Path.Combine(root, "deploy", "examples", "seed", "pod-1.yaml"), "-f", Path.Combine(root, "deploy", "examples", "seed", "svc-2-nodeport.yaml"));
        Assert.True(code == 0, stderr);
        await UpProcess.Eventually(async () => await Traffic.Get("127.0.1.3", 30000, "/hostname") == "pod-1", "the NodePort on node 3 answering from pod-1", TimeSpan.FromSeconds(90));

        // A read-only user, as `up` suggests: its kubeconfig names the same server and CA, and kubectl is held to view.
        var alice = Path.Combine(_work, "alice.kubeconfig");
        (code, stdout, stderr) = await Actorcluster(TimeSpan.FromSeconds(30), "kubeconfig", "--data-dir", DataDir, "--user", "alice", "--group", "view", "-o", alice);
        Assert.True(code == 0, stdout + stderr);
        var asAlice = new Dictionary<string, string> { ["KUBECONFIG"] = alice };
        Assert.Equal("alice\n", (await UpProcess.Exec(kubectl, TimeSpan.FromSeconds(60), asAlice, "auth", "whoami", "-o", "jsonpath={.status.userInfo.username}\n")).Stdout);
        Assert.Equal("no\n", (await UpProcess.Exec(kubectl, TimeSpan.FromSeconds(60), asAlice, "auth", "can-i", "create", "services")).Stdout);
        Assert.Contains("pod-1", (await UpProcess.Exec(kubectl, TimeSpan.FromSeconds(60), asAlice, "get", "pods")).Stdout, StringComparison.Ordinal);

        // down stops it (status says so, exit code 1); the objects stay until reset.
        (code, stdout, stderr) = await Actorcluster(TimeSpan.FromMinutes(2), "down", "--data-dir", DataDir);
        Assert.True(code == 0, stdout + stderr);
        Assert.EndsWith("actorcluster down: stopped\n", stdout, StringComparison.Ordinal);
        (code, stdout, _) = await Actorcluster(TimeSpan.FromSeconds(30), "status", "--data-dir", DataDir);
        Assert.Equal(1, code);
        Assert.StartsWith($"actorcluster status: no cluster running on {DataDir}", stdout, StringComparison.Ordinal);
        Assert.True(File.Exists(Path.Combine(DataDir, "actorcluster.db")));

        // reset without a terminal asks for --yes; with it, the data directory is gone.
        (code, _, stderr) = await Actorcluster(TimeSpan.FromSeconds(30), "reset", "--data-dir", DataDir);
        Assert.Equal(1, code);
        Assert.Equal($"actorcluster reset: would remove {DataDir}; confirm with --yes (no terminal to ask on)\n", stderr);
        (code, stdout, _) = await Actorcluster(TimeSpan.FromSeconds(30), "reset", "--yes", "--data-dir", DataDir);
        Assert.Equal((0, $"actorcluster reset: removed {DataDir}\n"), (code, stdout));
        Assert.False(Directory.Exists(DataDir));
    }

#if DEBUG
    private const string Configuration = "Debug";
#else
    private const string Configuration = "Release";
#endif
}
