using System.Diagnostics;
using System.Net.Http.Headers;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace ActorCluster.IntegrationTests;

/// <summary>
/// <c>actorcluster up</c> as a user runs it, on a data directory of its own: three real node processes at
/// 127.0.1.1-3, supervised by the <c>up</c> process. Starts, stops, reads what <c>up</c> printed, finds node pids,
/// and gives clients for each node's API. Every wait is bounded.
/// </summary>
public sealed class UpProcess : IAsyncDisposable
{
    /// <summary>Tests that run <c>up</c> share one collection: every local cluster takes the same addresses and ports.</summary>
    public const string Collection = "actorcluster up (127.0.1.1-3)";

    private readonly StringBuilder _output = new();

    /// <param name="dataDir">the data directory (default: a new one under the temp directory)</param>
    public UpProcess(string? dataDir = null) =>
        DataDir = dataDir ?? Path.Combine(Path.GetTempPath(), "actorcluster-e2e", Guid.NewGuid().ToString("N"));

    public string DataDir { get; }

    /// <summary>Runs a command (mount, umount) as part of a test's setup, failing the test with its output if it fails.</summary>
    public static void Command(string file, params string[] args)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) info.ArgumentList.Add(a);
        using var p = Process.Start(info)!;
        var output = p.StandardOutput.ReadToEnd() + p.StandardError.ReadToEnd();
        if (!p.WaitForExit(30_000)) p.Kill();
        if (p.ExitCode != 0) throw new InvalidOperationException($"{file} {string.Join(' ', args)}: {output}");
    }

    public Process? Process { get; private set; }

    public static string Binary => Path.Combine(AppContext.BaseDirectory, "actorcluster");

    /// <summary>The repository this test binary was built from (where ActorCluster.sln is).</summary>
    public static string RepositoryRoot()
    {
        var dir = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(dir, "ActorCluster.sln"))) dir = Path.GetDirectoryName(dir)!;
        return dir;
    }

    /// <summary>Runs one <c>actorcluster</c> command to its end (bounded: past 30 s it is killed and the test fails with what it printed).</summary>
    public static Task<(int Code, string Stdout, string Stderr)> Run(params string[] args) => Exec(Binary, TimeSpan.FromSeconds(30), null, args);

    /// <summary>Runs a program to its end within <paramref name="bound"/> (past it, it is killed and the test fails with what it printed).</summary>
    public static async Task<(int Code, string Stdout, string Stderr)> Exec(string file, TimeSpan bound, IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) info.ArgumentList.Add(a);
        foreach (var (name, value) in environment ?? new Dictionary<string, string>()) info.Environment[name] = value;
        using var p = Process.Start(info)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(bound);
        try
        {
            await p.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{Path.GetFileName(file)} {string.Join(' ', args)} did not finish in {bound.TotalSeconds:0} s; it printed: {await stdout}{await stderr}");
        }
        return (p.ExitCode, await stdout, await stderr);
    }

    /// <summary>The real kubectl on the PATH (required under CI; elsewhere the test is skipped without it).</summary>
    public static string Kubectl()
    {
        var path = Environment.GetEnvironmentVariable("PATH")!.Split(':').Select(d => Path.Combine(d, "kubectl")).FirstOrDefault(File.Exists);
        if (path is null)
        {
            if (Environment.GetEnvironmentVariable("CI") is { Length: > 0 }) throw new InvalidOperationException("kubectl is required under CI");
            Skip.If(true, "kubectl not installed");
        }
        return path!;
    }

    public string Output
    {
        get
        {
            lock (_output) return _output.ToString();
        }
    }

    public bool Said(string text) => Output.Contains(text, StringComparison.Ordinal);

    /// <summary>
    /// For a failure message: the node log lines that explain the data plane (what each Service's actor serves,
    /// replica resyncs, membership changes, warnings and errors), per node, at most the last <paramref name="lines"/> each.
    /// </summary>
    public string NodeLogDigest(int lines = 40)
    {
        var logs = Path.Combine(DataDir, "logs");
        if (!Directory.Exists(logs)) return "(no node logs)";
        var digest = new StringBuilder();
        foreach (var file in Directory.GetFiles(logs, "*.log").Order(StringComparer.Ordinal))
        {
            var wanted = File.ReadLines(file)
                .Where(l => l.Contains(" service ", StringComparison.Ordinal) || l.Contains("replica ", StringComparison.Ordinal)
                            || l.Contains(" warn:", StringComparison.Ordinal) || l.Contains(" fail:", StringComparison.Ordinal)
                            || l.Contains("running at", StringComparison.Ordinal) || l.Contains("Akka.Cluster[", StringComparison.Ordinal))
                .TakeLast(lines);
            digest.Append("--- ").AppendLine(Path.GetFileName(file));
            foreach (var l in wanted) digest.AppendLine(l.Length > 300 ? l[..300] : l);
        }
        return digest.ToString();
    }

    public async Task Start(params string[] extra)
    {
        var info = new ProcessStartInfo(Binary) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "up", "--data-dir", DataDir }.Concat(extra)) info.ArgumentList.Add(a);
        lock (_output) _output.Clear();
        Process = Process.Start(info)!;
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (_output) _output.AppendLine(e.Data);
            if (e.Data.Contains("nodes Ready", StringComparison.Ordinal)) ready.TrySetResult();
        };
        Process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null) lock (_output) _output.AppendLine(e.Data);
        };
        Process.BeginOutputReadLine();
        Process.BeginErrorReadLine();
        var finished = await Task.WhenAny(ready.Task, Process.WaitForExitAsync(), Task.Delay(TimeSpan.FromMinutes(2)));
        Assert.True(finished == ready.Task, "actorcluster up did not get ready:\n" + Output);
    }

    /// <summary>Ctrl-C (SIGTERM) and a bounded wait for <c>up</c> to stop its nodes; past it, everything is killed.</summary>
    public async Task Stop()
    {
        if (Process is null || Process.HasExited) return;
        Posix.Signal(Process.Id, Posix.SigTerm);
        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(1));
        try
        {
            await Process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            Process.Kill(entireProcessTree: true);
        }
    }

    /// <summary>The pid <c>up</c> recorded for a node (it changes when the node is restarted).</summary>
    public int NodePid(int node) =>
        int.Parse(File.ReadAllText(Path.Combine(DataDir, "nodes", $"k8s-worker{node}.pid")), System.Globalization.CultureInfo.InvariantCulture);

    /// <summary>The node's process while one runs (its pid file exists between a start and an exit).</summary>
    public int? RunningNodePid(int node)
    {
        try
        {
            var pid = NodePid(node);
            return Directory.Exists($"/proc/{pid}") ? pid : null;
        }
        catch (Exception e) when (e is IOException or FormatException)
        {
            return null;
        }
    }

    public static string NodeAddress(int node) => $"127.0.1.{node}";

    /// <summary>A client for one node's API, trusting the cluster CA and sending the token, as kubectl does.</summary>
    public HttpClient Api(int node, TimeSpan? timeout = null)
    {
        var ca = X509Certificate2.CreateFromPem(File.ReadAllText(Path.Combine(DataDir, "ca.crt")));
        var handler = new SocketsHttpHandler
        {
            ConnectTimeout = TimeSpan.FromSeconds(5),
            SslOptions =
            {
                RemoteCertificateValidationCallback = (_, cert, _, _) => ActorCluster.Cluster.Tests.Traffic.SignedBy(ca, cert),
            },
        };
        var client = new HttpClient(handler) { BaseAddress = new Uri($"https://{NodeAddress(node)}:6443"), Timeout = timeout ?? TimeSpan.FromSeconds(60) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", File.ReadAllText(Path.Combine(DataDir, "token")).Trim());
        return client;
    }

    public static async Task Eventually(Func<Task<bool>> condition, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("timed out waiting for " + what);
            await Task.Delay(200);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await Stop();
        // Kept for a look at the node logs when asked (ACTORCLUSTER_KEEP_E2E=1).
        if (Environment.GetEnvironmentVariable("ACTORCLUSTER_KEEP_E2E") == "1") return;
        try
        {
            Directory.Delete(DataDir, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    internal static class Posix
    {
        public const int SigTerm = 15;

        [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
        private static extern int Kill(int pid, int signal);

        public static void Signal(int pid, int signal) => Kill(pid, signal);
    }
}
