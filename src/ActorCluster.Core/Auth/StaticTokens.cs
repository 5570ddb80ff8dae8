using System.Security.Cryptography;
using System.Text;

namespace ActorCluster.Core.Auth;

/// <summary>Who a request is, as kube-apiserver's authenticators say it: a name, a uid and groups.</summary>
public sealed record UserInfo(string Name, string Uid, IReadOnlyList<string> Groups)
{
    /// <summary>Every authenticated user is in this group too (kube-apiserver adds it).</summary>
    public const string Authenticated = "system:authenticated";

    /// <summary>The group that may do everything (the cluster token's user is in it).</summary>
    public const string Masters = "system:masters";

    /// <summary>This cluster's read-only group: get, list and watch.</summary>
    public const string View = "view";

    /// <summary>The groups as kube-apiserver reports them (system:authenticated last, once).</summary>
    public IReadOnlyList<string> AllGroups => [.. Groups.Where(g => g != Authenticated), Authenticated];
}

/// <summary>
/// kube-apiserver's static token file (<c>--token-auth-file</c>): CSV lines <c>token,user,uid,"group1,group2"</c>,
/// the groups column optional. Lookups compare in fixed time.
/// </summary>
public sealed class StaticTokens
{
    private readonly List<(byte[] Token, UserInfo User)> _entries;

    private StaticTokens(List<(byte[] Token, UserInfo User)> entries) => _entries = entries;

    public static readonly StaticTokens None = new([]);

    public int Count => _entries.Count;

    /// <summary>Parses the file's text. Throws <see cref="FormatException"/> naming the line, as kube-apiserver refuses to start.</summary>
    public static StaticTokens Parse(string text)
    {
        var entries = new List<(byte[], UserInfo)>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        var lineNumber = 0;
        foreach (var raw in text.Split('\n'))
        {
            lineNumber++;
            var line = raw.TrimEnd('\r');
            if (line.Trim().Length == 0 || line.TrimStart().StartsWith('#')) continue;
            var fields = Fields(line, lineNumber);
            if (fields.Count < 3) throw new FormatException($"token file: line {lineNumber}: expected token,user,uid[,\"group1,group2\"], got {fields.Count} field(s)");
            var (token, user, uid) = (fields[0].Trim(), fields[1].Trim(), fields[2].Trim());
            if (token.Length == 0) throw new FormatException($"token file: line {lineNumber}: empty token");
            if (user.Length == 0) throw new FormatException($"token file: line {lineNumber}: empty user name");
            if (!seen.Add(token)) throw new FormatException($"token file: line {lineNumber}: duplicate token");
            var groups = fields.Count > 3
                ? fields[3].Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries).ToList()
                : [];
            entries.Add((Encoding.UTF8.GetBytes(token), new UserInfo(user, uid, groups)));
        }
        return new StaticTokens(entries);
    }

    /// <summary>The user a bearer token belongs to, or null.</summary>
    public UserInfo? Authenticate(string token)
    {
        var given = Encoding.UTF8.GetBytes(token);
        UserInfo? found = null;
        // Every entry is compared (in fixed time each), so the time taken does not say which one matched.
        foreach (var (known, user) in _entries)
        {
            if (CryptographicOperations.FixedTimeEquals(given, known)) found ??= user;
        }
        return found;
    }

    /// <summary>One CSV line's fields: commas separate, double quotes group (a quote inside is doubled).</summary>
    private static List<string> Fields(string line, int lineNumber)
    {
        var fields = new List<string>();
        var current = new StringBuilder();
        var quoted = false;
        for (var i = 0; i < line.Length; i++)
        {
            var c = line[i];
            if (quoted)
            {
                if (c == '"' && i + 1 < line.Length && line[i + 1] == '"') { current.Append('"'); i++; }
                else if (c == '"') quoted = false;
                else current.Append(c);
            }
            else if (c == '"') quoted = true;
            else if (c == ',') { fields.Add(current.ToString()); current.Clear(); }
            else current.Append(c);
        }
        if (quoted) throw new FormatException($"token file: line {lineNumber}: unterminated quote");
        fields.Add(current.ToString());
        return fields;
    }
}
