using System.Net;
using System.Net.Sockets;

namespace ActorCluster.Core.Allocation;

/// <summary>One MetalLB-style IPAddressPool: CIDRs (<c>127.0.2.0/24</c>) and ranges (<c>127.0.2.10-127.0.2.20</c>).</summary>
public sealed record IPAddressPool(string Name, IReadOnlyList<string> Addresses, bool AutoAssign = true)
{
    /// <summary>The pool's addresses as inclusive [first, last] ranges; throws FormatException on a bad entry.</summary>
    public IReadOnlyList<(uint First, uint Last)> Ranges()
    {
        var ranges = new List<(uint, uint)>();
        foreach (var entry in Addresses)
        {
            var text = entry.Trim();
            if (text.Contains('/'))
            {
                try
                {
                    var (network, prefix) = IPAllocator.ParseCidr(text);
                    var first = IPAllocator.ToUInt(network);
                    var last = prefix == 0 ? uint.MaxValue : first + (uint)((1L << (32 - prefix)) - 1);
                    ranges.Add((first, last));
                }
                catch (ArgumentException)
                {
                    throw new FormatException($"invalid CIDR \"{text}\" in pool \"{Name}\"");
                }
            }
            else
            {
                var parts = text.Split('-');
                if (parts.Length != 2 || !TryV4(parts[0], out var a) || !TryV4(parts[1], out var b) || b < a)
                    throw new FormatException($"invalid IP range \"{text}\" in pool \"{Name}\": expected CIDR or <first>-<last>");
                ranges.Add((a, b));
            }
        }
        return ranges;
    }

    internal static bool TryV4(string text, out uint value)
    {
        value = 0;
        if (!IPAddress.TryParse(text.Trim(), out var ip) || ip.AddressFamily != AddressFamily.InterNetwork) return false;
        value = IPAllocator.ToUInt(ip);
        return true;
    }
}

/// <summary>
/// LoadBalancer IPs with MetalLB's semantics (internal/allocator): sequential first-free over the pools in
/// order, a requested address honoured when a pool holds it and it is free, one owner per address. No pool
/// means every LoadBalancer stays &lt;pending&gt;. Like the other allocators this is derived state,
/// rebuilt from the Services' <c>status.loadBalancer.ingress</c>.
/// </summary>
public sealed class LoadBalancerPools
{
    public const string NoAvailableIPs = "no available IPs";

    private readonly List<(IPAddressPool Pool, IReadOnlyList<(uint First, uint Last)> Ranges)> _pools;
    private readonly Dictionary<uint, string> _owners = new();

    public LoadBalancerPools(IEnumerable<IPAddressPool> pools)
    {
        _pools = pools.Select(p => (p, p.Ranges())).ToList();
    }

    public bool HasPools => _pools.Count > 0;

    public int Assigned => _owners.Count;

    public string? OwnerOf(string ip) => IPAddressPool.TryV4(ip, out var v) && _owners.TryGetValue(v, out var owner) ? owner : null;

    public bool Contains(string ip) => IPAddressPool.TryV4(ip, out var v) && _pools.Any(p => InRanges(p.Ranges, v));

    /// <summary>
    /// Assigns an address to <paramref name="serviceKey"/> (<c>namespace/name</c>): the requested one, or the first
    /// free one of the auto-assign pools. An address the service already holds is returned again.
    /// Returns null and an error text when nothing can be assigned.
    /// </summary>
    public string? Assign(string serviceKey, string? requested, out string error)
    {
        error = "";
        if (!string.IsNullOrEmpty(requested))
        {
            if (!IPAddressPool.TryV4(requested, out var want) || !_pools.Any(p => InRanges(p.Ranges, want)))
            {
                error = $"\"{requested}\" is not allowed in config";
                return null;
            }
            if (_owners.TryGetValue(want, out var owner) && owner != serviceKey)
            {
                error = $"address also in use by {owner}";
                return null;
            }
            _owners[want] = serviceKey;
            return requested;
        }

        var held = _owners.FirstOrDefault(kv => kv.Value == serviceKey);
        if (held.Value is not null) return IPAllocator.FromUInt(held.Key).ToString();

        foreach (var (pool, ranges) in _pools)
        {
            if (!pool.AutoAssign) continue;
            foreach (var (first, last) in ranges)
            {
                for (var ip = (ulong)first; ip <= last; ip++)
                {
                    if (_owners.ContainsKey((uint)ip)) continue;
                    _owners[(uint)ip] = serviceKey;
                    return IPAllocator.FromUInt((uint)ip).ToString();
                }
            }
        }
        error = NoAvailableIPs;
        return null;
    }

    public void Release(string serviceKey, string ip)
    {
        if (IPAddressPool.TryV4(ip, out var v) && _owners.TryGetValue(v, out var owner) && owner == serviceKey)
            _owners.Remove(v);
    }

    /// <summary>Recomputes ownership from what the Services' statuses say; addresses outside every pool are skipped.</summary>
    public static LoadBalancerPools Rebuild(IEnumerable<IPAddressPool> pools, IEnumerable<(string ServiceKey, string IP)> assignments)
    {
        var rebuilt = new LoadBalancerPools(pools);
        foreach (var (key, ip) in assignments)
        {
            if (IPAddressPool.TryV4(ip, out var v) && rebuilt._pools.Any(p => InRanges(p.Ranges, v)))
                rebuilt._owners.TryAdd(v, key);
        }
        return rebuilt;
    }

    public IReadOnlyDictionary<string, string> Snapshot() =>
        _owners.ToDictionary(kv => IPAllocator.FromUInt(kv.Key).ToString(), kv => kv.Value);

    private static bool InRanges(IReadOnlyList<(uint First, uint Last)> ranges, uint ip) =>
        ranges.Any(r => ip >= r.First && ip <= r.Last);
}
