using ActorCluster.Core.Routing;
using ActorCluster.Core.Store;
using Akka.Actor;
using k8s.Models;

namespace ActorCluster.Cluster.Proxy;

// A ServiceActor (one per Service on every node, child of the node's ServiceProxyActor). Local to one process.

/// <summary>
/// Route one connection without a socket: which pod would serve a client reaching <paramref name="ServiceAddress"/>
/// (a ClusterIP, NodePort or LoadBalancer <c>ip:port</c>) from <paramref name="ClientAddress"/>, as received by
/// <paramref name="ReceivingNode"/> (null: this node). Send it to the node's ServiceProxyActor (it forwards to the
/// Service's actor by address) or to the ServiceActor itself. Answered with <see cref="Dispatched"/> or
/// <see cref="DispatchRefused"/>; the decision is the one the socket listeners make (<see cref="Router"/>).
/// </summary>
public sealed record Dispatch(string ServiceAddress, string ClientAddress, string? ReceivingNode = null, string Protocol = "TCP");

/// <summary>The chosen endpoint and the PodActor behind it (on the pod's node; null if that node is unknown).</summary>
public sealed record Dispatched(string Service, string Endpoint, string? PodNamespace, string? PodName, string? NodeName, IActorRef? PodActor);

/// <summary>No route: the reason (<c>NoEndpoints</c>, <c>NoLocalEndpoints</c>, <c>UnknownAddress</c>) and kube-proxy's words.</summary>
public sealed record DispatchRefused(string Reason, string Message);

/// <summary>The Service's current state as this node's replica holds it: the actor's whole input (immutable).</summary>
internal sealed record ServiceSnapshot(V1Service Service, IReadOnlyList<V1EndpointSlice> Slices, IReadOnlyList<RoutingTable> Tables, ObjectStore Store);
