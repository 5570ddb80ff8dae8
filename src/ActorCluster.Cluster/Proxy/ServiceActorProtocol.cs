using ActorCluster.Core.ControlPlane;
using ActorCluster.Core.Routing;
using Akka.Actor;
using k8s.Models;

namespace ActorCluster.Cluster.Proxy;

// A ServiceActor (one per Service on every node, child of the node's ServiceProxyActor). Local to one process; the
// pod-side messages it forwards (PodProxyRequest) are in Node/PodActorProtocol.cs.

/// <summary>
/// Route one connection without a socket: which pod would serve a client reaching <paramref name="ServiceAddress"/>
/// (a ClusterIP, NodePort or LoadBalancer <c>ip:port</c>) from <paramref name="ClientAddress"/>, as received by
/// <paramref name="ReceivingNode"/> (null: this node). Send it to the node's ServiceProxyActor (it forwards to the
/// Service's actor by address) or to the ServiceActor itself. Answered with <see cref="Dispatched"/> or
/// <see cref="DispatchRefused"/>; the decision is the one the socket listeners make (<see cref="Router"/>), with the
/// same affinity memory.
/// </summary>
public sealed record Dispatch(string ServiceAddress, string ClientAddress, string? ReceivingNode = null, string Protocol = "TCP");

/// <summary>The chosen endpoint and the PodActor behind it (on the pod's node; null if that node is unknown).</summary>
public sealed record Dispatched(string Service, string Endpoint, string? PodNamespace, string? PodName, string? NodeName, IActorRef? PodActor);

/// <summary>No route: the reason (<c>NoEndpoints</c>, <c>NoLocalEndpoints</c>, <c>UnknownAddress</c>) and kube-proxy's words.</summary>
public sealed record DispatchRefused(string Reason, string Message);

/// <summary>
/// An HTTP request for a Service, as the API's <c>services/{name}[:{port}]/proxy/{path}</c> receives it. Sent to the
/// node's ServiceProxyActor, which forwards it to the Service's actor; that actor picks a ready endpoint of the port
/// (<see cref="TrafficSource.ApiProxy"/>) and forwards a <see cref="Node.PodProxyRequest"/> to the endpoint pod's
/// PodActor, which answers the original sender with <see cref="Node.PodProxyResponse"/>. No endpoint (or no such
/// port): <see cref="DispatchRefused"/>.
/// </summary>
/// <param name="Port">the service port's name or number; empty: the first port</param>
public sealed record ServiceProxyRequest(string Namespace, string Service, string Port, string Method, string PathAndQuery, string? ContentType, byte[] Body);

/// <summary>The proxy's whole input for one Service (null: deleted): the Service, its EndpointSlices and the nodes.</summary>
internal sealed record ServiceChanged(V1Service? Service, IReadOnlyList<V1EndpointSlice> Slices, NodeDirectory Nodes);

/// <summary>Try the addresses that could not bind again (the actor's own timer, every two seconds while any failed).</summary>
internal sealed record RetryBinds
{
    public static readonly RetryBinds Instance = new();
}
