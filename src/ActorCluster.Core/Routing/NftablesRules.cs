using System.Collections.Immutable;
using System.Globalization;
using System.Net;
using System.Text;
using ActorCluster.Core.Objects;

namespace ActorCluster.Core.Routing;

/// <summary>
/// One node's nftables table (kube-proxy's nftables mode): its name, its node address (NodePorts match only it) and
/// the packet mark its masquerade rule looks for (each node its own, since the local cluster's nodes share a kernel).
/// </summary>
public sealed record KernelNode(string NodeName, string Table, IPAddress Address, uint Mark)
{
    public const string TablePrefix = "actorcluster-";

    public static KernelNode For(string nodeName, IPAddress address) => new(nodeName, TablePrefix + nodeName, address, MarkOf(nodeName));

    /// <summary>A stable nonzero mark per node name (FNV-1a), so two nodes' masquerade rules never take each other's packets.</summary>
    private static uint MarkOf(string nodeName)
    {
        var hash = 2166136261u;
        foreach (var b in Encoding.UTF8.GetBytes(nodeName)) hash = (hash ^ b) * 16777619u;
        return hash | 1u;
    }
}

/// <summary>
/// Which ClusterIP clients this node answers: those whose source address hashes (jhash mod <see cref="Count"/>) to
/// <see cref="Index"/>, its place among the Ready nodes by name. Nodes sharing one kernel then split the clients the
/// way their SO_REUSEPORT listeners do (one client, one node), and internalTrafficPolicy: Local means that node's
/// endpoints. Count 0: this node is not Ready and answers ClusterIPs only as the fallback.
/// </summary>
public readonly record struct ClusterIPShare(int Index, int Count)
{
    public static ClusterIPShare Of(string nodeName, IEnumerable<string> readyNodes)
    {
        var ready = readyNodes.Order(StringComparer.Ordinal).ToList();
        var index = ready.IndexOf(nodeName);
        return index < 0 ? new ClusterIPShare(0, 0) : new ClusterIPShare(index, ready.Count);
    }
}

/// <summary>
/// What one Service puts into a node's table: map and set elements (its addresses, pointing at its chains or marked
/// as having no endpoints), its chains (one per service port and entry kind, one per endpoint), and the ClientIP
/// affinity sets. Compared with the Service's previous rules to write only the difference (a partial sync).
/// <see cref="UdpEndpoints"/> ("ip:port") are the UDP endpoints DNATed to: conntrack entries of one that leaves are
/// flushed, as kube-proxy does, or its flows would keep going to it. <see cref="UdpServed"/> ("ip:port") are the UDP
/// addresses DNATed (with endpoints): one that becomes served has the entries of flows that met no rule flushed, or
/// a client that kept sending (a DNS resolver) would keep following its un-NATed entry to a closed port.
/// <see cref="Addresses"/> are the addresses the elements stand for (DNATed or refused), as the node lists what it serves.
/// </summary>
public sealed record ServiceRules(
    ImmutableDictionary<(string Container, string Key), string?> Elements,
    ImmutableDictionary<string, ImmutableArray<string>> Chains,
    ImmutableHashSet<string> AffinitySets,
    ImmutableHashSet<string> UdpEndpoints,
    ImmutableHashSet<string> UdpServed,
    ImmutableArray<(IPEndPoint EndPoint, string Protocol)> Addresses)
{
    public static readonly ServiceRules Empty = new(
        ImmutableDictionary<(string, string), string?>.Empty, ImmutableDictionary<string, ImmutableArray<string>>.Empty, [], [], [], []);
}

/// <summary>
/// kube-proxy's nftables rules, written from the Service actors' routing tables. Every address goes through one
/// verdict map lookup (O(1) in the number of Services): ClusterIPs (<c>cluster-ips</c>, in this node's share of
/// clients), LoadBalancer IPs this node announces (<c>external-ips</c>) and NodePorts on the node address
/// (<c>nodeports</c>) jump to a Service port's chain, which keeps a client on its endpoint (a dynamic set per
/// endpoint with the affinity timeout) or picks one with <c>numgen random</c>, and DNATs. Under Cluster policy the
/// packet is marked and the postrouting chain SNATs it to the node address (the pod sees the node); under Local the
/// client's address stays and only this node's endpoints are candidates. An address without candidates is in a
/// no-endpoint set and rejected before DNAT (TCP: a reset, UDP: ICMP port unreachable), never dropped; so is a
/// LoadBalancer IP's client outside the Service's loadBalancerSourceRanges (<c>firewall-ips</c>, a <c>fw-</c> chain per
/// port). A Service's externalIPs sit in <c>cluster-ips</c> with the external chain (every node takes them).
/// Pure: the node's proxier runs what this returns through <c>nft -f</c>, one transaction per sync.
/// </summary>
public static class NftablesRules
{
    private const string ClusterIPs = "cluster-ips";
    private const string ExternalIPs = "external-ips";
    private const string NodePorts = "nodeports";
    private const string NoEndpointClusterIPs = "no-endpoint-cluster-ips";
    private const string NoEndpointExternalIPs = "no-endpoint-external-ips";
    private const string NoEndpointNodePorts = "no-endpoint-nodeports";
    private const string FirewallIPs = "firewall-ips";
    /// <summary>
    /// The packet mark of a ClusterIP connection some node's share has claimed (the same in every node's table; even,
    /// so never a node's masquerade mark, which is odd).
    /// </summary>
    private const uint ClaimMark = 0x4000;

    private const string AddressPortKey = "ipv4_addr . inet_proto . inet_service";
    private const string PortKey = "inet_proto . inet_service";

    /// <summary>The table with its maps, sets and hooks, and no Service (after removing any table of the same name).</summary>
    public static string CreateTable(KernelNode node, ClusterIPShare share, string owner)
    {
        var t = $"ip {node.Table}";
        var sb = new StringBuilder();
        sb.Append(DeleteTable(node.Table));
        sb.Append($"add table {t} {{ comment {Quote(owner)} ; }}\n");
        sb.Append($"add map {t} {ClusterIPs} {{ type {AddressPortKey} : verdict ; }}\n");
        sb.Append($"add map {t} {ExternalIPs} {{ type {AddressPortKey} : verdict ; }}\n");
        sb.Append($"add map {t} {NodePorts} {{ type {PortKey} : verdict ; }}\n");
        sb.Append($"add set {t} {NoEndpointClusterIPs} {{ type {AddressPortKey} ; }}\n");
        sb.Append($"add set {t} {NoEndpointExternalIPs} {{ type {AddressPortKey} ; }}\n");
        sb.Append($"add set {t} {NoEndpointNodePorts} {{ type {PortKey} ; }}\n");
        sb.Append($"add map {t} {FirewallIPs} {{ type {AddressPortKey} : verdict ; }}\n");
        // Regular chains first: a rule can only jump to a chain that exists.
        foreach (var chain in new[] { "services", "cluster-share", "no-endpoints", "cluster-share-reject", "reject-now" }) sb.Append($"add chain {t} {chain}\n");
        // TCP gets a reset, UDP (and the rest) ICMP port unreachable: refused at once either way.
        sb.Append($"add rule {t} reject-now meta l4proto tcp reject with tcp reset\n");
        sb.Append($"add rule {t} reject-now reject\n");
        // DNAT where connections are made here (output) and where they arrive from elsewhere (prerouting).
        foreach (var hook in new[] { "output", "prerouting" })
        {
            sb.Append($"add chain {t} nat-{hook} {{ type nat hook {hook} priority -100 ; policy accept ; }}\n");
            sb.Append($"add rule {t} nat-{hook} jump services\n");
            // A ClusterIP connection no node's share claimed (the nodes' views of who is Ready differ for a moment) is
            // still carried: the first table's fallback takes it, instead of it meeting a closed port. A claimed one
            // that no table DNATed is left to the claiming node's listener (a port it serves through the relay).
            sb.Append($"add chain {t} nat-{hook}-fallback {{ type nat hook {hook} priority -99 ; policy accept ; }}\n");
            sb.Append($"add rule {t} nat-{hook}-fallback meta mark != {Hex(ClaimMark)} ip daddr . meta l4proto . th dport vmap @{ClusterIPs}\n");
        }
        sb.Append($"add chain {t} nat-postrouting {{ type nat hook postrouting priority 100 ; policy accept ; }}\n");
        sb.Append($"add rule {t} nat-postrouting meta mark {Hex(node.Mark)} snat ip to {node.Address}\n");
        sb.Append($"add rule {t} services ip daddr . meta l4proto . th dport vmap @{ExternalIPs}\n");
        sb.Append($"add rule {t} services ip daddr {node.Address} meta l4proto . th dport vmap @{NodePorts}\n");
        sb.Append($"add rule {t} services jump cluster-share\n");
        // Refusals before DNAT, on every path a new connection takes (made here, arriving, delivered here, forwarded):
        // first a LoadBalancer IP's loadBalancerSourceRanges (its chain returns for a client in them), then no endpoints.
        sb.Append($"add rule {t} no-endpoints ip daddr . meta l4proto . th dport vmap @{FirewallIPs}\n");
        sb.Append($"add rule {t} no-endpoints ip daddr . meta l4proto . th dport @{NoEndpointExternalIPs} goto reject-now\n");
        sb.Append($"add rule {t} no-endpoints ip daddr {node.Address} meta l4proto . th dport @{NoEndpointNodePorts} goto reject-now\n");
        sb.Append($"add rule {t} no-endpoints jump cluster-share-reject\n");
        // prerouting: before the DNAT there, which would hide the LoadBalancer IP from the checks on input and forward.
        foreach (var (hook, priority) in new[] { ("output", -110), ("prerouting", -110), ("input", 0), ("forward", 0) })
        {
            sb.Append($"add chain {t} filter-{hook} {{ type filter hook {hook} priority {priority} ; policy accept ; }}\n");
            // A datagram this host sends to one of its own addresses is better answered by the kernel (no socket:
            // ICMP port unreachable, ECONNREFUSED) than rejected on its way out, which the sender sees as EPERM.
            if (hook == "output") sb.Append($"add rule {t} filter-output meta l4proto udp fib daddr type local return\n");
            // Where the node lets packets from other hosts reach loopback after DNAT (route_localnet, for pods on the
            // host's loopback), one to a loopback address that no rule DNATed is dropped: kube-proxy's guard for it.
            if (hook == "input") sb.Append($"add rule {t} filter-input iifname != \"lo\" ip daddr 127.0.0.0/8 ct status & dnat == 0 drop\n");
            sb.Append($"add rule {t} filter-{hook} ct state new jump no-endpoints\n");
        }
        sb.Append(SetShare(node, share));
        return sb.ToString();
    }

    /// <summary>Removes the table if it exists (nft has no "delete if present": adding first makes the delete succeed).</summary>
    public static string DeleteTable(string table) => $"add table ip {table}\ndelete table ip {table}\n";

    /// <summary>Rewrites which ClusterIP clients this node answers (see <see cref="ClusterIPShare"/>).</summary>
    public static string SetShare(KernelNode node, ClusterIPShare share)
    {
        var t = $"ip {node.Table}";
        var sb = new StringBuilder();
        sb.Append($"flush chain {t} cluster-share\nflush chain {t} cluster-share-reject\n");
        if (share.Count <= 0) return sb.ToString();
        var mine = $"jhash ip saddr mod {share.Count} seed 0x0 {share.Index}";
        sb.Append($"add rule {t} cluster-share {mine} meta mark set {Hex(ClaimMark)} ip daddr . meta l4proto . th dport vmap @{ClusterIPs}\n");
        sb.Append($"add rule {t} cluster-share-reject {mine} ip daddr . meta l4proto . th dport @{NoEndpointClusterIPs} goto reject-now\n");
        return sb.ToString();
    }

    /// <summary>
    /// The rules of one Service on <paramref name="node"/>: its TCP and UDP ports' tables, its ClusterIP (null or
    /// "None": none) and the LoadBalancer IPs this node announces for it.
    /// </summary>
    public static ServiceRules Render(KernelNode node, IReadOnlyList<RoutingTable> tables, string? clusterIP, IReadOnlyList<string> loadBalancerIPs)
    {
        var elements = ImmutableDictionary.CreateBuilder<(string, string), string?>();
        var chains = ImmutableDictionary.CreateBuilder<string, ImmutableArray<string>>();
        var sets = ImmutableHashSet.CreateBuilder<string>();
        var udp = ImmutableHashSet.CreateBuilder<string>();
        var udpServed = ImmutableHashSet.CreateBuilder<string>();
        var addresses = ImmutableArray.CreateBuilder<(IPEndPoint, string)>();
        var hasClusterIP = clusterIP is not null && clusterIP != ServiceTypes.None && IPAddress.TryParse(clusterIP, out _);
        foreach (var table in tables.Where(t => t.Protocol is ServiceTypes.TCP or ServiceTypes.UDP))
        {
            var proto = table.Protocol.ToLowerInvariant();
            var id = $"{table.Namespace}/{table.ServiceName}/{proto}/{(table.PortName.Length > 0 ? table.PortName : table.Port.ToString(CultureInfo.InvariantCulture))}";
            var port = table.Port.ToString(CultureInfo.InvariantCulture);
            string? Entry(string kind, TrafficSource source)
            {
                var candidates = table.IsLocal(source) ? table.LocalCandidates : table.ClusterCandidates;
                if (candidates.IsEmpty) return null;
                var chain = $"{kind}-{id}";
                var rules = ImmutableArray.CreateBuilder<string>();
                if (!table.IsLocal(source)) rules.Add($"meta mark set {Hex(node.Mark)}");
                var endpointChains = candidates.Select(e => EndpointChain(id, e, table, proto, chains, sets)).ToList();
                if (table.Protocol == ServiceTypes.UDP) udp.UnionWith(candidates.Select(e => e.Address));
                if (table.AffinitySeconds > 0)
                {
                    for (var i = 0; i < candidates.Length; i++) rules.Add($"ip saddr @{AffinitySet(id, candidates[i], table)} goto {endpointChains[i]}");
                }
                var choices = string.Join(", ", endpointChains.Select((c, i) => $"{i} : goto {c}"));
                rules.Add($"numgen random mod {endpointChains.Count} vmap {{ {choices} }}");
                chains[chain] = rules.ToImmutable();
                return $"goto {chain}";
            }

            void Served(string ip, int at)
            {
                if (table.Protocol == ServiceTypes.UDP) udpServed.Add($"{ip}:{at.ToString(CultureInfo.InvariantCulture)}");
            }
            if (hasClusterIP)
            {
                addresses.Add((new IPEndPoint(IPAddress.Parse(clusterIP!), table.Port), table.Protocol));
                var key = $"{clusterIP} . {proto} . {port}";
                if (Entry("svc", TrafficSource.Internal) is { } verdict)
                {
                    elements[(ClusterIPs, key)] = verdict;
                    Served(clusterIP!, table.Port);
                }
                else elements[(NoEndpointClusterIPs, key)] = null;
            }
            var external = table.NodePort > 0 || loadBalancerIPs.Count > 0 || !table.ExternalIPs.IsEmpty ? Entry("ext", TrafficSource.External) : null;
            if (table.NodePort > 0)
            {
                addresses.Add((new IPEndPoint(node.Address, table.NodePort), table.Protocol));
                var key = $"{proto} . {table.NodePort.ToString(CultureInfo.InvariantCulture)}";
                if (external is not null)
                {
                    elements[(NodePorts, key)] = external;
                    Served(node.Address.ToString(), table.NodePort);
                }
                else elements[(NoEndpointNodePorts, key)] = null;
            }
            // externalIPs are taken by every node, so they sit with the ClusterIPs: nodes sharing a kernel split their
            // clients the same way (one client, one node); their chain is the external one (externalTrafficPolicy).
            foreach (var ip in table.ExternalIPs)
            {
                addresses.Add((new IPEndPoint(ip, table.Port), table.Protocol));
                var key = $"{ip} . {proto} . {port}";
                if (external is not null)
                {
                    elements[(ClusterIPs, key)] = external;
                    Served(ip.ToString(), table.Port);
                }
                else elements[(NoEndpointClusterIPs, key)] = null;
            }
            string? firewall = null;
            if (!table.LoadBalancerSourceRanges.IsEmpty && loadBalancerIPs.Count > 0)
            {
                firewall = $"fw-{id}";
                chains[firewall] = [$"ip saddr {{ {string.Join(", ", table.LoadBalancerSourceRanges)} }} return", "goto reject-now"];
            }
            foreach (var ip in loadBalancerIPs.Where(ip => IPAddress.TryParse(ip, out _)))
            {
                addresses.Add((new IPEndPoint(IPAddress.Parse(ip), table.Port), table.Protocol));
                var key = $"{ip} . {proto} . {port}";
                if (firewall is not null) elements[(FirewallIPs, key)] = $"jump {firewall}";
                if (external is not null)
                {
                    elements[(ExternalIPs, key)] = external;
                    Served(ip, table.Port);
                }
                else elements[(NoEndpointExternalIPs, key)] = null;
            }
        }
        return new ServiceRules(elements.ToImmutable(), chains.ToImmutable(), sets.ToImmutable(), udp.ToImmutable(), udpServed.ToImmutable(), addresses.ToImmutable());
    }

    private static string EndpointChain(string id, ServiceEndpoint e, RoutingTable table, string proto,
        ImmutableDictionary<string, ImmutableArray<string>>.Builder chains, ImmutableHashSet<string>.Builder sets)
    {
        var chain = $"ep-{id}__{e.IP}/{e.Port.ToString(CultureInfo.InvariantCulture)}";
        if (chains.ContainsKey(chain)) return chain;
        var rules = ImmutableArray.CreateBuilder<string>();
        if (table.AffinitySeconds > 0)
        {
            var set = AffinitySet(id, e, table);
            sets.Add(set);
            rules.Add($"update @{set} {{ ip saddr }}");
        }
        rules.Add($"meta l4proto {proto} dnat to {e.IP}:{e.Port.ToString(CultureInfo.InvariantCulture)}");
        chains[chain] = rules.ToImmutable();
        return chain;
    }

    /// <summary>The timeout is part of the name: a changed timeout is a new set (nft cannot change it in place).</summary>
    private static string AffinitySet(string id, ServiceEndpoint e, RoutingTable table) =>
        $"aff{table.AffinitySeconds.ToString(CultureInfo.InvariantCulture)}-{id}__{e.IP}/{e.Port.ToString(CultureInfo.InvariantCulture)}";

    /// <summary>
    /// One transaction taking a Service's rules from <paramref name="before"/> to <paramref name="after"/> (null: none),
    /// touching only what differs, in an order nft accepts: new sets and chains first, elements that point elsewhere
    /// removed before the chains they point at, and new elements last, once their chains are filled.
    /// </summary>
    public static string Transaction(KernelNode node, ServiceRules? before, ServiceRules? after)
    {
        before ??= ServiceRules.Empty;
        after ??= ServiceRules.Empty;
        var t = $"ip {node.Table}";
        var sb = new StringBuilder();
        foreach (var set in after.AffinitySets.Except(before.AffinitySets).Order(StringComparer.Ordinal))
        {
            var timeout = set[3..set.IndexOf('-')];
            sb.Append($"add set {t} {set} {{ type ipv4_addr ; flags dynamic,timeout ; timeout {timeout}s ; }}\n");
        }
        foreach (var chain in after.Chains.Keys.Where(c => !before.Chains.ContainsKey(c)).Order(StringComparer.Ordinal))
            sb.Append($"add chain {t} {chain}\n");
        foreach (var ((container, key), value) in before.Elements.OrderBy(e => e.Key.Key, StringComparer.Ordinal))
        {
            if (!after.Elements.TryGetValue((container, key), out var now) || now != value) sb.Append($"delete element {t} {container} {{ {key} }}\n");
        }
        var changed = after.Chains.Where(c => !before.Chains.TryGetValue(c.Key, out var old) || !old.SequenceEqual(c.Value)).Select(c => c.Key).ToHashSet();
        var gone = before.Chains.Keys.Where(c => !after.Chains.ContainsKey(c)).Order(StringComparer.Ordinal).ToList();
        foreach (var chain in before.Chains.Keys.Where(c => changed.Contains(c) || gone.Contains(c)).Order(StringComparer.Ordinal))
            sb.Append($"flush chain {t} {chain}\n");
        foreach (var chain in changed.Order(StringComparer.Ordinal))
        {
            foreach (var rule in after.Chains[chain]) sb.Append($"add rule {t} {chain} {rule}\n");
        }
        foreach (var chain in gone) sb.Append($"delete chain {t} {chain}\n");
        foreach (var set in before.AffinitySets.Except(after.AffinitySets).Order(StringComparer.Ordinal)) sb.Append($"delete set {t} {set}\n");
        foreach (var ((container, key), value) in after.Elements.OrderBy(e => e.Key.Key, StringComparer.Ordinal))
        {
            if (before.Elements.TryGetValue((container, key), out var was) && was == value) continue;
            sb.Append(value is null ? $"add element {t} {container} {{ {key} }}\n" : $"add element {t} {container} {{ {key} : {value} }}\n");
        }
        return sb.ToString();
    }

    /// <summary>
    /// Which addresses a map or set holds: a map and its no-endpoint set share one (an address is in one or the other),
    /// so two Services' elements collide when their key spaces and keys are equal.
    /// </summary>
    public static string KeySpace(string container) => container.StartsWith("no-endpoint-", StringComparison.Ordinal) ? container["no-endpoint-".Length..] : container;

    private static string Hex(uint value) => "0x" + value.ToString("x8", CultureInfo.InvariantCulture);

    private static string Quote(string text) => "\"" + text.Replace("\"", "'", StringComparison.Ordinal) + "\"";
}
