using System.Numerics;

namespace ActorCluster.Core.Allocation;

/// <summary>
/// One bit per offset of a range (k8s registry/core/service/allocator/bitmap.go). Dynamic picks use
/// "random scan with offset": a random start in the upper (dynamic) band, scanning forward with wrap-around,
/// and only when that band is full the lower (static) band, which is left for values users ask for.
/// Mutable, and owned by exactly one actor; see <see cref="AllocationTransaction"/> for all-or-nothing use.
/// </summary>
public sealed class AllocationBitmap
{
    private readonly ulong[] _words;

    public AllocationBitmap(int max, int bandOffset)
    {
        if (max <= 0) throw new ArgumentOutOfRangeException(nameof(max));
        if (bandOffset < 0 || bandOffset >= max) bandOffset = 0;
        Max = max;
        BandOffset = bandOffset;
        _words = new ulong[(max + 63) / 64];
    }

    /// <summary>Number of offsets, [0, Max).</summary>
    public int Max { get; }

    /// <summary>Size of the static (lower) band.</summary>
    public int BandOffset { get; }

    public int Count { get; private set; }

    public int Free => Max - Count;

    public bool Has(int offset) => offset >= 0 && offset < Max && (_words[offset >> 6] & (1UL << (offset & 63))) != 0;

    /// <summary>Marks <paramref name="offset"/>; false when it was already taken.</summary>
    public bool Allocate(int offset)
    {
        if (offset < 0 || offset >= Max) throw new ArgumentOutOfRangeException(nameof(offset), $"offset {offset} out of range [0,{Max}]");
        ref var word = ref _words[offset >> 6];
        var bit = 1UL << (offset & 63);
        if ((word & bit) != 0) return false;
        word |= bit;
        Count++;
        return true;
    }

    public void Release(int offset)
    {
        if (!Has(offset)) return;
        _words[offset >> 6] &= ~(1UL << (offset & 63));
        Count--;
    }

    /// <summary>Picks and marks a free offset, upper band first; false when the range is full.</summary>
    public bool AllocateNext(Random random, out int offset)
    {
        offset = -1;
        if (Count >= Max) return false;
        var upper = Max - BandOffset;
        if (TryScan(BandOffset, upper, random.Next(upper), out offset) ||
            (BandOffset > 0 && TryScan(0, BandOffset, random.Next(BandOffset), out offset)))
        {
            Allocate(offset);
            return true;
        }
        return false;
    }

    /// <summary>First free offset in [start+first, start+length) then wrapping to [start, start+first).</summary>
    private bool TryScan(int start, int length, int first, out int offset)
    {
        if (TryFindFree(start + first, start + length, out offset)) return true;
        return TryFindFree(start, start + first, out offset);
    }

    /// <summary>Word-at-a-time search for a zero bit in [from, to).</summary>
    private bool TryFindFree(int from, int to, out int offset)
    {
        offset = -1;
        var i = from;
        while (i < to)
        {
            var wordIndex = i >> 6;
            var free = ~_words[wordIndex] & (ulong.MaxValue << (i & 63));
            if (free != 0)
            {
                var candidate = (wordIndex << 6) + BitOperations.TrailingZeroCount(free);
                if (candidate < to)
                {
                    offset = candidate;
                    return true;
                }
                return false;
            }
            i = (wordIndex + 1) << 6;
        }
        return false;
    }

    public IEnumerable<int> Allocated()
    {
        for (var w = 0; w < _words.Length; w++)
        {
            var word = _words[w];
            while (word != 0)
            {
                var bit = BitOperations.TrailingZeroCount(word);
                yield return (w << 6) + bit;
                word &= word - 1;
            }
        }
    }

    public bool SameAs(AllocationBitmap other) =>
        Max == other.Max && Count == other.Count && _words.AsSpan().SequenceEqual(other._words);
}
