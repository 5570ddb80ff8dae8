using System.Collections.Concurrent;
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using ActorCluster.Api;
using ActorCluster.Cluster.Hosting;
using ActorCluster.Cluster.Tests;

namespace ActorCluster.Api.Tests;

/// <summary>A 3-node cluster with the API served by node 1, shared by the tests of one class.</summary>
public sealed class ApiCluster : IAsyncLifetime
{
    internal TestCluster Cluster { get; private set; } = null!;

    public KubernetesApi Api { get; private set; } = null!;

    public string CacheDir { get; } = Path.Combine(Path.GetTempPath(), "actorcluster-kubectl", Guid.NewGuid().ToString("N"));

    public async Task InitializeAsync()
    {
        // A short watch history, so a test can ask for a version that has been forgotten (410 Gone).
        Cluster = await TestCluster.StartAsync(3, extraHocon: "actorcluster.apiserver.watch-history = 20",
            starter: StartWithApi(1, api => Api = api, log => log.AddProvider(new LineCollector("ActorCluster.Api.Audit", AuditLines))));
    }

    /// <summary>The audit lines node 1's API wrote to its log.</summary>
    public ConcurrentQueue<string> AuditLines { get; } = new();

    /// <summary>Starts node <paramref name="withApi"/> with its API in the same host, as <c>actorcluster node</c> does; the others without.</summary>
    internal static Func<NodeOptions, Task<ActorClusterNode>> StartWithApi(int withApi, Action<KubernetesApi> started, Action<ILoggingBuilder>? logging = null) => async options =>
    {
        if (options.Name != $"k8s-worker{withApi}") return await ActorClusterNode.StartAsync(options);
        var api = await KubernetesApi.StartAsync(options, new ApiOptions(options.Address, 0, options.DataDir), logging);
        started(api);
        return api.Node;
    };

    /// <summary>Keeps the lines one log category writes (a real ILoggerProvider in the node's host).</summary>
    private sealed class LineCollector(string category, ConcurrentQueue<string> lines) : ILoggerProvider, ILogger
    {
        public ILogger CreateLogger(string categoryName) => categoryName == category ? this : Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance;

        public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            lines.Enqueue(formatter(state, exception));

        public void Dispose()
        {
        }
    }

    public async Task DisposeAsync()
    {
        await Cluster.DisposeAsync();
        Cluster.DeleteData();
        if (Directory.Exists(CacheDir)) Directory.Delete(CacheDir, recursive: true);
    }

    public static string SeedFile(string file) => Path.Combine(RepoRoot(), "deploy", "examples", "seed", file);

    /// <summary>The repository's root (the folder holding ActorCluster.sln), found from the test binary.</summary>
    public static string RepoRoot()
    {
        var dir = AppContext.BaseDirectory;
        while (!global::System.IO.File.Exists(Path.Combine(dir, "ActorCluster.sln"))) dir = Path.GetDirectoryName(dir)!;
        return dir;
    }

    /// <summary>Skips when kubectl is missing, except under CI, where it must be there.</summary>
    public static string Kubectl()
    {
        var path = Environment.GetEnvironmentVariable("PATH")!.Split(':').Select(d => Path.Combine(d, "kubectl")).FirstOrDefault(global::System.IO.File.Exists);
        if (path is null)
        {
            if (Environment.GetEnvironmentVariable("CI") is { Length: > 0 }) throw new InvalidOperationException("kubectl is required under CI");
            Skip.If(true, "kubectl not installed");
        }
        return path!;
    }

    public sealed record Result(int ExitCode, string Stdout, string Stderr)
    {
        public string Output => Stdout + Stderr;
    }

    /// <summary>Runs the real kubectl against this cluster's kubeconfig, with a bounded wait.</summary>
    public async Task<Result> Run(params string[] args) => await Run(TimeSpan.FromSeconds(60), args);

    public async Task<Result> Run(TimeSpan timeout, params string[] args) => await RunWith(Api.KubeconfigPath, timeout, args);

    /// <summary>Runs kubectl with another kubeconfig (another user of the cluster).</summary>
    public async Task<Result> RunWith(string kubeconfig, TimeSpan timeout, params string[] args) => await RunProcess(KubectlWith(kubeconfig, args), timeout);

    /// <summary>Starts a kubectl that runs until stopped (a watch, an attach): the caller reads its output and kills it.</summary>
    public Process Start(params string[] args) => Process.Start(KubectlWith(Api.KubeconfigPath, args))!;

    private ProcessStartInfo KubectlWith(string kubeconfig, string[] args)
    {
        var info = new ProcessStartInfo(Kubectl()) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add("--kubeconfig");
        info.ArgumentList.Add(kubeconfig);
        info.ArgumentList.Add("--cache-dir");
        info.ArgumentList.Add(CacheDir);
        foreach (var a in args) info.ArgumentList.Add(a);
        info.Environment["HOME"] = CacheDir;
        return info;
    }

    /// <summary>Runs a program to its end with a bounded wait; past it, the program is killed and the test fails saying what it printed.</summary>
    public static async Task<Result> RunProcess(ProcessStartInfo info, TimeSpan timeout)
    {
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{Path.GetFileName(info.FileName)} {string.Join(' ', info.ArgumentList)} did not finish in {timeout.TotalSeconds:0}s; it printed: {await stdout}{await stderr}");
        }
        return new Result(process.ExitCode, await stdout, await stderr);
    }

    public async Task<string> Ok(params string[] args)
    {
        var r = await Run(args);
        Assert.True(r.ExitCode == 0, $"kubectl {string.Join(' ', args)} failed: {r.Output}");
        return r.Stdout;
    }

    /// <summary>A manifest written to a temp file, as a user would have it (removed when the test process ends).</summary>
    public static string File(string yaml)
    {
        var path = Path.Combine(Manifests.Value, Guid.NewGuid().ToString("N")[..8] + ".yaml");
        global::System.IO.File.WriteAllText(path, yaml);
        return path;
    }

    private static readonly Lazy<string> Manifests = new(() =>
    {
        var dir = Directory.CreateDirectory(Path.Combine(Path.GetTempPath(), "actorcluster-manifests", Guid.NewGuid().ToString("N"))).FullName;
        AppDomain.CurrentDomain.ProcessExit += (_, _) =>
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        };
        return dir;
    });
}
