using System.Globalization;

namespace ActorCluster.Core.Allocation;

/// <summary>A NodePort range such as <c>30000-32767</c> (utilnet.PortRange).</summary>
public sealed record PortRange(int Base, int Size)
{
    public static readonly PortRange DefaultNodePorts = new(30000, 2768);

    public int Last => Base + Size - 1;

    public bool Contains(int port) => port >= Base && port <= Last;

    public override string ToString() => Size == 0 ? "" : $"{Base}-{Last}";

    /// <summary>Parses <c>lo-hi</c> or a single port; throws <see cref="FormatException"/> with the reason.</summary>
    public static PortRange Parse(string text)
    {
        var parts = text.Trim().Split('-');
        if (parts.Length is < 1 or > 2) throw new FormatException($"invalid port range \"{text}\"");
        if (!int.TryParse(parts[0], NumberStyles.None, CultureInfo.InvariantCulture, out var lo) ||
            (parts.Length == 2 && !int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out _)))
            throw new FormatException($"invalid port range \"{text}\"");
        var hi = parts.Length == 2 ? int.Parse(parts[1], CultureInfo.InvariantCulture) : lo;
        if (lo < 1 || hi > 65535 || hi < lo) throw new FormatException($"invalid port range \"{text}\": ports must be 1-65535 and low <= high");
        return new PortRange(lo, hi - lo + 1);
    }

    /// <summary>Size of the static band (KEP-3668): min(max(16, size/32), 128), 0 for ranges of 16 or fewer.</summary>
    public int StaticBandSize => Size <= 16 ? 0 : Math.Min(Math.Max(16, Size / 32), 128);
}
