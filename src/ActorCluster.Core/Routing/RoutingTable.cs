using System.Collections.Immutable;
using ActorCluster.Core.Objects;
using k8s.Models;

namespace ActorCluster.Core.Routing;

/// <summary>One endpoint of a service port as a node's proxy sees it.</summary>
public sealed record ServiceEndpoint(string IP, int Port, string? NodeName, string? PodNamespace, string? PodName, bool Ready, bool Serving, bool Terminating)
{
    /// <summary><c>ip:port</c>, the identity used for affinity and retries (computed once, not per connection).</summary>
    public string Address { get; } = IP + ":" + Port;

    /// <summary>Where to dial, parsed once when the routing table is built; null for an address that is not an IP.</summary>
    public System.Net.IPEndPoint? EndPoint { get; } =
        System.Net.IPAddress.TryParse(IP, out var address) ? new System.Net.IPEndPoint(address, Port) : null;

    /// <summary>
    /// The tunnel of the endpoint's node when the pod address is not reachable from the receiving node (pods on
    /// another host); null: dial the pod directly.
    /// </summary>
    public System.Net.IPEndPoint? Via { get; init; }

    /// <summary>The pod's uid (from the slice's targetRef): it names the pod's actor on its node.</summary>
    public string? PodUid { get; init; }
}

/// <summary>Where a connection entered: an externally-facing address (NodePort, LoadBalancer IP, externalIP) or the ClusterIP.</summary>
public enum TrafficSource
{
    External,
    Internal,

    /// <summary>The API's <c>services/{name}/proxy</c>: any ready endpoint, as kube-apiserver's proxy ignores traffic policies.</summary>
    ApiProxy,
}

/// <summary>
/// One service port's routing table on one node: an immutable snapshot, built when the Service or its
/// EndpointSlices change, that the data path reads without taking a lock or sending a message. The
/// candidate lists are computed here, once per change, so picking an endpoint per connection is O(1).
/// </summary>
public sealed class RoutingTable
{
    private RoutingTable(
        string ns, string name, string portName, string protocol, int port, int nodePort, string receivingNode,
        bool externalLocal, bool internalLocal, int affinitySeconds, bool proxyProtocol, ImmutableArray<ServiceEndpoint> endpoints,
        ImmutableArray<System.Net.IPAddress> externalIPs, ImmutableArray<System.Net.IPNetwork> sourceRanges)
    {
        Namespace = ns;
        ServiceName = name;
        PortName = portName;
        Protocol = protocol;
        Port = port;
        NodePort = nodePort;
        ReceivingNode = receivingNode;
        ExternalLocal = externalLocal;
        InternalLocal = internalLocal;
        AffinitySeconds = affinitySeconds;
        ProxyProtocol = proxyProtocol;
        Endpoints = endpoints;
        ExternalIPs = externalIPs;
        LoadBalancerSourceRanges = sourceRanges;
        ServiceKey = $"{ns}/{name}";
        DisplayName = portName.Length == 0 ? ServiceKey : $"{ServiceKey}:{portName}";
        ClusterCandidates = Usable(endpoints);
        LocalCandidates = Usable(endpoints.Where(e => e.NodeName == receivingNode).ToImmutableArray());
    }

    public string Namespace { get; }

    public string ServiceName { get; }

    public string PortName { get; }

    public string Protocol { get; }

    public int Port { get; }

    public int NodePort { get; }

    public string ReceivingNode { get; }

    /// <summary>externalTrafficPolicy is Local.</summary>
    public bool ExternalLocal { get; }

    /// <summary>internalTrafficPolicy is Local.</summary>
    public bool InternalLocal { get; }

    /// <summary>Whether the Local policy applies to traffic entering from <paramref name="source"/>.</summary>
    public bool IsLocal(TrafficSource source) => source switch
    {
        TrafficSource.External => ExternalLocal,
        TrafficSource.Internal => InternalLocal,
        _ => false,
    };

    /// <summary>sessionAffinity ClientIP timeout, 0 when affinity is None.</summary>
    public int AffinitySeconds { get; }

    /// <summary>
    /// The Service opted in (annotation <see cref="ProxyProtocolAnnotation"/> = "v2"): each connection to a pod
    /// starts with a PROXY protocol v2 header naming the original client, whatever the policy and the path.
    /// </summary>
    public bool ProxyProtocol { get; }

    public const string ProxyProtocolAnnotation = "actorcluster.io/proxy-protocol";

    public ImmutableArray<ServiceEndpoint> Endpoints { get; }

    /// <summary>
    /// The Service's <c>spec.externalIPs</c> (IPv4): every node takes traffic to them at this port, as external
    /// traffic (externalTrafficPolicy applies), the way kube-proxy does.
    /// </summary>
    public ImmutableArray<System.Net.IPAddress> ExternalIPs { get; }

    /// <summary>
    /// The Service's <c>spec.loadBalancerSourceRanges</c> (IPv4): when any, only clients in them may use its LoadBalancer
    /// IPs (kube-proxy's firewall); NodePorts and the ClusterIP are not restricted.
    /// </summary>
    public ImmutableArray<System.Net.IPNetwork> LoadBalancerSourceRanges { get; }

    /// <summary>Whether a client may reach the Service through a LoadBalancer IP (no ranges: everyone).</summary>
    public bool AdmitsLoadBalancerClient(System.Net.IPAddress client)
    {
        if (LoadBalancerSourceRanges.IsEmpty) return true;
        foreach (var range in LoadBalancerSourceRanges)
        {
            if (range.Contains(client)) return true;
        }
        return false;
    }

    /// <summary>Ready endpoints anywhere; if none, serving-but-terminating ones (KEP-1669).</summary>
    public ImmutableArray<ServiceEndpoint> ClusterCandidates { get; }

    /// <summary>The same rule restricted to endpoints on <see cref="ReceivingNode"/>.</summary>
    public ImmutableArray<ServiceEndpoint> LocalCandidates { get; }

    /// <summary>"namespace/name:port" as kube-proxy names a service port.</summary>
    public string DisplayName { get; }

    /// <summary>"namespace/name" of the Service. Made once per table, as DisplayName: the relay keys counters by them per connection.</summary>
    public string ServiceKey { get; }

    /// <summary>The number a LoadBalancer health check reports: local endpoints able to take traffic.</summary>
    public int LocalEndpointCount => LocalCandidates.Length;

    /// <summary>This service port with other endpoints (the kernel path's local stand-ins for endpoints behind a tunnel).</summary>
    public RoutingTable WithEndpoints(ImmutableArray<ServiceEndpoint> endpoints) =>
        new(Namespace, ServiceName, PortName, Protocol, Port, NodePort, ReceivingNode, ExternalLocal, InternalLocal, AffinitySeconds, ProxyProtocol, endpoints, ExternalIPs, LoadBalancerSourceRanges);

    /// <summary>
    /// One endpoint of this service port, under Cluster policy and without affinity: what relays a connection whose
    /// endpoint was already chosen (by the kernel's rules, which applied the policies and the affinity).
    /// </summary>
    public RoutingTable Only(ServiceEndpoint endpoint) =>
        new(Namespace, ServiceName, PortName, Protocol, Port, NodePort, ReceivingNode, false, false, 0, false, [endpoint], [], []);

    /// <summary>
    /// An IPv4 CIDR as Kubernetes accepts it (host bits cleared, as the allocators read their ranges). Anything else
    /// (an IPv6 range: no client of this IPv4 data path is in it) becomes 255.255.255.255/32, which admits nobody:
    /// a Service with ranges never falls open to everybody.
    /// </summary>
    private static System.Net.IPNetwork SourceRange(string text)
    {
        try
        {
            var (network, prefix) = Allocation.IPAllocator.ParseCidr(text.Trim());
            return new System.Net.IPNetwork(network, prefix);
        }
        catch (ArgumentException)
        {
            return new System.Net.IPNetwork(System.Net.IPAddress.None, 32);
        }
    }

    private static ImmutableArray<ServiceEndpoint> Usable(ImmutableArray<ServiceEndpoint> endpoints)
    {
        var ready = endpoints.Where(e => e.Ready && !e.Terminating).ToImmutableArray();
        return ready.Length > 0 ? ready : endpoints.Where(e => e.Serving && e.Terminating).ToImmutableArray();
    }

    /// <summary>Builds the tables of every port of a Service for one node, from the Service and its EndpointSlices.</summary>
    /// <param name="tunnelOf">for an endpoint on another node: that node's tunnel when its pods are not directly reachable, else null</param>
    public static IReadOnlyList<RoutingTable> Build(
        V1Service svc, IEnumerable<V1EndpointSlice> slices, string receivingNode, Func<string, System.Net.IPEndPoint?>? tunnelOf = null)
    {
        var spec = svc.Spec ?? new V1ServiceSpec();
        var sliceList = slices.ToList();
        var externalIPs = (spec.ExternalIPs ?? []).Select(ip => System.Net.IPAddress.TryParse(ip, out var a) ? a : null).OfType<System.Net.IPAddress>()
            .Where(a => a.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork).Distinct().ToImmutableArray();
        var sourceRanges = (spec.LoadBalancerSourceRanges ?? []).Select(SourceRange).Distinct().ToImmutableArray();
        var tables = new List<RoutingTable>();
        foreach (var sp in spec.Ports ?? [])
        {
            var name = sp.Name ?? "";
            var protocol = sp.Protocol ?? ServiceTypes.TCP;
            var endpoints = new List<ServiceEndpoint>();
            var seen = new HashSet<string>();
            foreach (var slice in sliceList)
            {
                // A slice's port is matched to the service port by name and protocol, as kube-proxy does.
                var port = slice.Ports?.FirstOrDefault(p => (p.Name ?? "") == name && (p.Protocol ?? ServiceTypes.TCP) == protocol)?.Port;
                if (port is null) continue;
                foreach (var ep in slice.Endpoints ?? [])
                {
                    var ip = ep.Addresses?.FirstOrDefault();
                    if (ip is null) continue;
                    var c = ep.Conditions;
                    // Nil conditions mean ready/serving (the API's documented default); terminating defaults to false.
                    var ready = c?.Ready ?? true;
                    var terminating = c?.Terminating ?? false;
                    var endpoint = new ServiceEndpoint(ip, port.Value, ep.NodeName, ep.TargetRef?.NamespaceProperty, ep.TargetRef?.Name,
                        ready, c?.Serving ?? ready, terminating)
                    {
                        PodUid = ep.TargetRef?.Uid,
                        Via = tunnelOf is not null && ep.NodeName is { } node && node != receivingNode ? tunnelOf(node) : null,
                    };
                    // A hand-made slice may hold anything: only dialable addresses become endpoints.
                    if (endpoint.EndPoint is not null && seen.Add(endpoint.Address)) endpoints.Add(endpoint);
                }
            }
            var affinity = spec.SessionAffinity == ServiceTypes.AffinityClientIP
                ? spec.SessionAffinityConfig?.ClientIP?.TimeoutSeconds ?? ServiceTypes.DefaultClientIPAffinitySeconds
                : 0;
            tables.Add(new RoutingTable(
                svc.Metadata?.NamespaceProperty ?? "", svc.Metadata?.Name ?? "", name, protocol, sp.Port, sp.NodePort ?? 0,
                receivingNode,
                ServiceTypes.IsLocal(spec.ExternalTrafficPolicy),
                ServiceTypes.IsLocal(spec.InternalTrafficPolicy),
                affinity,
                svc.Metadata?.Annotations?.TryGetValue(ProxyProtocolAnnotation, out var pp) == true && pp == "v2",
                endpoints.OrderBy(e => e.Address, StringComparer.Ordinal).ToImmutableArray(),
                externalIPs, sourceRanges));
        }
        return tables;
    }
}
