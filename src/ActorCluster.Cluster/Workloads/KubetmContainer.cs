using k8s.Models;

namespace ActorCluster.Cluster.Workloads;

/// <summary>
/// What a running <c>kubetm/app</c> container shares among its ports: whether it answers ready and healthy (so a
/// user can make it fail its probes: <c>POST /unready</c>, <c>POST /unhealthy</c>), how it crashes (<c>POST
/// /crash</c>), and its log (one line per request, the last <see cref="LogLines"/> kept, as a container runtime keeps
/// a log file).
/// </summary>
public sealed class KubetmSwitches
{
    public const int LogLines = 1000;
    private readonly LinkedList<LogLine> _log = new();
    private long _next;
    private readonly TaskCompletionSource<int> _crashed = new(TaskCreationOptions.RunContinuationsAsynchronously);

    public volatile bool Ready = true;
    public volatile bool Healthy = true;

    /// <summary>Completes with the exit code when the app crashes.</summary>
    public Task<int> Crashed => _crashed.Task;

    public void Crash() => _crashed.TrySetResult(1);

    public void Log(string line)
    {
        lock (_log)
        {
            _log.AddLast(new LogLine(_next++, DateTime.UtcNow, line));
            if (_log.Count > LogLines) _log.RemoveFirst();
        }
    }

    /// <summary>The kept lines numbered <paramref name="from"/> and later.</summary>
    public IReadOnlyList<LogLine> LogSince(long from)
    {
        lock (_log) return [.. _log.Where(l => l.Number >= from)];
    }
}

/// <summary>One line a container wrote, numbered from 0 over its life.</summary>
public sealed record LogLine(long Number, DateTime Time, string Text);

/// <summary>
/// One running container of the built-in image: a <see cref="KubetmApp"/> per TCP port and a <see cref="KubetmUdp"/>
/// per UDP port on the pod's address, sharing one <see cref="KubetmSwitches"/>. It ends when stopped (gracefully,
/// within a grace period), killed (at once), or when the app crashes; <see cref="Exited"/> says with which code.
/// A container whose spec gives a <c>command</c> runs that instead (one of <see cref="BuiltinCommands"/>, with its
/// <c>args</c>), and so does one with <c>args</c> alone, since the image's app is its CMD, not an ENTRYPOINT (as with
/// busybox, <c>kubectl run x --image=kubetm/app --restart=Never -- wget -qO- URL</c> runs wget): its output is the
/// container's log, and it exits with the command's code, as a one-off process does.
/// </summary>
public sealed class KubetmContainer
{
    private readonly List<IWorkload> _workloads;
    private readonly TaskCompletionSource<int> _exited = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource? _command; // set for a command container: cancelled to stop it

    private KubetmContainer(List<IWorkload> workloads, KubetmSwitches switches)
    {
        _workloads = workloads;
        Switches = switches;
        Started = DateTime.UtcNow;
        // A crash stops the listeners at once, as a process that exits closes its sockets.
        switches.Crashed.ContinueWith(async t => await EndAsync(TimeSpan.Zero, t.Result).ConfigureAwait(false), TaskScheduler.Default);
    }

    public KubetmSwitches Switches { get; }

    public DateTime Started { get; }

    /// <summary>The exit code: 1 after a crash, 137 when killed, 0 after a graceful stop.</summary>
    public Task<int> Exited => _exited.Task;

    private KubetmContainer(KubetmSwitches switches, CancellationTokenSource command)
    {
        _workloads = [];
        _command = command;
        Switches = switches;
        Started = DateTime.UtcNow;
    }

    /// <summary>
    /// Starts the container: its <c>command</c> when it has one, else the app listening on every port of
    /// <paramref name="container"/> (throws SocketException if one is taken).
    /// </summary>
    public static KubetmContainer Start(PodIdentity pod, V1Container container, IReadOnlyDictionary<string, byte[]>? files = null)
    {
        if (container.Command is { Count: > 0 } || container.Args is { Count: > 0 })
            return StartCommand(pod, container, [.. container.Command ?? [], .. container.Args ?? []], files);
        var switches = new KubetmSwitches();
        var workloads = new List<IWorkload>();
        try
        {
            foreach (var port in container.Ports ?? [])
            {
                if (port.Protocol is null or "TCP") workloads.Add(KubetmApp.Start(pod, port.ContainerPort, switches));
                else if (port.Protocol == "UDP") workloads.Add(KubetmUdp.Start(pod, port.ContainerPort));
            }
        }
        catch
        {
            foreach (var w in workloads) _ = w.DisposeAsync().AsTask();
            throw;
        }
        switches.Log($"kubetm/app {pod.Name} listening on {string.Join(", ", (container.Ports ?? []).Select(p => $"{pod.IP}:{p.ContainerPort}/{p.Protocol ?? "TCP"}"))}");
        return new KubetmContainer(workloads, switches);
    }

    private static KubetmContainer StartCommand(PodIdentity pod, V1Container container, IReadOnlyList<string> argv, IReadOnlyDictionary<string, byte[]>? files)
    {
        var stop = new CancellationTokenSource();
        var process = new KubetmContainer(new KubetmSwitches(), stop);
        _ = Task.Run(async () =>
        {
            var result = await BuiltinCommands.Run(argv, pod, container, Timeout.InfiniteTimeSpan, files, stop.Token).ConfigureAwait(false);
            foreach (var line in (result.Stdout + result.Stderr).Split('\n').SkipLast(1)) process.Switches.Log(line);
            process._exited.TrySetResult(result.ExitCode);
        });
        return process;
    }

    /// <summary>SIGTERM: stops gracefully within <paramref name="grace"/> (a command container at once, with 143).</summary>
    public Task StopAsync(TimeSpan grace) => EndAsync(grace, 0);

    /// <summary>SIGKILL: stops at once (a failed liveness probe).</summary>
    public Task KillAsync() => EndAsync(TimeSpan.Zero, 137);

    private async Task EndAsync(TimeSpan grace, int code)
    {
        if (_command is not null)
        {
            await _command.CancelAsync().ConfigureAwait(false);
            // The command ends on the cancellation; a kill is reported as such whatever it answered.
            if (code == 137) _exited.TrySetResult(137);
            await _exited.Task.ConfigureAwait(false);
            return;
        }
        await Task.WhenAll(_workloads.Select(w => w.StopAsync(grace))).ConfigureAwait(false);
        _exited.TrySetResult(code);
    }
}
