using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;

namespace ActorCluster.Core.Allocation;

/// <summary>
/// The ClusterIP allocator (ipallocator/bitmap.go) for an IPv4 CIDR: offsets start at network+1, the network
/// and broadcast addresses are never handed out, and the static band is min(max(16, size/16), 256) addresses.
/// </summary>
public sealed class IPAllocator
{
    private readonly AllocationBitmap _bitmap;
    private readonly Random _random;
    private readonly uint _base;

    public IPAllocator(string cidr, Random? random = null)
    {
        var (network, prefix) = ParseCidr(cidr);
        Cidr = $"{network}/{prefix}";
        var size = 1L << (32 - prefix);
        if (size < 8)
            throw new ArgumentException($"the service cluster IP range must be at least 8 IP addresses");
        _base = ToUInt(network) + 1;
        var max = (int)Math.Min(size - 2, int.MaxValue);
        var band = size <= 16 ? 0 : (int)Math.Min(Math.Max(16, size / 16), 256);
        _bitmap = new AllocationBitmap(max, band);
        _random = random ?? Random.Shared;
    }

    /// <summary>The normalized CIDR, as printed in "The range of valid IPs is ...".</summary>
    public string Cidr { get; }

    public int Used => _bitmap.Count;

    public int Free => _bitmap.Free;

    public static (IPAddress Network, int Prefix) ParseCidr(string cidr)
    {
        var slash = cidr.IndexOf('/');
        if (slash < 0 || !IPAddress.TryParse(cidr[..slash], out var ip) || ip.AddressFamily != AddressFamily.InterNetwork
            || !int.TryParse(cidr[(slash + 1)..], out var prefix) || prefix is < 0 or > 32)
            throw new ArgumentException($"invalid IPv4 CIDR \"{cidr}\"");
        var mask = prefix == 0 ? 0u : uint.MaxValue << (32 - prefix);
        return (FromUInt(ToUInt(ip) & mask), prefix);
    }

    public static uint ToUInt(IPAddress ip) => BinaryPrimitives.ReadUInt32BigEndian(ip.GetAddressBytes());

    public static IPAddress FromUInt(uint value)
    {
        var bytes = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, value);
        return new IPAddress(bytes);
    }

    private bool TryOffset(string ip, out int offset)
    {
        offset = -1;
        if (!IPAddress.TryParse(ip, out var addr) || addr.AddressFamily != AddressFamily.InterNetwork) return false;
        var delta = (long)ToUInt(addr) - _base;
        if (delta < 0 || delta >= _bitmap.Max) return false;
        offset = (int)delta;
        return true;
    }

    public bool Contains(string ip) => TryOffset(ip, out _);

    public bool Has(string ip) => TryOffset(ip, out var o) && _bitmap.Has(o);

    public AllocationError? Allocate(string ip)
    {
        if (!TryOffset(ip, out var offset)) return AllocationError.IPNotInRange(ip, Cidr);
        return _bitmap.Allocate(offset) ? null : AllocationError.IPAllocated;
    }

    public AllocationError? AllocateNext(out string ip)
    {
        ip = "";
        if (!_bitmap.AllocateNext(_random, out var offset)) return AllocationError.RangeFull;
        ip = FromUInt(_base + (uint)offset).ToString();
        return null;
    }

    public void Release(string ip)
    {
        if (TryOffset(ip, out var offset)) _bitmap.Release(offset);
    }

    /// <summary>The address at <paramref name="index"/> of the CIDR (GetIndexedIP): index 1 is the `kubernetes` Service's.</summary>
    public string IndexedIP(int index) => FromUInt(_base - 1 + (uint)index).ToString();

    public IEnumerable<string> AllocatedIPs() => _bitmap.Allocated().Select(o => FromUInt(_base + (uint)o).ToString());

    public bool SameAs(IPAllocator other) => Cidr == other.Cidr && _bitmap.SameAs(other._bitmap);
}
