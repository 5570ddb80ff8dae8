using System.Net;
using ActorCluster.Cluster.ApiServer;
using ActorCluster.Cluster.Node;
using ActorCluster.Core.Api;
using ActorCluster.Core.ControlPlane;
using ActorCluster.Core.Endpoints;
using ActorCluster.Core.Objects;
using ActorCluster.Core.Routing;
using ActorCluster.Proxy;
using ActorCluster.Proxy.Linux;
using Akka.Actor;
using Akka.Event;
using k8s.Models;

namespace ActorCluster.Cluster.Proxy;

/// <summary>
/// One Service on one node, and the one place that routes it there. It owns the Service's virtual addresses on the
/// node (<see cref="ServiceAddresses"/>: ClusterIP, NodePort, LoadBalancer IPs, health-check port), builds their
/// routing tables with the pure <see cref="Router"/>'s rules and publishes them to the listeners (the bytes never pass
/// through an actor), holds each port's ClientIP affinity memory (shared with the listeners), and answers
/// request-level callers: <see cref="Dispatch"/> (which pod would serve this client) and
/// <see cref="ServiceProxyRequest"/> (the API's service proxy, carried by the chosen pod's PodActor).
/// Its input is <see cref="ServiceChanged"/> from the node's <see cref="ServiceProxyActor"/>; a deleted Service closes
/// its addresses and stops the actor.
/// </summary>
public sealed class ServiceActor : ReceiveActor, IWithTimers
{
    /// <summary>How long a failed bind waits before it is reported: the Service that held the port may be closing it.</summary>
    private static readonly TimeSpan ConfirmBindFailure = TimeSpan.FromMilliseconds(300);

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly ProxySettings _settings;
    private readonly IActorRef _apiServer;
    private readonly ServiceAddresses _addresses;
    private readonly AffinityMemory _otherNodesAffinity = new();
    private readonly HashSet<string> _unsupportedReported = [];
    private readonly List<BindFailure> _unconfirmed = [];
    private V1Service? _service;
    private IReadOnlyList<V1EndpointSlice> _slices = [];
    private IReadOnlyList<RoutingTable> _tables = [];
    private NodeDirectory _nodes = NodeDirectory.Empty;
    private string? _announcer;
    private string? _serving;

    public ServiceActor(ProxySettings settings, IActorRef apiServer, ListenerRegistry registry, AddressAnnouncer? announcer, NftablesProxier? kernel = null)
    {
        _settings = settings;
        _apiServer = apiServer;
        _addresses = new ServiceAddresses(settings.NodeAddress, settings.Udp, registry, announcer, settings.TunnelCredentials, kernel);

        ReceiveAsync<ServiceChanged>(OnChanged);
        Receive<RetryBinds>(_ =>
        {
            Unconfirmed(_addresses.RetryFailed());
            KeepRetrying();
        });
        Receive<ConfirmBinds>(_ => ReportPersistentFailures());
        Receive<Dispatch>(d => Sender.Tell(Decide(d)));
        Receive<ServiceProxyRequest>(ForwardToPod);
        Receive<ObjectReply>(_ => { });
        Receive<ApiErrorReply>(e => _log.Warning("event not recorded: {0}", e.StatusJson));
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(ProxySettings settings, IActorRef apiServer, ListenerRegistry registry, AddressAnnouncer? announcer, NftablesProxier? kernel = null) =>
        Akka.Actor.Props.Create(() => new ServiceActor(settings, apiServer, registry, announcer, kernel));

    /// <summary>The child's name for a Service: namespace, name and uid (a re-created Service is a new actor; names cannot hold '/').</summary>
    public static string NameOf(V1Service service) => $"{service.Metadata.NamespaceProperty}.{service.Metadata.Name}.{service.Metadata.Uid}";

    private sealed record ConfirmBinds
    {
        public static readonly ConfirmBinds Instance = new();
    }

    protected override void PostStop() => _addresses.DisposeAsync().AsTask().Wait(TimeSpan.FromSeconds(5));

    private async Task OnChanged(ServiceChanged change)
    {
        _service = change.Service;
        _slices = change.Slices;
        _nodes = change.Nodes;
        var svc = change.Service;
        if (svc is null)
        {
            await _addresses.DisposeAsync();
            _tables = [];
            Context.Stop(Self);
            return;
        }
        _tables = RoutingTable.Build(svc, change.Slices, _settings.NodeName, TunnelOf);
        var failures = await _addresses.Apply(svc, _tables, Announces(svc), _nodes.ReadyNames.Count());
        LogWhenServingChanges(svc);
        Unconfirmed(failures);
        KeepRetrying();
        foreach (var table in _tables.Where(t => t.Protocol is not (ServiceTypes.TCP or ServiceTypes.UDP)))
        {
            // Accepted by validation, not carried: say so once, as an Event, instead of failing.
            if (_unsupportedReported.Add($"{table.Port}/{table.Protocol}"))
                RecordEvent(svc, "ProtocolNotSupported",
                    $"node {_settings.NodeName}: {table.Protocol} is not supported by the ActorCluster service proxy; port {table.Port}/{table.Protocol} is not served");
        }
    }

    /// <summary>For an endpoint on another node: that node's tunnel, when its pods are not reachable directly.</summary>
    private IPEndPoint? TunnelOf(string nodeName) =>
        _nodes[nodeName]?.InternalIP is { } address && _settings.TunnelsTo(address) ? new IPEndPoint(address, _settings.TunnelPort) : null;

    /// <summary>Whether this node is the one to bind the Service's LoadBalancer IPs (see <see cref="LoadBalancerElection"/>).</summary>
    private bool Announces(V1Service svc)
    {
        if (svc.Spec?.Type != ServiceTypes.LoadBalancer || svc.Status?.LoadBalancer?.Ingress is not { Count: > 0 }) return false;
        var ready = _nodes.ReadyNames;
        // Under Local only nodes with a ready local endpoint may announce (MetalLB's rule), else any Ready node.
        var eligible = ServiceTypes.IsLocal(svc.Spec.ExternalTrafficPolicy)
            ? ready.Where(n => _tables.Any(t => t.Endpoints.Any(e => e.NodeName == n && e.Ready && !e.Terminating)))
            : ready;
        var elected = LoadBalancerElection.Elect(ObjectKey.Of(svc.Metadata).ToString(), eligible);
        if (_announcer != elected)
        {
            _announcer = elected;
            _log.Info("service {0}: LoadBalancer IPs {1} announced by {2}", ObjectKey.Of(svc.Metadata), string.Join(",", svc.Status.LoadBalancer.Ingress.Select(i => i.Ip)),
                elected ?? "no node (none eligible)");
        }
        return elected == _settings.NodeName;
    }

    /// <summary>
    /// One line when what this node serves for the Service changes (the addresses it listens on, how many endpoints
    /// are ready), as kube-proxy logs its syncs: the node log then says when a port opened and with what behind it.
    /// </summary>
    private void LogWhenServingChanges(V1Service svc)
    {
        var listening = string.Join(", ", _addresses.Listeners.Select(l => $"{l.EndPoint}/{l.Protocol}").Order(StringComparer.Ordinal));
        var ready = _tables.Sum(t => t.Endpoints.Count(e => e.Ready && !e.Terminating));
        var serving = $"listening on {(listening.Length == 0 ? "nothing" : listening)}; {ready} ready endpoint port(s)";
        if (serving == _serving) return;
        _serving = serving;
        _log.Info("service {0}: {1}", ObjectKey.Of(svc.Metadata), serving);
    }

    // ------------------------------------------------------------------ bind failures

    /// <summary>An address another program holds is tried again (every two seconds by default) until it binds or is no longer wanted.</summary>
    private void KeepRetrying()
    {
        if (!_addresses.HasFailed) Timers.Cancel("retry");
        else if (!Timers.IsTimerActive("retry")) Timers.StartPeriodicTimer("retry", RetryBinds.Instance, _settings.BindRetryInterval);
    }

    /// <summary>New failures wait a moment: during a sync one Service may be closing a port another is opening.</summary>
    private void Unconfirmed(IReadOnlyList<BindFailure> failures)
    {
        if (failures.Count == 0) return;
        _unconfirmed.AddRange(failures);
        if (!Timers.IsTimerActive("confirm")) Timers.StartSingleTimer("confirm", ConfirmBinds.Instance, ConfirmBindFailure);
    }

    private void ReportPersistentFailures()
    {
        _addresses.RetryFailed(); // failures new at this retry were already unconfirmed ones
        foreach (var f in _unconfirmed.Where(f => _addresses.IsFailed(f.EndPoint, f.Protocol)))
        {
            _log.Warning("service {0}/{1}: cannot listen on {2}/{3}: {4}; trying again every 2s", f.Namespace, f.Service, f.EndPoint, f.Protocol, f.Reason);
            if (_service is not null)
                RecordEvent(_service, "FailedToBindPort", $"node {_settings.NodeName}: {f.Reason}; the port is tried again until it is free");
        }
        _unconfirmed.Clear();
    }

    /// <summary>A Warning Event on the Service, from this node's kube-proxy.</summary>
    private void RecordEvent(V1Service svc, string reason, string message) =>
        _apiServer.Tell(ComponentEvents.About(ResourceKind.Service, svc.Metadata, null, "Warning", reason, message, "kube-proxy", _settings.NodeName));

    // ------------------------------------------------------------------ request-level routing

    private object Decide(Dispatch d)
    {
        if (_service is not { } svc) return new DispatchRefused("UnknownAddress", $"no service listens on {d.ServiceAddress}");
        var receiving = d.ReceivingNode ?? _settings.NodeName;
        var tables = receiving == _settings.NodeName ? _tables : RoutingTable.Build(svc, _slices, receiving);
        if (!IPEndPoint.TryParse(d.ServiceAddress, out var address) || !IPAddress.TryParse(d.ClientAddress, out _))
            return new DispatchRefused("UnknownAddress", $"\"{d.ServiceAddress}\" from \"{d.ClientAddress}\" is not ip:port from an ip");
        var match = Match(svc, tables, address, d.Protocol, _nodes[receiving]?.InternalIP);
        if (match is null) return new DispatchRefused("UnknownAddress", $"{svc.Metadata.NamespaceProperty}/{svc.Metadata.Name} does not listen on {d.ServiceAddress}/{d.Protocol}");
        var (table, source, loadBalancer) = match.Value;
        if (loadBalancer && !table.AdmitsLoadBalancerClient(IPAddress.Parse(d.ClientAddress)))
            return new DispatchRefused(nameof(NoRouteReason.SourceNotAllowed), new RouteDecision(null, NoRouteReason.SourceNotAllowed, null).Describe(table));
        // This node's decisions share the listeners' memory; another node's are only simulated here.
        var affinity = receiving == _settings.NodeName ? _addresses.AffinityOf(table) : _otherNodesAffinity;
        var decision = Router.Route(table, source, affinity.Get(d.ClientAddress), DateTime.UtcNow, Random.Shared.NextDouble());
        if (!decision.Routed) return new DispatchRefused(decision.Reason.ToString()!, decision.Describe(table));
        if (decision.Affinity is not null) affinity.Remember(d.ClientAddress, decision.Affinity, table.AffinitySeconds);
        var e = decision.Endpoint!;
        return new Dispatched(table.DisplayName, e.Address, e.PodNamespace, e.PodName, e.NodeName, PodActorOf(e));
    }

    /// <summary>
    /// Which port of the Service an address is, whether it entered from outside (NodePort, externalIP, LB IP) or the
    /// ClusterIP, and whether it is one of the Service's LoadBalancer IPs (where loadBalancerSourceRanges apply).
    /// </summary>
    private static (RoutingTable Table, TrafficSource Source, bool LoadBalancer)? Match(V1Service svc, IReadOnlyList<RoutingTable> tables, IPEndPoint address, string protocol, IPAddress? nodeIP)
    {
        var ip = address.Address.ToString();
        foreach (var t in tables.Where(t => t.Protocol == protocol))
        {
            if (svc.Spec?.ClusterIP == ip && t.Port == address.Port) return (t, TrafficSource.Internal, false);
            if (t.NodePort > 0 && t.NodePort == address.Port && (nodeIP is null || nodeIP.Equals(address.Address))) return (t, TrafficSource.External, false);
            if (t.Port == address.Port && svc.Status?.LoadBalancer?.Ingress?.Any(i => i.Ip == ip) == true) return (t, TrafficSource.External, true);
            if (t.Port == address.Port && t.ExternalIPs.Contains(address.Address)) return (t, TrafficSource.External, false);
        }
        return null;
    }

    /// <summary>The API's service proxy: a ready endpoint of the port, whose PodActor makes the request and answers.</summary>
    private void ForwardToPod(ServiceProxyRequest r)
    {
        var display = GoFormat.Quote(r.Service);
        var table = r.Port.Length == 0
            ? _tables.FirstOrDefault(t => t.Protocol == ServiceTypes.TCP)
            : _tables.FirstOrDefault(t => t.Protocol == ServiceTypes.TCP && (t.PortName == r.Port || t.Port.ToString(System.Globalization.CultureInfo.InvariantCulture) == r.Port));
        if (table is null)
        {
            Sender.Tell(new DispatchRefused("UnknownAddress", $"no endpoints available for service {display}"));
            return;
        }
        var decision = Router.Route(table, TrafficSource.ApiProxy, null, DateTime.UtcNow, Random.Shared.NextDouble());
        if (decision.Endpoint is not { } e || PodActorOf(e) is not { } pod)
        {
            Sender.Tell(new DispatchRefused(nameof(NoRouteReason.NoEndpoints), $"no endpoints available for service {display}"));
            return;
        }
        pod.Tell(new PodProxyRequest(e.Port, r.Method, r.PathAndQuery, r.ContentType, r.Body), Sender);
    }

    /// <summary>The pod's PodActor: <c>{node's Akka address}/user/node-agent/{pod uid}</c>, resolved without a round trip.</summary>
    private IActorRef? PodActorOf(ServiceEndpoint e)
    {
        // The replica holds only this node's pods; the slice names every pod (and its uid).
        if (_nodes[e.NodeName]?.AkkaAddress is not { } akka || e.PodUid is not { } uid) return null;
        var provider = ((ExtendedActorSystem)Context.System).Provider;
        return provider.ResolveActorRef($"{akka}/user/node-agent/{uid}");
    }
}
