namespace ActorCluster.Proxy;

/// <summary>Counters of one listener (or of the node tunnel), updated with Interlocked and read by metrics.</summary>
public sealed class ListenerStats
{
    /// <summary>Connections accepted (TCP) or client flows opened (UDP).</summary>
    public long Connections;

    /// <summary>Connections (TCP) or client flows (UDP) open now.</summary>
    public long Active;

    /// <summary>Refused at once because the service port has no endpoint at all.</summary>
    public long RefusedNoEndpoints;

    /// <summary>Refused at once under the Local policy: no endpoint on this node.</summary>
    public long RefusedNoLocalEndpoints;

    /// <summary>Refused at once at a LoadBalancer IP: the client is outside the Service's loadBalancerSourceRanges.</summary>
    public long RefusedSourceRange;

    /// <summary>Dials that failed and were retried on another endpoint.</summary>
    public long DialRetries;

    /// <summary>Connections closed because every endpoint failed to answer a dial.</summary>
    public long Failed;

    /// <summary>UDP: first datagrams of new flows dropped because the port already held its maximum of flows.</summary>
    public long DroppedFlowLimit;

    /// <summary>Bytes from clients to endpoints.</summary>
    public long BytesIn;

    /// <summary>Bytes from endpoints back to clients.</summary>
    public long BytesOut;
}
