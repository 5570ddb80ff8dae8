using ActorCluster.Cluster.Hosting;
using Akka.Actor;
using Microsoft.AspNetCore.Http;

namespace ActorCluster.Api;

/// <summary><c>/metrics</c>: the node's Prometheus registry, with the actors' counters copied in at scrape time.</summary>
internal sealed class MetricsEndpoint(ActorClusterNode node, ApiServerClient apiServer)
{
    /// <summary>
    /// Prometheus text from the node's registry (prometheus-net): the replica's latency histogram as recorded, and the
    /// replica's, proxy's and tunnel's counters copied in first.
    /// </summary>
    public async Task Handle(HttpContext ctx)
    {
        var metrics = node.Metrics;
        var replica = await node.Replica.Ask<Cluster.Replica.ReplicaStats>(Cluster.Replica.GetReplicaStats.Instance, ApiServerClient.AskTimeout);
        var counters = await node.ServiceProxy.Ask<Cluster.Proxy.ProxyCounters>(Cluster.Proxy.GetProxyCounters.Instance, ApiServerClient.AskTimeout);
        metrics.ReplicaRelists.IncTo(replica.Relists);
        metrics.ReplicaResourceVersion.Set(replica.ResourceVersion);
        metrics.ReplicaObjects.Set(replica.Objects);
        metrics.ReplicaSynced.Set(replica.Synced ? 1 : 0);
        metrics.ApiServerHost.Set(apiServer.HostsApiServer() ? 1 : 0);
        var cluster = Akka.Cluster.Cluster.Get(node.System).State;
        metrics.SetMembers(cluster.Members.Select(m => (m.Address.ToString(), m.Status.ToString().ToLowerInvariant(), !cluster.Unreachable.Contains(m))));
        metrics.ProxySyncs.IncTo(counters.Syncs);
        metrics.ProxyMode.WithLabels("userspace").Set(counters.Mode == "userspace" ? 1 : 0);
        metrics.ProxyMode.WithLabels("nftables").Set(counters.Mode == "nftables" ? 1 : 0);
        metrics.KernelTransactions.IncTo(counters.KernelTransactions);
        metrics.SetListeners(counters.Listeners.Select(c => (new[] { c.Service, c.Protocol, c.Kind, c.Address },
            new Cluster.Hosting.NodeMetrics.ListenerValues(c.Active, c.Connections, c.RefusedNoEndpoints, c.RefusedNoLocalEndpoints, c.DroppedFlowLimit,
                c.DialRetries, c.Failed, c.BytesIn, c.BytesOut, c.RefusedSourceRange))));
        if (counters.Tunnel is { } t)
        {
            metrics.TunnelConnections.IncTo(t.Connections);
            metrics.TunnelRejected.IncTo(t.Rejected);
            metrics.TunnelDialFailures.IncTo(t.DialFailures);
            metrics.TunnelBytes.WithLabels("in").IncTo(t.BytesIn);
            metrics.TunnelBytes.WithLabels("out").IncTo(t.BytesOut);
        }
        ctx.Response.StatusCode = 200;
        ctx.Response.ContentType = "text/plain; version=0.0.4; charset=utf-8";
        await metrics.Registry.CollectAndExportAsTextAsync(ctx.Response.Body, ctx.RequestAborted);
    }
}
