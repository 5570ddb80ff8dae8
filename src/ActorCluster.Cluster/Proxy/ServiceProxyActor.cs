using System.Net;
using ActorCluster.Cluster.ApiServer;
using ActorCluster.Cluster.Replica;
using ActorCluster.Core.Allocation;
using ActorCluster.Core.Endpoints;
using ActorCluster.Core.Objects;
using ActorCluster.Core.Routing;
using ActorCluster.Core.Store;
using ActorCluster.Proxy;
using Akka.Actor;
using Akka.Event;
using k8s.Models;

namespace ActorCluster.Cluster.Proxy;

/// <summary>
/// kube-proxy for one node: follows the node's replica, rebuilds the routing tables of the Services a change touches
/// (the Service itself or one of its EndpointSlices), hands them to the listeners and to the Service's
/// <see cref="ServiceActor"/>, and runs the node tunnel other nodes use to reach this node's pods. A port another
/// program holds becomes a Warning Event on the Service and a log line, and is tried again every two seconds.
/// </summary>
public sealed class ServiceProxyActor : ReceiveActor, IWithTimers
{
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly ProxySettings _settings;
    private readonly NodeServiceProxy _proxy;
    private readonly IActorRef _apiServer;
    private readonly HashSet<ObjectKey> _proxyKeys = [];
    private readonly HashSet<string> _unsupportedReported = [];
    private readonly Dictionary<ObjectKey, IActorRef> _services = new();
    // Dispatch by address: "ip:port/protocol" for ClusterIPs and LoadBalancer IPs, ":nodePort/protocol" for NodePorts
    // (any node's address counts); each Service's own entries, to drop them when it changes.
    private readonly Dictionary<string, ObjectKey> _serviceAt = new();
    private readonly Dictionary<ObjectKey, List<string>> _addressesOf = new();
    private NodeTunnel? _tunnel;
    private bool _tunnelFailureReported;
    private ObjectStore _store = ObjectStore.Empty;

    public ServiceProxyActor(ProxySettings settings, IActorRef apiServer, IActorRef replica)
    {
        _settings = settings;
        var log = _log;
        _proxy = new NodeServiceProxy(settings.NodeName, settings.NodeAddress, settings.Udp, new AddressAnnouncer(settings.NodeAddress, m => log.Info(m)));
        _apiServer = apiServer;
        replica.Tell(new SubscribeReplica(Self));

        ReceiveAsync<ReplicaUpdated>(OnReplica);
        Receive<RetryBinds>(_ =>
        {
            Report(_proxy.RetryFailed());
            StartTunnel();
        });
        Receive<Dispatch>(ForwardDispatch);
        Receive<GetProxyListeners>(_ => Sender.Tell(new ProxyListeners(
            _proxy.Listeners.ToDictionary(l => l.Protocol == ServiceTypes.TCP ? l.EndPoint.ToString() : $"{l.EndPoint}/{l.Protocol}", l => $"{l.Table.Namespace}/{l.Table.ServiceName}"),
            _proxy.FailedEndPoints.ToList(),
            _tunnel?.EndPoint.ToString())));
        Receive<GetProxyCounters>(_ => Sender.Tell(Counters()));
        Receive<ObjectReply>(_ => { });
        Receive<ApiErrorReply>(e => _log.Warning("event not recorded: {0}", e.StatusJson));
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(ProxySettings settings, IActorRef apiServer, IActorRef replica) =>
        Akka.Actor.Props.Create(() => new ServiceProxyActor(settings, apiServer, replica));

    private sealed record RetryBinds
    {
        public static readonly RetryBinds Instance = new();
    }

    protected override void PreStart()
    {
        StartTunnel();
        Timers.StartPeriodicTimer("retry-binds", RetryBinds.Instance, TimeSpan.FromSeconds(2));
    }

    protected override void PostStop()
    {
        _tunnel?.DisposeAsync().AsTask().Wait(TimeSpan.FromSeconds(5));
        _proxy.DisposeAsync().AsTask().Wait(TimeSpan.FromSeconds(5));
    }

    private void StartTunnel()
    {
        if (_tunnel is not null) return;
        var endPoint = new IPEndPoint(_settings.NodeAddress, _settings.TunnelPort);
        try
        {
            _tunnel = NodeTunnel.Start(endPoint);
            _tunnel.SetPolicy(TunnelPolicyOf(_store));
            _log.Info("node tunnel listening on {0}", endPoint);
        }
        catch (System.Net.Sockets.SocketException e)
        {
            // Only connections from other nodes to this node's pods need it; everything else keeps working.
            if (!_tunnelFailureReported) _log.Error("node tunnel cannot listen on {0}: {1}; trying again every 2s", endPoint, e.Message);
            _tunnelFailureReported = true;
        }
    }

    /// <summary>Members are the cluster's nodes (by address); targets are this node's pod range.</summary>
    private TunnelPolicy TunnelPolicyOf(ObjectStore store)
    {
        var nodes = store.All<V1Node>(ResourceKind.Node).ToList();
        var members = nodes.Select(AddressOf).OfType<IPAddress>().ToHashSet();
        var cidr = nodes.FirstOrDefault(n => n.Metadata.Name == _settings.NodeName)?.Spec?.PodCIDR;
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

    private static IPAddress? AddressOf(V1Node node) =>
        IPAddress.TryParse(node.Status?.Addresses?.FirstOrDefault(a => a.Type == "InternalIP")?.Address, out var ip) ? ip : null;

    /// <summary>For an endpoint on another node: that node's tunnel, when its pods are not reachable directly.</summary>
    private IPEndPoint? TunnelOf(ObjectStore store, string nodeName)
    {
        var node = store.Get<V1Node>(ResourceKind.Node, "", nodeName);
        return node is not null && AddressOf(node) is { } address && _settings.TunnelsTo(address) ? new IPEndPoint(address, _settings.TunnelPort) : null;
    }

    private async Task OnReplica(ReplicaUpdated update)
    {
        var store = update.Store;
        _store = store;
        IndexSlices(update);
        // A node coming or going may move LoadBalancer IPs and changes who may use the tunnel (and where it leads).
        var nodesChanged = update.Relisted || update.Changes.Any(c => c.Object.Kind == ResourceKind.Node);
        if (nodesChanged)
        {
            _tunnel?.SetPolicy(TunnelPolicyOf(store));
            // Every running node binds every ClusterIP: the Ready ones are the members of each ClusterIP's group.
            _proxy.SetClusterSize(store.All<V1Node>(ResourceKind.Node).Count(Core.ControlPlane.Scheduler.IsReady));
        }
        IEnumerable<ObjectKey> touched = update.Relisted
            ? store.All(ResourceKind.Service).Select(s => ObjectKey.Of(s.Object.Metadata)).Concat(_proxyKeys).Distinct().ToList()
            : update.Changes.Select(ServiceOf).Where(k => k is not null).Select(k => k!.Value)
                .Concat(nodesChanged
                    ? store.All<V1Service>(ResourceKind.Service).Where(s => s.Spec?.Type == ServiceTypes.LoadBalancer).Select(s => ObjectKey.Of(s.Metadata))
                    : [])
                .Distinct().ToList();
        foreach (var key in touched)
        {
            var svc = store.Get<V1Service>(ResourceKind.Service, key.Namespace, key.Name);
            var slices = svc is null ? [] : SlicesOf(key);
            var tables = svc is null ? [] : RoutingTable.Build(svc, slices, _proxy.NodeName, node => TunnelOf(store, node));
            if (svc is null) _proxyKeys.Remove(key);
            else _proxyKeys.Add(key);
            UpdateServiceActor(key, svc, slices, tables, store);
            Report(await _proxy.Apply(key.ToString(), svc, tables, svc is not null && Announces(store, svc, tables)));
            foreach (var table in tables.Where(t => t.Protocol is not (ServiceTypes.TCP or ServiceTypes.UDP)))
            {
                // Accepted by validation, not carried: say so once, as an Event, instead of failing.
                if (_unsupportedReported.Add($"{key}/{table.Port}/{table.Protocol}"))
                    RecordEvent(key.Namespace, key.Name, "ProtocolNotSupported",
                        $"node {_proxy.NodeName}: {table.Protocol} is not supported by the ActorCluster service proxy; port {table.Port}/{table.Protocol} is not served");
            }
        }
    }

    private void UpdateServiceActor(ObjectKey key, V1Service? svc, IReadOnlyList<V1EndpointSlice> slices, IReadOnlyList<RoutingTable> tables, ObjectStore store)
    {
        if (_addressesOf.Remove(key, out var previous))
        {
            foreach (var a in previous) _serviceAt.Remove(a);
        }
        if (svc is null)
        {
            if (_services.Remove(key, out var gone)) Context.Stop(gone);
            return;
        }
        var addresses = DispatchAddresses(svc).ToList();
        foreach (var a in addresses) _serviceAt[a] = key;
        _addressesOf[key] = addresses;
        if (!_services.TryGetValue(key, out var actor))
        {
            actor = Context.ActorOf(ServiceActor.Props(_settings.NodeName), ServiceActor.NameOf(key.Namespace, key.Name));
            _services[key] = actor;
        }
        actor.Tell(new ServiceSnapshot(svc, slices, tables, store));
    }

    /// <summary>The addresses a Service answers a Dispatch on: ClusterIP and LoadBalancer IPs per port, and NodePorts.</summary>
    private static IEnumerable<string> DispatchAddresses(V1Service svc)
    {
        var ips = new[] { svc.Spec?.ClusterIP }.Concat(svc.Status?.LoadBalancer?.Ingress?.Select(i => i.Ip) ?? [])
            .Where(ip => !string.IsNullOrEmpty(ip) && ip != "None").ToList();
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
            && _services.TryGetValue(key, out var actor))
        {
            actor.Forward(d);
            return;
        }
        Sender.Tell(new DispatchRefused("UnknownAddress", $"no service listens on {d.ServiceAddress}/{d.Protocol}"));
    }

    private ProxyCounters Counters()
    {
        var listeners = _proxy.Listeners.Select(l => new ListenerCounters(
            $"{l.Table.Namespace}/{l.Table.ServiceName}", l.EndPoint.ToString(), l.Protocol,
            l.Source == TrafficSource.Internal ? "ClusterIP" : l.EndPoint.Port == l.Table.NodePort && l.EndPoint.Address.Equals(_settings.NodeAddress) ? "NodePort" : "LoadBalancer",
            Interlocked.Read(ref l.Stats.Active), Interlocked.Read(ref l.Stats.Connections), Interlocked.Read(ref l.Stats.RefusedNoEndpoints), Interlocked.Read(ref l.Stats.RefusedNoLocalEndpoints),
            Interlocked.Read(ref l.Stats.DroppedFlowLimit), Interlocked.Read(ref l.Stats.DialRetries), Interlocked.Read(ref l.Stats.Failed),
            Interlocked.Read(ref l.Stats.BytesIn), Interlocked.Read(ref l.Stats.BytesOut))).ToList();
        var t = _tunnel;
        var tunnel = t is null ? null : new TunnelCounters(Interlocked.Read(ref t.Stats.Connections), Interlocked.Read(ref t.Rejected),
            Interlocked.Read(ref t.Stats.Failed), Interlocked.Read(ref t.Stats.BytesIn), Interlocked.Read(ref t.Stats.BytesOut));
        return new ProxyCounters(listeners, tunnel);
    }

    /// <summary>Whether this node is the one to bind the Service's LoadBalancer IPs (see <see cref="LoadBalancerElection"/>).</summary>
    private bool Announces(ObjectStore store, V1Service svc, IReadOnlyList<RoutingTable> tables)
    {
        if (svc.Spec?.Type != ServiceTypes.LoadBalancer || svc.Status?.LoadBalancer?.Ingress is not { Count: > 0 }) return false;
        var ready = store.All<V1Node>(ResourceKind.Node).Where(Core.ControlPlane.Scheduler.IsReady).Select(n => n.Metadata.Name);
        // Under Local only nodes with a ready local endpoint may announce (MetalLB's rule), else any Ready node.
        var eligible = ServiceTypes.IsLocal(svc.Spec.ExternalTrafficPolicy)
            ? ready.Where(n => tables.Any(t => t.Endpoints.Any(e => e.NodeName == n && e.Ready && !e.Terminating)))
            : ready;
        var key = ObjectKey.Of(svc.Metadata);
        var elected = LoadBalancerElection.Elect(key.ToString(), eligible);
        if (_announcers.GetValueOrDefault(key) != elected)
        {
            _announcers[key] = elected;
            _log.Info("service {0}: LoadBalancer IPs {1} announced by {2}", key, string.Join(",", svc.Status.LoadBalancer.Ingress.Select(i => i.Ip)),
                elected ?? "no node (none eligible)");
        }
        return elected == _proxy.NodeName;
    }

    private readonly Dictionary<ObjectKey, string?> _announcers = new();

    private static ObjectKey? ServiceOf(Core.ControlPlane.StoreChange change) => change.Object.Kind switch
    {
        var k when k == ResourceKind.Service => ObjectKey.Of(change.Object.Object.Metadata),
        var k when k == ResourceKind.EndpointSlice && change.Object.Object.Metadata.Labels?.TryGetValue(EndpointsComputer.ServiceNameLabel, out var name) == true
            => new ObjectKey(change.Object.Object.Metadata.NamespaceProperty ?? "", name),
        _ => null,
    };

    // EndpointSlices by the Service they belong to (their kubernetes.io/service-name label), kept from the changes so
    // that rebuilding one Service's tables does not scan every slice of the cluster.
    private readonly Dictionary<ObjectKey, Dictionary<ObjectKey, V1EndpointSlice>> _slicesByService = new();
    private readonly Dictionary<ObjectKey, ObjectKey> _serviceOfSlice = new();

    private void IndexSlices(ReplicaUpdated update)
    {
        if (update.Relisted)
        {
            _slicesByService.Clear();
            _serviceOfSlice.Clear();
            foreach (var slice in update.Store.All<V1EndpointSlice>(ResourceKind.EndpointSlice)) IndexSlice(slice, deleted: false);
            return;
        }
        foreach (var c in update.Changes.Where(c => c.Object.Kind == ResourceKind.EndpointSlice))
            IndexSlice(c.Object.As<V1EndpointSlice>(), c.Type == Core.ControlPlane.ChangeType.Deleted);
    }

    private void IndexSlice(V1EndpointSlice slice, bool deleted)
    {
        var sliceKey = ObjectKey.Of(slice.Metadata);
        if (_serviceOfSlice.Remove(sliceKey, out var before) && _slicesByService.TryGetValue(before, out var old))
        {
            old.Remove(sliceKey);
            if (old.Count == 0) _slicesByService.Remove(before);
        }
        if (deleted || slice.Metadata.Labels?.TryGetValue(EndpointsComputer.ServiceNameLabel, out var name) != true) return;
        var service = new ObjectKey(slice.Metadata.NamespaceProperty ?? "", name!);
        _serviceOfSlice[sliceKey] = service;
        if (!_slicesByService.TryGetValue(service, out var slices)) _slicesByService[service] = slices = new();
        slices[sliceKey] = slice;
    }

    private IReadOnlyList<V1EndpointSlice> SlicesOf(ObjectKey key) =>
        _slicesByService.TryGetValue(key, out var slices) ? slices.Values.ToList() : [];

    /// <summary>A Warning Event on a Service, written through the ApiServer like any client's.</summary>
    private void RecordEvent(string ns, string service, string reason, string message)
    {
        var now = DateTime.UtcNow;
        var ev = new Corev1Event
        {
            ApiVersion = "v1", Kind = "Event",
            Metadata = new V1ObjectMeta { Name = $"{service}.{now.Ticks:x}{Random.Shared.Next(0x1000):x3}", NamespaceProperty = ns },
            InvolvedObject = new V1ObjectReference { ApiVersion = "v1", Kind = "Service", Name = service, NamespaceProperty = ns },
            Type = "Warning", Reason = reason, Message = message,
            Source = new V1EventSource { Component = "kube-proxy", Host = _proxy.NodeName },
            ReportingComponent = "kube-proxy", ReportingInstance = _proxy.NodeName,
            FirstTimestamp = now, LastTimestamp = now, Count = 1,
        };
        _apiServer.Tell(new CreateObject("events", ns, KubeObjects.ToJson(ev)));
    }

    private void Report(IReadOnlyList<BindFailure> failures)
    {
        foreach (var f in failures)
        {
            _log.Warning("service {0}/{1}: cannot listen on {2}/{3}: {4}; trying again every 2s", f.Namespace, f.Service, f.EndPoint, f.Protocol, f.Reason);
            RecordEvent(f.Namespace, f.Service, "FailedToBindPort", $"node {_proxy.NodeName}: {f.Reason}; the port is tried again until it is free");
        }
    }
}
