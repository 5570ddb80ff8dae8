using System.Net;
using ActorCluster.Cluster.ApiServer;
using ActorCluster.Cluster.Replica;
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
/// (the Service itself or one of its EndpointSlices) and hands them to the listeners. A port another program holds
/// becomes a Warning Event on the Service and a log line, and is tried again every two seconds.
/// </summary>
public sealed class ServiceProxyActor : ReceiveActor, IWithTimers
{
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly NodeServiceProxy _proxy;
    private readonly IActorRef _apiServer;

    public ServiceProxyActor(string nodeName, string nodeAddress, IActorRef apiServer, IActorRef replica)
    {
        _proxy = new NodeServiceProxy(nodeName, IPAddress.Parse(nodeAddress));
        _apiServer = apiServer;
        replica.Tell(new SubscribeReplica(Self));

        ReceiveAsync<ReplicaUpdated>(OnReplica);
        Receive<RetryBinds>(_ => Report(_proxy.RetryFailed()));
        Receive<GetProxyListeners>(_ => Sender.Tell(new ProxyListeners(
            _proxy.Listeners.ToDictionary(l => l.EndPoint.ToString(), l => $"{l.Table.Namespace}/{l.Table.ServiceName}"),
            _proxy.FailedEndPoints.Select(e => e.ToString()).ToList())));
        Receive<GetProxyCounters>(_ => Sender.Tell(_proxy.Listeners.Select(l => new ListenerCounters(
            $"{l.Table.Namespace}/{l.Table.ServiceName}", l.EndPoint.ToString(), l.EndPoint.Port == l.Table.NodePort ? "NodePort" : "ClusterIP",
            Interlocked.Read(ref l.Stats.Connections), Interlocked.Read(ref l.Stats.Refused), Interlocked.Read(ref l.Stats.DialRetries),
            Interlocked.Read(ref l.Stats.Failed))).ToList()));
        Receive<ObjectReply>(_ => { });
        Receive<ApiErrorReply>(e => _log.Warning("event not recorded: {0}", e.StatusJson));
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(string nodeName, string nodeAddress, IActorRef apiServer, IActorRef replica) =>
        Akka.Actor.Props.Create(() => new ServiceProxyActor(nodeName, nodeAddress, apiServer, replica));

    private sealed record RetryBinds
    {
        public static readonly RetryBinds Instance = new();
    }

    protected override void PreStart() => Timers.StartPeriodicTimer("retry-binds", RetryBinds.Instance, TimeSpan.FromSeconds(2));

    protected override void PostStop() => _proxy.DisposeAsync().AsTask().Wait(TimeSpan.FromSeconds(5));

    private async Task OnReplica(ReplicaUpdated update)
    {
        var store = update.Store;
        // A node coming or going may move LoadBalancer IPs: those services are looked at again too.
        var nodesChanged = update.Changes.Any(c => c.Object.Kind == ResourceKind.Node);
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
            var tables = svc is null ? [] : RoutingTable.Build(svc, SlicesOf(store, key), _proxy.NodeName);
            if (svc is null) _proxyKeys.Remove(key);
            else _proxyKeys.Add(key);
            Report(await _proxy.Apply(key.ToString(), svc, tables, svc is not null && Announces(store, svc, tables)));
            foreach (var table in tables.Where(t => t.Protocol != ServiceTypes.TCP))
            {
                // Accepted by validation, not carried yet: say so once, as an Event, instead of failing.
                if (_unsupportedReported.Add($"{key}/{table.Port}/{table.Protocol}"))
                    RecordEvent(key.Namespace, key.Name, "ProtocolNotSupported",
                        $"node {_proxy.NodeName}: {table.Protocol} is not supported by the ActorCluster service proxy yet; port {table.Port}/{table.Protocol} is not served");
            }
        }
    }

    private readonly HashSet<ObjectKey> _proxyKeys = [];
    private readonly HashSet<string> _unsupportedReported = [];

    /// <summary>Whether this node is the one to bind the Service's LoadBalancer IPs (see <see cref="LoadBalancerElection"/>).</summary>
    private bool Announces(ObjectStore store, V1Service svc, IReadOnlyList<RoutingTable> tables)
    {
        if (svc.Spec?.Type != ServiceTypes.LoadBalancer || svc.Status?.LoadBalancer?.Ingress is not { Count: > 0 }) return false;
        var ready = store.All<V1Node>(ResourceKind.Node).Where(Core.ControlPlane.Scheduler.IsReady).Select(n => n.Metadata.Name);
        // Under Local only nodes with a ready local endpoint may announce (MetalLB's rule), else any Ready node.
        var eligible = ServiceTypes.IsLocal(svc.Spec.ExternalTrafficPolicy)
            ? ready.Where(n => tables.Any(t => t.Endpoints.Any(e => e.NodeName == n && e.Ready && !e.Terminating)))
            : ready;
        return LoadBalancerElection.Elect(ObjectKey.Of(svc.Metadata).ToString(), eligible) == _proxy.NodeName;
    }

    private static ObjectKey? ServiceOf(Core.ControlPlane.StoreChange change) => change.Object.Kind switch
    {
        var k when k == ResourceKind.Service => ObjectKey.Of(change.Object.Object.Metadata),
        var k when k == ResourceKind.EndpointSlice && change.Object.Object.Metadata.Labels?.TryGetValue(EndpointsComputer.ServiceNameLabel, out var name) == true
            => new ObjectKey(change.Object.Object.Metadata.NamespaceProperty ?? "", name),
        _ => null,
    };

    private static IEnumerable<V1EndpointSlice> SlicesOf(ObjectStore store, ObjectKey key) =>
        store.All<V1EndpointSlice>(ResourceKind.EndpointSlice).Where(s => s.Metadata.NamespaceProperty == key.Namespace
            && s.Metadata.Labels?.TryGetValue(EndpointsComputer.ServiceNameLabel, out var n) == true && n == key.Name);

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
            _log.Warning("service {0}/{1}: cannot listen on {2}: {3}; trying again every 2s", f.Namespace, f.Service, f.EndPoint, f.Reason);
            RecordEvent(f.Namespace, f.Service, "FailedToBindPort", $"node {_proxy.NodeName}: {f.Reason}; the port is tried again until it is free");
        }
    }
}
