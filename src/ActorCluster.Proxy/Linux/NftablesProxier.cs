using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using ActorCluster.Core.Routing;

namespace ActorCluster.Proxy.Linux;

/// <summary>
/// The kernel data path of one node (kube-proxy's nftables proxier): owns the node's table, takes each Service's
/// rules from its Service actor, and writes what changed as one <c>nft -f</c> transaction per sync. Updates that
/// arrive while a transaction runs are written together in the next one, so a burst costs a few transactions, not
/// one per Service; a transaction that fails is followed by a full resync (the table written again from what every
/// Service wants). The table carries its owner (node, pid, process start) so that a table whose process is gone
/// (kill -9) can be told apart from a live node's and removed by whoever comes next.
/// </summary>
public sealed partial class NftablesProxier : IAsyncDisposable
{
    private static readonly TimeSpan NftTimeout = TimeSpan.FromSeconds(30);

    private readonly Lock _lock = new();
    private readonly Dictionary<string, ServiceRules?> _pending = new();
    private readonly List<TaskCompletionSource> _waiting = [];
    private readonly Dictionary<string, ServiceRules> _applied = new();
    private readonly Dictionary<(string Space, string Key), string> _owners = new(); // which Service holds each map key
    private readonly SemaphoreSlim _wake = new(0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Action<string> _log;
    private readonly Task _loop;
    private ClusterIPShare _share;
    private bool _stopped;
    private bool _shareChanged;
    private long _transactions;
    private double _lastTransactionMs;

    private readonly bool _addressAdded;

    private NftablesProxier(KernelNode node, ClusterIPShare share, Action<string> log, bool addressAdded)
    {
        Node = node;
        _share = share;
        _log = log;
        _addressAdded = addressAdded;
        _loop = Task.Run(SyncLoop);
    }

    public KernelNode Node { get; }

    /// <summary>Transactions written so far (for /metrics and tests).</summary>
    public long Transactions => Interlocked.Read(ref _transactions);

    /// <summary>How long the newest transaction took to write (nft's parse and the kernel's commit), in milliseconds.</summary>
    public double LastTransactionMilliseconds => Volatile.Read(ref _lastTransactionMs);

    /// <summary>
    /// Whether this process may program nftables here: Linux, the <c>nft</c> tool, and a probe table with the node
    /// table's whole layout created and removed in one transaction (which needs CAP_NET_ADMIN, the kernel's nf_tables
    /// and every expression the rules use, such as reject on prerouting). Null when it may, else why not.
    /// </summary>
    public static string? Probe()
    {
        if (!OperatingSystem.IsLinux()) return "not Linux";
        var probe = KernelNode.For($"probe-{Environment.ProcessId}", System.Net.IPAddress.Loopback);
        var (ok, output) = Nft(NftablesRules.CreateTable(probe, new ClusterIPShare(0, 1), "probe") + $"delete table ip {probe.Table}\n");
        return ok ? null : $"nft: {output.Trim()}";
    }

    /// <summary>Writes the node's table afresh (removing one a previous incarnation left) and starts syncing.</summary>
    public static NftablesProxier Start(KernelNode node, ClusterIPShare share, Action<string> log)
    {
        var (ok, output) = Nft(NftablesRules.CreateTable(node, share, Owner(node)));
        if (!ok) throw new InvalidOperationException($"nft: cannot create table {node.Table}: {output.Trim()}");
        // A node other hosts can reach: their packets DNATed to pods and stand-ins on this host's loopback must be
        // delivered, not dropped as martians. (On one machine every client is local and nothing needs changing.)
        if (!System.Net.IPAddress.IsLoopback(node.Address))
        {
            var error = RouteLocalnet.EnableEverywhere();
            log(error is null
                ? "route_localnet set on this host's interfaces: other hosts' connections reach pods on loopback"
                : $"route_localnet could not be set ({error}): connections from other hosts to pods on this host's loopback will fail");
        }
        // A local-cluster node's 127.0.1.x becomes an address of lo, so clients on the machine calling it come from it
        // (as on a real node) and the SNAT under Cluster leaves their packets as they are.
        var added = false;
        if (NodeLoopbackAddress.Applies(node.Address))
        {
            (added, var error) = NodeLoopbackAddress.Assign(node.Address);
            if (error is not null) log($"{node.Address}/32 could not be given to lo ({error}): clients on this machine call the node from 127.0.0.1, and the SNAT rewrites their connections");
        }
        return new NftablesProxier(node, share, log, added);
    }

    /// <summary>Sets a Service's rules (null: the Service is gone here); the task completes once they are in the kernel.</summary>
    public Task Update(string serviceKey, ServiceRules? rules)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        lock (_lock)
        {
            // Stopped: the table is gone (or going) with everything in it; nobody may wait for a sync that never comes.
            if (_stopped) return Task.CompletedTask;
            _pending[serviceKey] = rules;
            _waiting.Add(done);
            _wake.Release(); // under the lock: never after DisposeAsync disposed it
        }
        return done.Task;
    }

    /// <summary>Which ClusterIP clients this node answers (written with the next sync).</summary>
    public void SetShare(ClusterIPShare share)
    {
        lock (_lock)
        {
            if (_stopped || share == _share) return;
            _share = share;
            _shareChanged = true;
            _wake.Release();
        }
    }

    private async Task SyncLoop()
    {
        while (!_stop.IsCancellationRequested)
        {
            try
            {
                await _wake.WaitAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
            Dictionary<string, ServiceRules?> pending;
            List<TaskCompletionSource> waiting;
            ClusterIPShare? share;
            lock (_lock)
            {
                pending = new Dictionary<string, ServiceRules?>(_pending);
                _pending.Clear();
                waiting = [.. _waiting];
                _waiting.Clear();
                share = _shareChanged ? _share : null;
                _shareChanged = false;
            }
            if (pending.Count == 0 && share is null && waiting.Count == 0) continue;
            foreach (var (key, _) in pending) Release(key);
            foreach (var key in pending.Keys.ToList()) pending[key] = Claim(key, pending[key]);
            var script = new StringBuilder();
            if (share is { } s) script.Append(NftablesRules.SetShare(Node, s));
            foreach (var (key, rules) in pending)
                script.Append(NftablesRules.Transaction(Node, _applied.GetValueOrDefault(key), rules));
            var (ok, output) = (true, "");
            if (script.Length > 0)
            {
                var started = Stopwatch.GetTimestamp();
                (ok, output) = Nft(script.ToString());
                Volatile.Write(ref _lastTransactionMs, Stopwatch.GetElapsedTime(started).TotalMilliseconds);
                Interlocked.Increment(ref _transactions);
            }
            var udpGone = new HashSet<string>();
            var udpNowServed = new HashSet<string>();
            foreach (var (key, rules) in pending)
            {
                var before = _applied.GetValueOrDefault(key);
                if (before is not null) udpGone.UnionWith(before.UdpEndpoints.Except(rules?.UdpEndpoints ?? []));
                if (rules is not null) udpNowServed.UnionWith(rules.UdpServed.Except(before?.UdpServed ?? []));
                if (rules is null) _applied.Remove(key);
                else _applied[key] = rules;
            }
            // An endpoint still wanted by another Service keeps its flows.
            udpGone.ExceptWith(_applied.Values.SelectMany(r => r.UdpEndpoints));
            FlushConntrack(udpGone);
            if (ok) FlushUnNATed(udpNowServed);
            if (!ok)
            {
                _log($"nft: a sync of {pending.Count} service(s) failed: {FirstLines(output)}; writing table {Node.Table} again");
                Resync();
            }
            foreach (var w in waiting) w.TrySetResult();
        }
    }

    /// <summary>Gives up the map keys a Service's applied rules hold (it is about to be rewritten or removed).</summary>
    private void Release(string service)
    {
        if (!_applied.TryGetValue(service, out var rules)) return;
        foreach (var ((container, key), _) in rules.Elements)
        {
            var space = (NftablesRules.KeySpace(container), key);
            if (_owners.TryGetValue(space, out var owner) && owner == service) _owners.Remove(space);
        }
    }

    /// <summary>
    /// Takes the map keys of a Service's new rules, leaving out those another Service holds: two Services may list
    /// the same externalIP and port, which the kernel cannot hold twice (the whole transaction would be refused). The
    /// first keeps it, as the first to bind a port does; the other's element is left out until its next change.
    /// </summary>
    private ServiceRules? Claim(string service, ServiceRules? rules)
    {
        if (rules is null) return null;
        var taken = new List<(string, string)>();
        foreach (var ((container, key), _) in rules.Elements)
        {
            var space = (NftablesRules.KeySpace(container), key);
            if (_owners.TryGetValue(space, out var owner) && owner != service) taken.Add((container, key));
            else _owners[space] = service;
        }
        if (taken.Count == 0) return rules;
        _log($"nft: {service} is not given {string.Join(", ", taken.Select(t => t.Item2))}: held by {string.Join(", ", taken.Select(t => _owners[(NftablesRules.KeySpace(t.Item1), t.Item2)]).Distinct())}");
        return rules with { Elements = rules.Elements.RemoveRange(taken) };
    }

    /// <summary>
    /// Forgets the UDP flows DNATed to endpoints that left (conntrack's entries whose reply comes from them), so a
    /// client's next datagram is routed afresh instead of following its entry to a pod that is gone. TCP needs
    /// nothing: a connection to a gone pod is reset by its host.
    /// </summary>
    private void FlushConntrack(IEnumerable<string> endpoints)
    {
        foreach (var endpoint in endpoints)
        {
            var colon = endpoint.LastIndexOf(':');
            var (ok, output) = Run("conntrack", ["-D", "-p", "udp", "--reply-src", endpoint[..colon], "--reply-port-src", endpoint[(colon + 1)..]], null);
            // conntrack exits 1 when no entry matched, which is the common case.
            if (!ok && !output.Contains("0 flow entries", StringComparison.Ordinal) && !_conntrackMissingSaid)
            {
                _conntrackMissingSaid = true;
                _log($"conntrack: cannot flush the flows of UDP endpoints that left ({FirstLines(output)}); install Debian's conntrack package");
            }
        }
    }

    /// <summary>
    /// Forgets the UDP flows to addresses that have just become served which no rule NATed (conntrack's entries whose
    /// reply would come from the address itself): a datagram sent before the rules existed left one, and every later
    /// datagram of that flow follows it, past the new rules, to the closed port. kube-proxy flushes the same way when a
    /// UDP Service gets its first endpoint. Flows already DNATed (their reply comes from a pod) stay.
    /// </summary>
    private void FlushUnNATed(IEnumerable<string> addresses)
    {
        foreach (var address in addresses)
        {
            var colon = address.LastIndexOf(':');
            var (ip, port) = (address[..colon], address[(colon + 1)..]);
            var (ok, output) = Run("conntrack", ["-D", "-p", "udp", "--orig-dst", ip, "--orig-port-dst", port, "--reply-src", ip, "--reply-port-src", port], null);
            if (!ok && !output.Contains("0 flow entries", StringComparison.Ordinal) && !_conntrackMissingSaid)
            {
                _conntrackMissingSaid = true;
                _log($"conntrack: cannot flush the flows of UDP addresses that gained endpoints ({FirstLines(output)}); install Debian's conntrack package");
            }
        }
    }

    private bool _conntrackMissingSaid;

    /// <summary>The whole table again, from what every Service wants: the way back from a transaction the kernel refused.</summary>
    private void Resync()
    {
        ClusterIPShare share;
        lock (_lock) share = _share;
        var script = new StringBuilder(NftablesRules.CreateTable(Node, share, Owner(Node)));
        foreach (var rules in _applied.Values) script.Append(NftablesRules.Transaction(Node, null, rules));
        var (ok, output) = Nft(script.ToString());
        if (!ok) _log($"nft: writing table {Node.Table} again failed too: {FirstLines(output)}");
    }

    public async ValueTask DisposeAsync()
    {
        lock (_lock) _stopped = true;
        await _stop.CancelAsync().ConfigureAwait(false);
        try
        {
            await _loop.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        var (ok, output) = Nft(NftablesRules.DeleteTable(Node.Table));
        if (!ok) _log($"nft: cannot remove table {Node.Table}: {FirstLines(output)}");
        if (_addressAdded) NodeLoopbackAddress.Remove(Node.Address);
        lock (_lock)
        {
            foreach (var w in _waiting) w.TrySetResult();
            _waiting.Clear();
        }
        _stop.Dispose();
        _wake.Dispose();
    }

    // ------------------------------------------------------------------ tables left behind

    /// <summary>
    /// Removes every ActorCluster table whose owning process is gone (a node killed with -9 cannot remove its own), with
    /// the loopback address that node gave lo unless a live node uses it now. A live node's table, of this cluster or
    /// another, is left alone. Returns the tables removed.
    /// </summary>
    public static IReadOnlyList<string> RemoveOrphans()
    {
        var (ok, output) = NftRead("list", "tables", "ip");
        if (!ok) return [];
        var removed = new List<string>();
        var orphanAddresses = new HashSet<string>();
        var liveAddresses = new HashSet<string>();
        foreach (Match m in TableLine().Matches(output))
        {
            var table = m.Groups[1].Value;
            var (listed, text) = NftRead("-t", "list", "table", "ip", table);
            if (!listed || OwnerComment().Match(text) is not { Success: true } owner) continue;
            var address = owner.Groups["address"].Value;
            var pid = int.Parse(owner.Groups["pid"].Value, CultureInfo.InvariantCulture);
            if (ProcessStart(pid) == owner.Groups["start"].Value)
            {
                liveAddresses.Add(address);
                continue;
            }
            if (!Nft(NftablesRules.DeleteTable(table)).Ok) continue;
            removed.Add(table);
            orphanAddresses.Add(address);
        }
        foreach (var address in orphanAddresses.Except(liveAddresses))
        {
            if (System.Net.IPAddress.TryParse(address, out var ip) && NodeLoopbackAddress.Applies(ip)) NodeLoopbackAddress.Remove(ip);
        }
        return removed;
    }

    /// <summary>Removes the named tables whatever their owner (`up` clearing the tables of its own nodes before it starts them).</summary>
    public static void Remove(IEnumerable<string> tables)
    {
        var script = string.Concat(tables.Select(NftablesRules.DeleteTable));
        if (script.Length > 0) Nft(script);
    }

    [GeneratedRegex(@"^table ip (actorcluster-[^\s]+)$", RegexOptions.Multiline)]
    private static partial Regex TableLine();

    [GeneratedRegex("comment \"actorcluster node [^ ]+ (?:address (?<address>[^ ]+) )?pid (?<pid>\\d+) start (?<start>\\d+)\"")]
    private static partial Regex OwnerComment();

    private static string Owner(KernelNode node) =>
        $"actorcluster node {node.NodeName} address {node.Address} pid {Environment.ProcessId} start {ProcessStart(Environment.ProcessId)}";

    /// <summary>
    /// A live process's start time in clock ticks since boot (/proc/pid/stat field 22): a pid reused later has another.
    /// "gone" for no process, and for a zombie (killed, not yet reaped by a parent that may never reap it).
    /// </summary>
    private static string ProcessStart(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            // The command name (field 2) may hold spaces and parentheses: count fields after its closing one.
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return fields[0] is "Z" or "X" ? "gone" : fields[19];
        }
        catch (IOException)
        {
            return "gone";
        }
        catch (UnauthorizedAccessException)
        {
            return "gone";
        }
    }

    // ------------------------------------------------------------------ running nft

    private static (bool Ok, string Output) Nft(string script) => Run(["-f", "-"], script);

    private static (bool Ok, string Output) NftRead(params string[] args) => Run(args, null);

    private static (bool Ok, string Output) Run(string[] args, string? stdin) => Run("nft", args, stdin);

    private static (bool Ok, string Output) Run(string tool, string[] args, string? stdin)
    {
        try
        {
            using var p = Process.Start(new ProcessStartInfo(tool, args)
            {
                RedirectStandardInput = stdin is not null,
                RedirectStandardOutput = true,
                RedirectStandardError = true,
            })!;
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            if (stdin is not null)
            {
                p.StandardInput.Write(stdin);
                p.StandardInput.Close();
            }
            if (!p.WaitForExit(NftTimeout))
            {
                p.Kill();
                return (false, $"{tool} did not finish in {NftTimeout.TotalSeconds:0}s");
            }
            p.WaitForExit();
            return (p.ExitCode == 0, p.ExitCode == 0 ? stdout.Result : stderr.Result + stdout.Result);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return (false, $"{tool}: {e.Message}");
        }
    }

    private static string FirstLines(string output) => string.Join(" | ", output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Take(3));
}
