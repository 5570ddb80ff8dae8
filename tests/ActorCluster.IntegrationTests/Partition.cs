using System.Diagnostics;

namespace ActorCluster.IntegrationTests;

/// <summary>
/// A real network partition of one node process on this machine: the process is moved into a cgroup of its own and
/// an nftables table drops everything it sends to or from the remoting port, and everything others send to its
/// remoting address. The nodes share the loopback interface (their outgoing connections all leave from 127.0.0.1),
/// so the process's sockets, not addresses, say which packets are its own. Needs root, nft and cgroup v2.
/// </summary>
internal sealed class Partition : IDisposable
{
    private readonly string _table = "actorcluster-test-" + Guid.NewGuid().ToString("N")[..8];
    private readonly string _cgroupRoot;
    private readonly string _cgroupDir;
    private bool _active;

    private Partition(string cgroupRoot)
    {
        _cgroupRoot = cgroupRoot;
        _cgroupDir = Path.Combine(cgroupRoot, _table);
    }

    /// <summary>A partition tool for this machine, or why there is none (skipped outside CI, a failure under it).</summary>
    public static Partition Create()
    {
        string? missing = null;
        if (Environment.UserName != "root") missing = "root";
        else if (!File.Exists("/usr/sbin/nft")) missing = "nft (Debian package nftables)";
        var root = File.ReadLines("/proc/mounts").Select(l => l.Split(' ')).FirstOrDefault(f => f.Length > 2 && f[2] == "cgroup2")?[1];
        if (missing is null && root is null) missing = "a cgroup v2 mount";
        if (missing is not null)
        {
            if (Environment.GetEnvironmentVariable("CI") is { Length: > 0 }) throw new InvalidOperationException($"{missing} is required under CI for the partition test");
            Skip.If(true, $"{missing} not available");
        }
        return new Partition(root!);
    }

    /// <summary>
    /// Cuts a node off the cluster's remoting (its API and the machine's other traffic keep working), and keeps it cut
    /// off across restarts, as a partition of its host would: while the partition lasts, whichever process the node's
    /// pid file names is moved into the cgroup. A process <c>up</c> starts again is moved within
    /// <see cref="FollowPeriod"/> of its pid file appearing, long before it opens a remoting connection (the runtime
    /// and the actor system take far longer than that to start).
    /// </summary>
    public void Isolate(Func<int?> pidOf, string address, int port)
    {
        Directory.CreateDirectory(_cgroupDir);
        MoveIntoCgroup(pidOf() ?? throw new InvalidOperationException("the node to isolate is not running"));
        // nft names a cgroup by its path below /sys/fs/cgroup, wherever cgroup v2 is mounted under it.
        var cgroup = Path.GetRelativePath("/sys/fs/cgroup", _cgroupDir);
        Nft($$"""
            table inet {{_table}} {
              chain out {
                type filter hook output priority 0; policy accept;
                socket cgroupv2 level 1 "{{cgroup}}" tcp dport {{port}} drop
                socket cgroupv2 level 1 "{{cgroup}}" tcp sport {{port}} drop
                ip daddr {{address}} tcp dport {{port}} drop
              }
            }
            """);
        _active = true;
        _following = new CancellationTokenSource();
        var stop = _following.Token;
        _follower = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                if (pidOf() is { } pid) MoveIntoCgroup(pid);
                await Task.Delay(FollowPeriod, CancellationToken.None);
            }
        }, CancellationToken.None);
    }

    private static readonly TimeSpan FollowPeriod = TimeSpan.FromMilliseconds(20);
    private CancellationTokenSource? _following;
    private Task? _follower;

    private void MoveIntoCgroup(int pid)
    {
        try
        {
            if (File.ReadAllText($"/proc/{pid}/cgroup").Contains(Path.GetFileName(_cgroupDir), StringComparison.Ordinal)) return;
            File.WriteAllText(Path.Combine(_cgroupDir, "cgroup.procs"), pid.ToString(System.Globalization.CultureInfo.InvariantCulture));
        }
        catch (IOException)
        {
            // Between two incarnations: the old one exited; the next is moved once it runs.
        }
    }

    public void Heal()
    {
        if (!_active) return;
        _active = false;
        _following!.Cancel();
        _follower!.Wait(TimeSpan.FromSeconds(5));
        Nft($"delete table inet {_table}");
        // Processes still in the cgroup go back to the root one, so the cgroup can be removed.
        if (!Directory.Exists(_cgroupDir)) return;
        foreach (var pid in File.ReadAllLines(Path.Combine(_cgroupDir, "cgroup.procs")).Where(l => l.Length > 0))
        {
            try
            {
                File.WriteAllText(Path.Combine(_cgroupRoot, "cgroup.procs"), pid);
            }
            catch (IOException)
            {
                // It exited meanwhile.
            }
        }
        Directory.Delete(_cgroupDir);
    }

    public void Dispose() => Heal();

    private static void Nft(string script)
    {
        var info = new ProcessStartInfo("/usr/sbin/nft", "-f -") { RedirectStandardInput = true, RedirectStandardError = true, UseShellExecute = false };
        using var nft = Process.Start(info)!;
        nft.StandardInput.Write(script);
        nft.StandardInput.Close();
        var error = nft.StandardError.ReadToEnd();
        if (!nft.WaitForExit(10_000)) nft.Kill();
        if (nft.ExitCode != 0) throw new InvalidOperationException($"nft failed: {error}");
    }
}
