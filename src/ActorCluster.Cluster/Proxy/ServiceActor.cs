using System.Net;
using ActorCluster.Core.ControlPlane;
using ActorCluster.Core.Objects;
using ActorCluster.Core.Routing;
using Akka.Actor;
using k8s.Models;

namespace ActorCluster.Cluster.Proxy;

/// <summary>
/// One Service on one node: holds the node's routing tables for it as an immutable snapshot (the same objects the
/// socket listeners read) and answers <see cref="Dispatch"/> with the pod and endpoint the listeners would pick,
/// using the same pure <see cref="Router"/>. ClientIP affinity is remembered per client as the listeners do.
/// </summary>
public sealed class ServiceActor : ReceiveActor
{
    private readonly string _nodeName;
    private readonly AffinityMemory _affinity = new();
    private ServiceSnapshot? _snapshot;

    public ServiceActor(string nodeName)
    {
        _nodeName = nodeName;
        Receive<ServiceSnapshot>(s => _snapshot = s);
        Receive<Dispatch>(d => Sender.Tell(Decide(d)));
    }

    public static Props Props(string nodeName) => Akka.Actor.Props.Create(() => new ServiceActor(nodeName));

    /// <summary>The child's name for a Service (actor names cannot hold '/').</summary>
    public static string NameOf(string ns, string name) => $"{ns}.{name}";

    private object Decide(Dispatch d)
    {
        if (_snapshot is null) return new DispatchRefused("UnknownAddress", $"no service listens on {d.ServiceAddress}");
        var (svc, slices, tables, store) = _snapshot;
        var receiving = d.ReceivingNode ?? _nodeName;
        if (receiving != _nodeName) tables = RoutingTable.Build(svc, slices, receiving);
        if (!IPEndPoint.TryParse(d.ServiceAddress, out var address) || !IPAddress.TryParse(d.ClientAddress, out _))
            return new DispatchRefused("UnknownAddress", $"\"{d.ServiceAddress}\" from \"{d.ClientAddress}\" is not ip:port from an ip");
        var match = Match(svc, tables, address, d.Protocol, store, receiving);
        if (match is null) return new DispatchRefused("UnknownAddress", $"{svc.Metadata.NamespaceProperty}/{svc.Metadata.Name} does not listen on {d.ServiceAddress}/{d.Protocol}");
        var (table, source) = match.Value;
        var decision = Router.Route(table, source, _affinity.Get(d.ClientAddress), DateTime.UtcNow, Random.Shared.NextDouble());
        if (!decision.Routed) return new DispatchRefused(decision.Reason.ToString()!, decision.Describe(table));
        if (decision.Affinity is not null) _affinity.Remember(d.ClientAddress, decision.Affinity, table.AffinitySeconds);
        var e = decision.Endpoint!;
        return new Dispatched(table.DisplayName, e.Address, e.PodNamespace, e.PodName, e.NodeName, PodActorOf(store, e));
    }

    /// <summary>Which port of the Service an address is, and whether it entered from outside (NodePort, LB IP) or the ClusterIP.</summary>
    private static (RoutingTable, TrafficSource)? Match(V1Service svc, IReadOnlyList<RoutingTable> tables, IPEndPoint address, string protocol, Core.Store.ObjectStore store, string receiving)
    {
        var ip = address.Address.ToString();
        var nodeIP = store.Get<V1Node>(ResourceKind.Node, "", receiving)?.Status?.Addresses?.FirstOrDefault(a => a.Type == "InternalIP")?.Address;
        foreach (var t in tables.Where(t => t.Protocol == protocol))
        {
            if (svc.Spec?.ClusterIP == ip && t.Port == address.Port) return (t, TrafficSource.Internal);
            if (t.NodePort > 0 && t.NodePort == address.Port && (nodeIP is null || nodeIP == ip)) return (t, TrafficSource.External);
            if (t.Port == address.Port && svc.Status?.LoadBalancer?.Ingress?.Any(i => i.Ip == ip) == true) return (t, TrafficSource.External);
        }
        return null;
    }

    /// <summary>The pod's PodActor: <c>{node's Akka address}/user/node-agent/{pod uid}</c>, resolved without a round trip.</summary>
    private static IActorRef? PodActorOf(Core.Store.ObjectStore store, ServiceEndpoint e)
    {
        if (e.NodeName is null) return null;
        var akka = store.Get<V1Node>(ResourceKind.Node, "", e.NodeName)?.Metadata.Annotations is { } annotations && annotations.TryGetValue(ControlPlane.AkkaAddressAnnotation, out var a) ? a : null;
        var uid = e.PodUid; // the replica holds only this node's pods; the slice names every pod
        if (akka is null || uid is null) return null;
        var provider = ((ExtendedActorSystem)Context.System).Provider;
        return provider.ResolveActorRef($"{akka}/user/node-agent/{uid}");
    }
}
