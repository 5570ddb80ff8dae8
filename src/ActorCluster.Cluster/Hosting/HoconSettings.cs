using System.Globalization;
using Akka.Configuration;

namespace ActorCluster.Cluster.Hosting;

/// <summary>
/// Settings given in code (flags, options) as a HOCON layer: each value is written as a quoted HOCON string (or a
/// number, or a list of strings), so a path, an address or a connection string with quotes, backslashes or
/// <c>${...}</c> in it stays a value and never becomes HOCON syntax.
/// </summary>
internal sealed class HoconSettings
{
    private readonly List<string> _lines = [];

    public HoconSettings Set(string path, string value)
    {
        _lines.Add($"{path} = {Quote(value)}");
        return this;
    }

    public HoconSettings Set(string path, long value)
    {
        _lines.Add($"{path} = {value.ToString(CultureInfo.InvariantCulture)}");
        return this;
    }

    /// <summary>A size in bytes, as HOCON writes one (<c>1234b</c>).</summary>
    public HoconSettings SetBytes(string path, long bytes)
    {
        _lines.Add($"{path} = {bytes.ToString(CultureInfo.InvariantCulture)}b");
        return this;
    }

    public HoconSettings Set(string path, IEnumerable<string> values)
    {
        _lines.Add($"{path} = [{string.Join(", ", values.Select(Quote))}]");
        return this;
    }

    public Config ToConfig() => ConfigurationFactory.ParseString(string.Join("\n", _lines));

    private static string Quote(string s) =>
        "\"" + s.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal)
            .Replace("\n", "\\n", StringComparison.Ordinal).Replace("\r", "\\r", StringComparison.Ordinal).Replace("\t", "\\t", StringComparison.Ordinal) + "\"";
}
