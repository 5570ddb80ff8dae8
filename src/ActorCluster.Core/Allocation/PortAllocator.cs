namespace ActorCluster.Core.Allocation;

/// <summary>The NodePort allocator (portallocator/allocator.go): one bitmap over the range, static band at the bottom.</summary>
public sealed class PortAllocator
{
    private readonly AllocationBitmap _bitmap;
    private readonly Random _random;

    public PortAllocator(PortRange range, Random? random = null)
    {
        Range = range;
        _bitmap = new AllocationBitmap(range.Size, range.StaticBandSize);
        _random = random ?? Random.Shared;
    }

    public PortRange Range { get; }

    public int Used => _bitmap.Count;

    public int Free => _bitmap.Free;

    public bool Has(int port) => Range.Contains(port) && _bitmap.Has(port - Range.Base);

    public AllocationError? Allocate(int port)
    {
        if (!Range.Contains(port)) return AllocationError.PortNotInRange(Range);
        return _bitmap.Allocate(port - Range.Base) ? null : AllocationError.PortAllocated;
    }

    public AllocationError? AllocateNext(out int port)
    {
        port = 0;
        if (!_bitmap.AllocateNext(_random, out var offset)) return AllocationError.RangeFull;
        port = Range.Base + offset;
        return null;
    }

    public void Release(int port)
    {
        if (Range.Contains(port)) _bitmap.Release(port - Range.Base);
    }

    public IEnumerable<int> AllocatedPorts() => _bitmap.Allocated().Select(o => o + Range.Base);

    public bool SameAs(PortAllocator other) => Range == other.Range && _bitmap.SameAs(other._bitmap);
}
