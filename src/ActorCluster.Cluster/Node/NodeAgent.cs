using System.Globalization;
using System.Net;
using ActorCluster.Cluster.ApiServer;
using ActorCluster.Cluster.Replica;
using ActorCluster.Core.ControlPlane;
using ActorCluster.Core.Objects;
using Akka.Actor;
using Akka.Event;
using k8s.Models;

namespace ActorCluster.Cluster.Node;

/// <summary>
/// kubelet for one node: registers the Node, keeps one <see cref="PodActor"/> per pod bound here (from the
/// node's replica), hands out pod IPs from the node's pod range, and passes deletions on for a graceful stop.
/// </summary>
public sealed class NodeAgent : ReceiveActor, IWithTimers
{
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly NodeAgentSettings _settings;
    private readonly IActorRef _apiServer;
    private readonly Dictionary<string, (IActorRef Actor, string IP, string Name)> _pods = new();
    private PodAddressPool? _addresses;
    private bool _registered;

    public NodeAgent(NodeAgentSettings settings, IActorRef apiServer, IActorRef replica)
    {
        _settings = settings;
        _apiServer = apiServer;
        replica.Tell(new SubscribeReplica(Self));

        Receive<Register>(_ => SendRegistration());
        // kubelet's heartbeat: once registered, the node's Lease is renewed (fire and forget: the next one follows).
        Receive<RenewLease>(_ =>
        {
            if (_registered) _apiServer.Tell(new RenewNodeLease(settings.NodeName));
        });
        Receive<Acknowledged>(_ =>
        {
            if (_registered) return;
            _registered = true;
            _log.Info("node {0} registered", settings.NodeName);
            _apiServer.Tell(new RenewNodeLease(settings.NodeName));
        });
        Receive<ApiErrorReply>(e => _log.Error("node {0}: registration refused: {1}", settings.NodeName, e.StatusJson));
        Receive<ReplicaUpdated>(OnReplica);
        Receive<PodActorFinished>(f =>
        {
            _pods.Remove(f.Uid);
            _addresses?.Release(f.IP);
        });
        Receive<GetRunningPods>(_ => Sender.Tell(new RunningPods(_pods.Values.ToDictionary(p => p.Name, p => p.IP))));
    }

    public ITimerScheduler Timers { get; set; } = null!;

    /// <summary>What `uname -r` prints, as kubelet reports it.</summary>
    private static readonly string KernelVersion = ReadFirstLine("/proc/sys/kernel/osrelease") ?? Environment.OSVersion.Version.ToString();

    /// <summary>PRETTY_NAME from /etc/os-release, as kubelet reports it.</summary>
    private static readonly string OsImage =
        File.Exists("/etc/os-release")
            ? File.ReadLines("/etc/os-release").FirstOrDefault(l => l.StartsWith("PRETTY_NAME=", StringComparison.Ordinal))?["PRETTY_NAME=".Length..].Trim('"') ?? "Linux"
            : Environment.OSVersion.VersionString;

    /// <summary>
    /// The machine as kubelet's cAdvisor reports it: every core, MemTotal from /proc/meminfo, and the size of the
    /// filesystem holding the working directory (kubelet's root directory's filesystem, "nodefs").
    /// </summary>
    private static readonly NodeCapacity Machine = new(Environment.ProcessorCount, MemoryBytes(), NodeFsBytes());

    private static long MemoryBytes()
    {
        var memTotal = File.Exists("/proc/meminfo")
            ? File.ReadLines("/proc/meminfo").Where(l => l.StartsWith("MemTotal:", StringComparison.Ordinal))
                .Select(l => long.TryParse(l["MemTotal:".Length..].Trim().Split(' ')[0], NumberStyles.None, CultureInfo.InvariantCulture, out var kb) ? kb * 1024 : 0)
                .FirstOrDefault()
            : 0;
        return memTotal > 0 ? memTotal : GC.GetGCMemoryInfo().TotalAvailableMemoryBytes;
    }

    private static long NodeFsBytes()
    {
        try
        {
            return new DriveInfo(Environment.CurrentDirectory).TotalSize;
        }
        catch (Exception e) when (e is IOException or ArgumentException or UnauthorizedAccessException)
        {
            return 0; // reported as 0Ki rather than no node at all
        }
    }

    private static string? ReadFirstLine(string path) => File.Exists(path) ? File.ReadLines(path).FirstOrDefault()?.Trim() : null;

    public static Props Props(NodeAgentSettings settings, IActorRef apiServer, IActorRef replica) =>
        Akka.Actor.Props.Create(() => new NodeAgent(settings, apiServer, replica));

    private sealed record Register
    {
        public static readonly Register Instance = new();
    }

    private sealed record RenewLease
    {
        public static readonly RenewLease Instance = new();
    }

    protected override void PreStart()
    {
        SendRegistration();
        Timers.StartPeriodicTimer("register", Register.Instance, _settings.RegisterInterval);
        Timers.StartPeriodicTimer("lease", RenewLease.Instance, _settings.LeaseRenewInterval);
    }

    private void SendRegistration()
    {
        if (_registered) return;
        _apiServer.Tell(new RegisterNode(_settings.NodeName, _settings.Address, _settings.AkkaAddress, KernelVersion, OsImage, Machine));
    }

    private void OnReplica(ReplicaUpdated update)
    {
        // Only pods and this node's own object concern the agent; services and slices are the proxy's.
        if (!update.Relisted && update.Changes.All(c => c.Object.Kind != ResourceKind.Pod
                                                       && !(c.Object.Kind == ResourceKind.Node && c.Object.Object.Metadata.Name == _settings.NodeName)))
            return;
        var store = update.Store;
        var node = store.Get<V1Node>(ResourceKind.Node, "", _settings.NodeName);
        if (node is null)
        {
            // Deleted while this node runs (kubectl delete node): kubelet registers its node again. Not registered
            // yet: pods cannot be bound here, and the registration timer is running.
            if (_registered)
            {
                _registered = false;
                SendRegistration();
            }
            return;
        }
        // Marked not ready while we are alive and talking (an ApiServer that moved, a healed partition): say so.
        if (node.Status?.Conditions?.Any(c => c.Type == "Ready" && c.Status == "True") != true && _registered)
        {
            _registered = false;
            SendRegistration();
        }

        var mine = store.All<V1Pod>(ResourceKind.Pod).Where(p => p.Spec?.NodeName == _settings.NodeName).ToList();
        if (_addresses is null && node.Spec?.PodCIDR is { } cidr)
            _addresses = new PodAddressPool(cidr, mine.Select(p => p.Status?.PodIP));
        if (_addresses is null) return;

        var present = new HashSet<string>();
        foreach (var pod in mine)
        {
            var uid = pod.Metadata.Uid;
            present.Add(uid);
            if (!_pods.TryGetValue(uid, out var running))
            {
                if (pod.Metadata.DeletionTimestamp is not null)
                {
                    // Marked for deletion before it ever ran here (e.g. after this node restarted): nothing to stop.
                    _apiServer.Tell(new ConfirmPodTerminated(pod.Metadata.NamespaceProperty, pod.Metadata.Name, uid));
                    continue;
                }
                var ip = _addresses.Next();
                if (ip is null)
                {
                    _log.Error("node {0}: pod range {1} is exhausted; pod {2} cannot start", _settings.NodeName, node.Spec!.PodCIDR, pod.Metadata.Name);
                    continue;
                }
                var services = store.All<V1Service>(ResourceKind.Service).Where(s => s.Metadata.NamespaceProperty == pod.Metadata.NamespaceProperty).ToList();
                var actor = Context.ActorOf(PodActor.Props(pod, ip, _settings.NodeName, _settings.Address, _apiServer, _settings.StatusResendInterval, services: services), uid);
                _pods[uid] = (actor, ip, pod.Metadata.Name);
                continue;
            }
            running.Actor.Tell(new PodChanged(pod));
            if (pod.Metadata.DeletionTimestamp is not null)
            {
                var grace = Math.Max(0, (pod.Metadata.DeletionTimestamp.Value - DateTime.UtcNow).TotalSeconds);
                running.Actor.Tell(new TerminatePod(TimeSpan.FromSeconds(Math.Min(grace, pod.Metadata.DeletionGracePeriodSeconds ?? 30))));
            }
        }
        // Pods removed without a graceful stop (forced delete, node object deleted): stop at once.
        foreach (var (uid, running) in _pods.Where(p => !present.Contains(p.Key)).ToList())
        {
            Context.Stop(running.Actor);
            _pods.Remove(uid);
            _addresses.Release(running.IP);
        }
    }
}

/// <summary>Who this node is: its name, its address, and where its actors live (from the node's options).</summary>
public sealed record NodeAgentSettings(string NodeName, string Address, string AkkaAddress)
{
    /// <summary>How often registration is repeated until the ApiServer acknowledges it (it may be moving).</summary>
    public TimeSpan RegisterInterval { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>How often the node's Lease is renewed (kubelet: a quarter of its 40 s duration).</summary>
    public TimeSpan LeaseRenewInterval { get; init; } = TimeSpan.FromSeconds(10);

    /// <summary>How often a pod's status report is repeated until acknowledged.</summary>
    public TimeSpan StatusResendInterval { get; init; } = TimeSpan.FromSeconds(2);
}

/// <summary>
/// Pod IPs from the node's /24: .2 to .254, handed out round-robin from a moving cursor so a recreated pod
/// gets a new address, and a restarted node starts after the highest address its pods had before.
/// </summary>
public sealed class PodAddressPool
{
    private readonly byte[] _prefix;
    private readonly HashSet<int> _used = [];
    private int _cursor = 1;

    public PodAddressPool(string podCidr, IEnumerable<string?> previous)
    {
        var network = IPAddress.Parse(podCidr.Split('/')[0]).GetAddressBytes();
        _prefix = network[..3];
        foreach (var ip in previous)
        {
            if (ip is not null && IPAddress.TryParse(ip, out var a) && a.GetAddressBytes()[..3].SequenceEqual(_prefix))
                _cursor = Math.Max(_cursor, a.GetAddressBytes()[3]);
        }
    }

    public string? Next()
    {
        for (var i = 0; i < 253; i++)
        {
            _cursor = _cursor >= 254 ? 2 : _cursor + 1;
            if (_used.Add(_cursor)) return $"{_prefix[0]}.{_prefix[1]}.{_prefix[2]}.{_cursor}";
        }
        return null;
    }

    public void Release(string ip)
    {
        if (IPAddress.TryParse(ip, out var a)) _used.Remove(a.GetAddressBytes()[3]);
    }
}
