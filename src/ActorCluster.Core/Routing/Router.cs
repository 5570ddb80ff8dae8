namespace ActorCluster.Core.Routing;

/// <summary>Why a connection could not be routed; kube-proxy's REJECT and DROP cases.</summary>
public enum NoRouteReason
{
    /// <summary>The service port has no usable endpoint anywhere ("has no endpoints": refuse at once).</summary>
    NoEndpoints,

    /// <summary>Local policy and no usable endpoint on the receiving node ("has no local endpoints").</summary>
    NoLocalEndpoints,

    /// <summary>Every candidate was already tried (dial retries exhausted).</summary>
    AllEndpointsTried,

    /// <summary>A LoadBalancer IP's client outside the Service's loadBalancerSourceRanges (kube-proxy's firewall).</summary>
    SourceNotAllowed,
}

/// <summary>A remembered ClientIP affinity: which endpoint, and when the client last opened a connection.</summary>
public sealed record AffinityEntry(string EndpointAddress, DateTime LastUsed);

/// <summary>The decision: an endpoint (and the affinity to remember), or the reason there is none.</summary>
public sealed record RouteDecision(ServiceEndpoint? Endpoint, NoRouteReason? Reason, AffinityEntry? Affinity)
{
    public bool Routed => Endpoint is not null;

    /// <summary>kube-proxy's wording for the refusal, for events, metrics and logs.</summary>
    public string Describe(RoutingTable table) => Reason switch
    {
        NoRouteReason.NoEndpoints => $"{table.DisplayName} has no endpoints",
        NoRouteReason.NoLocalEndpoints => $"{table.DisplayName} has no local endpoints",
        NoRouteReason.AllEndpointsTried => $"{table.DisplayName}: failed to connect to an endpoint",
        NoRouteReason.SourceNotAllowed => $"{table.DisplayName}: client not in loadBalancerSourceRanges",
        _ => $"{table.DisplayName} -> {Endpoint!.Address}",
    };
}

/// <summary>
/// Picks an endpoint for a new connection: pure, so the socket listeners and the ServiceActor's dispatch
/// answer use the same rule. Policy Local (externalTrafficPolicy for external sources, internalTrafficPolicy
/// for ClusterIP) restricts to the receiving node's endpoints; ready endpoints first, serving-terminating
/// only when no ready one exists; ClientIP affinity sticks until it has been idle for the timeout;
/// otherwise a uniform random pick, which spreads evenly however many nodes pick independently.
/// </summary>
public static class Router
{
    /// <summary>Whether a connection entering from <paramref name="source"/> has any endpoint to go to on this node.</summary>
    public static bool HasCandidates(RoutingTable table, TrafficSource source) =>
        !(table.IsLocal(source) ? table.LocalCandidates : table.ClusterCandidates).IsEmpty;

    /// <summary>
    /// The address a pod should see the connection come from: under Local the client's own (when the proxy can dial
    /// from it, i.e. a loopback client of this machine), under Cluster the receiving node's (kube-proxy's SNAT).
    /// </summary>
    public static System.Net.IPAddress SourceAddress(RoutingTable table, TrafficSource source, System.Net.IPAddress client, System.Net.IPAddress node) =>
        table.IsLocal(source) && System.Net.IPAddress.IsLoopback(client) ? client : node;

    /// <param name="random">a uniform sample in [0, 1), supplied so that tests can fix it</param>
    /// <param name="exclude">endpoint addresses already tried for this connection (dial retry)</param>
    public static RouteDecision Route(
        RoutingTable table, TrafficSource source, AffinityEntry? affinity, DateTime now, double random,
        IReadOnlySet<string>? exclude = null)
    {
        var local = table.IsLocal(source);
        var candidates = local ? table.LocalCandidates : table.ClusterCandidates;
        if (candidates.IsEmpty)
        {
            var reason = local && !table.ClusterCandidates.IsEmpty ? NoRouteReason.NoLocalEndpoints : NoRouteReason.NoEndpoints;
            return new RouteDecision(null, reason, null);
        }

        var useAffinity = table.AffinitySeconds > 0 && (exclude is null || exclude.Count == 0);
        if (useAffinity && affinity is not null && (now - affinity.LastUsed).TotalSeconds < table.AffinitySeconds)
        {
            foreach (var e in candidates)
            {
                if (e.Address == affinity.EndpointAddress)
                    return new RouteDecision(e, null, affinity with { LastUsed = now });
            }
        }

        ServiceEndpoint chosen;
        if (exclude is null || exclude.Count == 0)
        {
            chosen = candidates[Math.Min((int)(random * candidates.Length), candidates.Length - 1)];
        }
        else
        {
            var remaining = candidates.Where(e => !exclude.Contains(e.Address)).ToList();
            if (remaining.Count == 0) return new RouteDecision(null, NoRouteReason.AllEndpointsTried, null);
            chosen = remaining[Math.Min((int)(random * remaining.Count), remaining.Count - 1)];
        }
        // After a failed dial the affinity is reset to the new pick (kube-proxy's sessionAffinityReset).
        var remembered = table.AffinitySeconds > 0 ? new AffinityEntry(chosen.Address, now) : null;
        return new RouteDecision(chosen, null, remembered);
    }
}
