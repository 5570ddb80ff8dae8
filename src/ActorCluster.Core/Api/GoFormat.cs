using System.Globalization;
using System.Text;

namespace ActorCluster.Core.Api;

/// <summary>
/// Prints values the way kube-apiserver's Go code does inside error messages (fmt's %q, %v and %#v),
/// because kubectl users and scripts match those strings byte for byte.
/// </summary>
public static class GoFormat
{
    /// <summary>Go's strconv.Quote / %q for a string.</summary>
    public static string Quote(string s)
    {
        var sb = new StringBuilder(s.Length + 2).Append('"');
        foreach (var rune in s.EnumerateRunes())
        {
            switch (rune.Value)
            {
                case '"': sb.Append("\\\""); break;
                case '\\': sb.Append("\\\\"); break;
                case '\a': sb.Append("\\a"); break;
                case '\b': sb.Append("\\b"); break;
                case '\f': sb.Append("\\f"); break;
                case '\n': sb.Append("\\n"); break;
                case '\r': sb.Append("\\r"); break;
                case '\t': sb.Append("\\t"); break;
                case '\v': sb.Append("\\v"); break;
                default:
                    if (rune.Value < 0x20 || rune.Value == 0x7f)
                        sb.Append("\\x").Append(rune.Value.ToString("x2", CultureInfo.InvariantCulture));
                    else
                        sb.Append(rune.ToString());
                    break;
            }
        }
        return sb.Append('"').ToString();
    }

    /// <summary>
    /// The value part of a field error (apimachinery field.Error.ErrorBody): numbers and bools with %v,
    /// strings with %q, string slices with %#v (<c>[]string{"a", "b"}</c>), nil as the quoted string "null",
    /// and anything carrying its own Go rendering through <see cref="IGoValue"/>.
    /// </summary>
    public static string Value(object? value) => value switch
    {
        null => Quote("null"),
        string s => Quote(s),
        bool b => b ? "true" : "false",
        int or long or short or uint or ulong => Convert.ToString(value, CultureInfo.InvariantCulture)!,
        double d => d.ToString("R", CultureInfo.InvariantCulture),
        IGoValue g => g.GoSyntax(),
        IEnumerable<string> list => "[]string{" + string.Join(", ", list.Select(Quote)) + "}",
        _ => Convert.ToString(value, CultureInfo.InvariantCulture) ?? Quote("null"),
    };
}

/// <summary>A value that knows its Go %#v rendering (used where Kubernetes prints a whole struct).</summary>
public interface IGoValue
{
    string GoSyntax();
}
