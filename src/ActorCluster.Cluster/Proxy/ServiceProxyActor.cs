using System.Net;
using ActorCluster.Cluster.Replica;
using ActorCluster.Core.Allocation;
using ActorCluster.Core.ControlPlane;
using ActorCluster.Core.Endpoints;
using ActorCluster.Core.Objects;
using ActorCluster.Core.Store;
using ActorCluster.Core.Routing;
using ActorCluster.Proxy;
using ActorCluster.Proxy.Linux;
using Akka.Actor;
using Akka.Event;
using k8s.Models;

namespace ActorCluster.Cluster.Proxy;

/// <summary>
/// kube-proxy's change tracker for one node: follows the node's replica, notes which Services a change touches (the
/// Service itself or one of its EndpointSlices; every Service when the nodes change in a way routing depends on),
/// and at most once per min-sync-period hands each touched Service's actor its Service, its slices and the nodes
/// (<see cref="ServiceChanged"/>). The <see cref="ServiceActor"/>s own the addresses and decide the routes; this
/// actor creates and stops them, finds them for <see cref="Dispatch"/> (by address) and
/// <see cref="ServiceProxyRequest"/> (by name), and runs the node tunnel other nodes use to reach this node's pods.
/// </summary>
public sealed class ServiceProxyActor : ReceiveActor, IWithTimers
{
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly ProxySettings _settings;
    private readonly IActorRef _apiServer;
    private readonly ListenerRegistry _registry = new();
    private readonly AddressAnnouncer _announcer;
    private readonly Dictionary<ObjectKey, (IActorRef Actor, string? Uid)> _services = new();
    private readonly HashSet<ObjectKey> _pending = [];
    // Dispatch by address: "ip:port/protocol" for ClusterIPs, externalIPs and LoadBalancer IPs, ":nodePort/protocol" for NodePorts
    // (any node's address counts); each Service's own entries, to drop them when it changes.
    private readonly Dictionary<string, ObjectKey> _serviceAt = new();
    private readonly Dictionary<ObjectKey, List<string>> _addressesOf = new();
    private readonly EndpointSliceIndex _slices = new();
    private NodeTunnel? _tunnel;
    private NftablesProxier? _kernel;
    private bool _tunnelFailureReported;
    private readonly TunnelMembers _members = new();
    private ObjectStore _store = ObjectStore.Empty;
    private NodeDirectory _nodes = NodeDirectory.Empty;
    private DateTime _lastSync = DateTime.MinValue;
    private long _syncs;

    public ServiceProxyActor(ProxySettings settings, IActorRef apiServer, IActorRef replica)
    {
        _settings = settings;
        var log = _log;
        _announcer = new AddressAnnouncer(settings.NodeAddress, m => log.Info(m));
        _apiServer = apiServer;
        replica.Tell(new SubscribeReplica(Self));

        Receive<ReplicaUpdated>(OnReplica);
        Receive<Sync>(_ => SyncNow());
        Receive<RetryTunnel>(_ => StartTunnel());
        Receive<Dispatch>(ForwardDispatch);
        Receive<ServiceProxyRequest>(r =>
        {
            if (_services.TryGetValue(new ObjectKey(r.Namespace, r.Service), out var s)) s.Actor.Forward(r);
            else Sender.Tell(new DispatchRefused("UnknownAddress", $"no endpoints available for service {Core.Api.GoFormat.Quote(r.Service)}"));
        });
        Receive<GetProxyListeners>(_ =>
        {
            // Two Services may list the same externalIP and port (both relay listeners share it): the first one named.
            var bound = new Dictionary<string, string>();
            foreach (var (endPoint, protocol, service) in _registry.Listeners.Select(l => (l.EndPoint, l.Protocol, Service: $"{l.Table.Namespace}/{l.Table.ServiceName}")).Concat(_registry.KernelServed))
                bound.TryAdd(protocol == ServiceTypes.TCP ? endPoint.ToString() : $"{endPoint}/{protocol}", service);
            Sender.Tell(new ProxyListeners(bound, _registry.FailedEndPoints.ToList(), _tunnel?.EndPoint.ToString()));
        });
        Receive<GetProxyCounters>(_ => Sender.Tell(Counters()));
        Receive<GetTraffic>(_ => Sender.Tell(new NodeTraffic(_settings.NodeName, Counters().Listeners, _registry.Traffic.Endpoints(), _registry.Traffic.Recent())));
        Receive<Akka.Cluster.ClusterEvent.IMemberEvent>(OnMember);
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(ProxySettings settings, IActorRef apiServer, IActorRef replica) =>
        Akka.Actor.Props.Create(() => new ServiceProxyActor(settings, apiServer, replica));

    private sealed record Sync
    {
        public static readonly Sync Instance = new();
    }

    private sealed record RetryTunnel
    {
        public static readonly RetryTunnel Instance = new();
    }

    protected override void PreStart()
    {
        // In a cluster (not in an actor's own specs), the tunnel admits the members Akka knows.
        if (Context.System is ExtendedActorSystem { Provider: Akka.Cluster.ClusterActorRefProvider })
            Akka.Cluster.Cluster.Get(Context.System).Subscribe(Self, Akka.Cluster.ClusterEvent.InitialStateAsEvents, typeof(Akka.Cluster.ClusterEvent.IMemberEvent));
        StartTunnel();
        Timers.StartPeriodicTimer("retry-tunnel", RetryTunnel.Instance, _settings.BindRetryInterval);
        _kernel = StartKernelDataPath();
    }

    /// <summary>
    /// nftables mode (asked for, or auto and the probe allows it): the node's table is written afresh, tables that
    /// processes now gone left behind are removed, and the Service actors hand their rules to it. Userspace: null.
    /// </summary>
    private NftablesProxier? StartKernelDataPath()
    {
        if (_settings.Mode == ProxyMode.Userspace)
        {
            _log.Info("service proxy mode: userspace (the relay carries Service traffic)");
            return null;
        }
        var refusal = NftablesProxier.Probe();
        if (refusal is not null)
        {
            if (_settings.Mode == ProxyMode.Nftables)
                throw new InvalidOperationException($"actorcluster.proxy.mode = nftables, but this process cannot program nftables: {refusal}");
            _log.Info("service proxy mode: userspace (auto: nftables is not available here: {0})", refusal);
            return null;
        }
        foreach (var table in NftablesProxier.RemoveOrphans()) _log.Info("removed nftables table {0}: the process that wrote it is gone", table);
        var log = _log;
        var kernel = NftablesProxier.Start(KernelNode.For(_settings.NodeName, _settings.NodeAddress), ClusterIPShare.Of(_settings.NodeName, _nodes.ReadyNames), m => log.Warning(m));
        _log.Info("service proxy mode: nftables (table ip {0}; the kernel carries Service traffic)", kernel.Node.Table);
        return kernel;
    }

    /// <summary>The shipped configuration's dispatcher for Service actors (hocon: actorcluster.proxy.dispatcher); a bare ActorSystem's default otherwise.</summary>
    private Props WithServiceDispatcher(Props props) =>
        Context.System.Dispatchers.HasDispatcher(ServiceDispatcher) ? props.WithDispatcher(ServiceDispatcher) : props;

    private const string ServiceDispatcher = "actorcluster.proxy.dispatcher";

    protected override void PostStop()
    {
        if (Context.System is ExtendedActorSystem { Provider: Akka.Cluster.ClusterActorRefProvider }) Akka.Cluster.Cluster.Get(Context.System).Unsubscribe(Self);
        // The Service actors (children) close their own addresses as they stop; the node's table goes last.
        _tunnel?.DisposeAsync().AsTask().Wait(TimeSpan.FromSeconds(5));
        _kernel?.DisposeAsync().AsTask().Wait(TimeSpan.FromSeconds(10));
    }

    // ------------------------------------------------------------------ change tracking

    private void OnReplica(ReplicaUpdated update)
    {
        _store = update.Store;
        if (update.Relisted) _slices.Rebuild(_store);
        else _slices.Apply(update.Changes);
        var nodesChanged = update.Relisted || update.Changes.Any(c => c.Object.Kind == ResourceKind.Node);
        if (nodesChanged)
        {
            var nodes = NodeDirectory.Of(_store);
            _tunnel?.SetPolicy(CurrentTunnelPolicy());
            // Routes depend on which nodes are Ready, where they are and their tunnels: every Service is touched.
            if (update.Relisted || !nodes.Equals(_nodes))
            {
                _nodes = nodes;
                _kernel?.SetShare(ClusterIPShare.Of(_settings.NodeName, nodes.ReadyNames));
                if (_kernel is not null)
                {
                    foreach (var table in NftablesProxier.RemoveOrphans()) _log.Info("removed nftables table {0}: the process that wrote it is gone", table);
                }
                foreach (var s in _store.All(ResourceKind.Service)) _pending.Add(ObjectKey.Of(s.Object.Metadata));
                _pending.UnionWith(_services.Keys);
            }
        }
        foreach (var change in update.Changes)
        {
            if (EndpointSliceIndex.ServiceOf(change.Object) is { } key) _pending.Add(key);
        }
        if (_pending.Count == 0 || Timers.IsTimerActive("sync")) return;
        var due = _lastSync + _settings.MinSyncPeriod - DateTime.UtcNow;
        if (due <= TimeSpan.Zero) SyncNow();
        else Timers.StartSingleTimer("sync", Sync.Instance, due);
    }

    /// <summary>Hands every touched Service's actor its current state (creating and stopping actors as Services come and go).</summary>
    private void SyncNow()
    {
        _lastSync = DateTime.UtcNow;
        _syncs++;
        foreach (var key in _pending)
        {
            var svc = _store.Get<V1Service>(ResourceKind.Service, key.Namespace, key.Name);
            if (_services.TryGetValue(key, out var current) && (svc is null || current.Uid != svc.Metadata.Uid))
            {
                // Deleted (or deleted and created again): the old actor closes its addresses and stops.
                current.Actor.Tell(new ServiceChanged(null, [], _nodes));
                _services.Remove(key);
            }
            IndexAddresses(key, svc);
            if (svc is null) continue;
            if (!_services.TryGetValue(key, out current))
            {
                current = (Context.ActorOf(WithServiceDispatcher(ServiceActor.Props(_settings, _apiServer, _registry, _announcer, _kernel)), ServiceActor.NameOf(svc)), svc.Metadata.Uid);
                _services[key] = current;
            }
            current.Actor.Tell(new ServiceChanged(svc, _slices.Of(key), _nodes));
        }
        _pending.Clear();
    }

    // ------------------------------------------------------------------ request-level callers

    private void IndexAddresses(ObjectKey key, V1Service? svc)
    {
        if (_addressesOf.Remove(key, out var previous))
        {
            foreach (var a in previous) _serviceAt.Remove(a);
        }
        if (svc is null) return;
        var addresses = DispatchAddresses(svc).ToList();
        foreach (var a in addresses) _serviceAt[a] = key;
        _addressesOf[key] = addresses;
    }

    /// <summary>The addresses a Service answers a Dispatch on: ClusterIP, externalIPs and LoadBalancer IPs per port, and NodePorts.</summary>
    private static IEnumerable<string> DispatchAddresses(V1Service svc)
    {
        var ips = new[] { svc.Spec?.ClusterIP }.Concat(svc.Spec?.ExternalIPs ?? []).Concat(svc.Status?.LoadBalancer?.Ingress?.Select(i => i.Ip) ?? [])
            .Where(ip => !string.IsNullOrEmpty(ip) && ip != ServiceTypes.None).ToList();
        foreach (var p in svc.Spec?.Ports ?? [])
        {
            var protocol = p.Protocol ?? ServiceTypes.TCP;
            foreach (var ip in ips) yield return $"{ip}:{p.Port}/{protocol}";
            if (p.NodePort is > 0) yield return $":{p.NodePort}/{protocol}";
        }
    }

    /// <summary>Finds the Service listening on the dispatch's address (any node's NodePort counts) and forwards.</summary>
    private void ForwardDispatch(Dispatch d)
    {
        if (IPEndPoint.TryParse(d.ServiceAddress, out var address)
            && (_serviceAt.TryGetValue($"{address.Address}:{address.Port}/{d.Protocol}", out var key)
                || _serviceAt.TryGetValue($":{address.Port}/{d.Protocol}", out key))
            && _services.TryGetValue(key, out var service))
        {
            service.Actor.Forward(d);
            return;
        }
        Sender.Tell(new DispatchRefused("UnknownAddress", $"no service listens on {d.ServiceAddress}/{d.Protocol}"));
    }

    private ProxyCounters Counters()
    {
        var listeners = _registry.Listeners.Select(l => new ListenerCounters(
            $"{l.Table.Namespace}/{l.Table.ServiceName}", l.EndPoint.ToString(), l.Protocol,
            l.Kind,
            Interlocked.Read(ref l.Stats.Active), Interlocked.Read(ref l.Stats.Connections), Interlocked.Read(ref l.Stats.RefusedNoEndpoints), Interlocked.Read(ref l.Stats.RefusedNoLocalEndpoints),
            Interlocked.Read(ref l.Stats.DroppedFlowLimit), Interlocked.Read(ref l.Stats.DialRetries), Interlocked.Read(ref l.Stats.Failed),
            Interlocked.Read(ref l.Stats.BytesIn), Interlocked.Read(ref l.Stats.BytesOut), Interlocked.Read(ref l.Stats.RefusedSourceRange))).ToList();
        var t = _tunnel;
        var tunnel = t is null ? null : new TunnelCounters(Interlocked.Read(ref t.Stats.Connections), Interlocked.Read(ref t.Rejected),
            Interlocked.Read(ref t.Stats.Failed), Interlocked.Read(ref t.Stats.BytesIn), Interlocked.Read(ref t.Stats.BytesOut));
        return new ProxyCounters(listeners, tunnel, _syncs, _kernel is null ? "userspace" : "nftables", _kernel?.Transactions ?? 0, _kernel?.LastTransactionMilliseconds ?? 0);
    }

    // ------------------------------------------------------------------ the node tunnel

    private void StartTunnel()
    {
        if (_tunnel is not null) return;
        var endPoint = new IPEndPoint(_settings.NodeAddress, _settings.TunnelPort);
        try
        {
            _tunnel = NodeTunnel.Start(endPoint, _settings.TunnelPeer ?? (_ => null));
            _tunnel.SetPolicy(CurrentTunnelPolicy());
            _log.Info("node tunnel listening on {0}", endPoint);
        }
        catch (System.Net.Sockets.SocketException e)
        {
            // Only connections from other nodes to this node's pods need it; everything else keeps working.
            if (!_tunnelFailureReported) _log.Error("node tunnel cannot listen on {0}: {1}; trying again every 2s", endPoint, e.Message);
            _tunnelFailureReported = true;
        }
    }

    private void OnMember(Akka.Cluster.ClusterEvent.IMemberEvent e)
    {
        if (_members.Apply(e)) _tunnel?.SetPolicy(CurrentTunnelPolicy());
    }

    /// <summary>Members are the cluster's current members (every incarnation's address); targets are this node's pod range.</summary>
    private TunnelPolicy CurrentTunnelPolicy()
    {
        var members = _members.Addresses;
        var cidr = _store.Get<V1Node>(ResourceKind.Node, "", _settings.NodeName)?.Spec?.PodCIDR;
        if (cidr is null) return new TunnelPolicy(members, _ => false);
        var (network, prefix) = IPAllocator.ParseCidr(cidr);
        var mask = prefix == 0 ? 0u : uint.MaxValue << (32 - prefix);
        var net = ToUInt(network) & mask;
        return new TunnelPolicy(members, a => a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && (ToUInt(a) & mask) == net);
    }

    private static uint ToUInt(IPAddress a)
    {
        var b = a.GetAddressBytes();
        return ((uint)b[0] << 24) | ((uint)b[1] << 16) | ((uint)b[2] << 8) | b[3];
    }
}
