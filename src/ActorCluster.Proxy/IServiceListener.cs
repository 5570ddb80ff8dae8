using System.Net;
using ActorCluster.Core.Routing;

namespace ActorCluster.Proxy;

/// <summary>One bound address of a service port, TCP or UDP: it reads its routing table without locks or messages.</summary>
public interface IServiceListener : IAsyncDisposable
{
    IPEndPoint EndPoint { get; }

    /// <summary>TCP or UDP.</summary>
    string Protocol { get; }

    /// <summary>Whether the address is the ClusterIP (Internal) or faces outside (NodePort, LoadBalancer IP).</summary>
    TrafficSource Source { get; }

    RoutingTable Table { get; }

    /// <summary>The node's own address (a NodePort listens there; a LoadBalancer IP is another address).</summary>
    IPAddress NodeAddress { get; }

    /// <summary>
    /// ClusterIP, NodePort, ExternalIP or LoadBalancer: which of the Service's addresses this is (metrics, the
    /// dashboard); or TunnelEntry, a stand-in the kernel path DNATs to for an endpoint behind another host's tunnel.
    /// </summary>
    string Kind => EndPoint.Address.Equals(TunnelEntries.Address) ? "TunnelEntry"
        : Source == TrafficSource.Internal ? "ClusterIP"
        : LoadBalancer ? "LoadBalancer"
        : Table.ExternalIPs.Contains(EndPoint.Address) ? "ExternalIP" : "NodePort";

    /// <summary>A LoadBalancer IP this node announces (bound as one): the Service's loadBalancerSourceRanges decide who may use it.</summary>
    bool LoadBalancer { get; }

    ListenerStats Stats { get; }

    /// <summary>Swaps in a new routing table; new connections (or flows) use it.</summary>
    void Update(RoutingTable table);
}
