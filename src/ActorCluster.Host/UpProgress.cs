using System.Globalization;
using System.Net;

namespace ActorCluster.Host;

/// <summary>The phases a node of <c>up</c> goes through, in order.</summary>
internal enum NodePhase
{
    /// <summary>The process is started.</summary>
    Started,

    /// <summary>Its remoting and API ports are bound (seen in /proc/net, without connecting).</summary>
    Listening,

    /// <summary>It joined the cluster and registered its Node object.</summary>
    Joined,

    /// <summary>Its Node is Ready.</summary>
    Ready,
}

/// <summary>
/// How <c>up</c> shows its nodes coming up. On a terminal: one line per node, redrawn in place as each phase is
/// reached (in colour unless <c>NO_COLOR</c> is set or <c>TERM=dumb</c>). Otherwise (a pipe, a log file, CI): one
/// plain line per phase reached, so the output reads the same afterwards. Phases only move forward.
/// </summary>
internal sealed class UpProgress
{
    private readonly TextWriter _out;
    private readonly IReadOnlyList<string> _nodes;
    private readonly NodePhase?[] _phase;
    private readonly bool _live;
    private readonly bool _color;
    private readonly DateTime _start = DateTime.UtcNow;
    private bool _drawn;

    public UpProgress(IReadOnlyList<string> nodes, TextWriter output, bool live, bool color)
    {
        _nodes = nodes;
        _out = output;
        _live = live;
        _color = live && color;
        _phase = new NodePhase?[nodes.Count];
    }

    /// <summary>For the console: live when stdout is a terminal; colour unless NO_COLOR (any value) or TERM=dumb.</summary>
    public static UpProgress ForConsole(IReadOnlyList<string> nodes)
    {
        var (live, color) = Mode(Console.IsOutputRedirected, Environment.GetEnvironmentVariable("TERM"), Environment.GetEnvironmentVariable("NO_COLOR"));
        return new UpProgress(nodes, Console.Out, live, color);
    }

    /// <summary>Live lines only on a terminal that can move the cursor; colour unless NO_COLOR is set to anything (no-color.org).</summary>
    public static (bool Live, bool Color) Mode(bool outputRedirected, string? term, string? noColor)
    {
        var live = !outputRedirected && term != "dumb";
        return (live, live && string.IsNullOrEmpty(noColor));
    }

    public int ReadyCount => _phase.Count(p => p == NodePhase.Ready);

    /// <summary>Records that node <paramref name="index"/> (0-based) reached <paramref name="phase"/>; earlier phases are implied.</summary>
    public void Reached(int index, NodePhase phase)
    {
        if (_phase[index] is { } current && current >= phase) return;
        _phase[index] = phase;
        if (_live)
        {
            Draw();
            return;
        }
        var seconds = (DateTime.UtcNow - _start).TotalSeconds.ToString("0.0", CultureInfo.InvariantCulture);
        _out.WriteLine(phase == NodePhase.Ready
            ? $"  {_nodes[index]} Ready ({ReadyCount}/{_nodes.Count}) after {seconds} s"
            : $"  {_nodes[index]} {Describe(phase)}");
    }

    private static string Describe(NodePhase phase) => phase switch
    {
        NodePhase.Started => "process started",
        NodePhase.Listening => "listening (remoting and API)",
        NodePhase.Joined => "joined the cluster",
        _ => "Ready",
    };

    private void Draw()
    {
        // Back to the first node's line (drawn before), then each line cleared and written again.
        if (_drawn) _out.Write($"\u001b[{_nodes.Count}A");
        for (var i = 0; i < _nodes.Count; i++)
        {
            var phase = _phase[i];
            var steps = phase is null ? 0 : (int)phase + 1;
            var bar = new string('#', steps) + new string('.', 4 - steps);
            var text = phase is null ? "waiting to start" : Describe(phase.Value);
            var line = $"  {_nodes[i],-12} [{bar}] {text}";
            if (_color) line = (phase == NodePhase.Ready ? "\u001b[32m" : "\u001b[33m") + line + "\u001b[0m";
            _out.Write("\r\u001b[2K" + line + "\n");
        }
        _drawn = true;
        _out.Flush();
    }
}

/// <summary>The TCP ports bound for listening, read from /proc/net/tcp and tcp6 (Linux): no connection is made.</summary>
internal sealed class ListeningPorts
{
    private readonly HashSet<IPEndPoint> _bound = [];

    /// <summary>One reading of both files: ask it about every node and port of one poll.</summary>
    public static ListeningPorts Read()
    {
        var ports = new ListeningPorts();
        foreach (var file in new[] { "/proc/net/tcp", "/proc/net/tcp6" })
        {
            string[] lines;
            try
            {
                lines = File.ReadAllLines(file);
            }
            catch (IOException)
            {
                continue;
            }
            foreach (var line in lines.Skip(1))
            {
                var fields = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                // "sl local_address rem_address st ...": st 0A is LISTEN.
                if (fields.Length < 4 || fields[3] != "0A") continue;
                var local = fields[1].Split(':');
                if (local.Length != 2 || Parse(local[0]) is not { } bound) continue;
                if (bound.IsIPv4MappedToIPv6) bound = bound.MapToIPv4();
                ports._bound.Add(new IPEndPoint(bound, int.Parse(local[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture)));
            }
        }
        return ports;
    }

    /// <summary>Whether <paramref name="address"/>:<paramref name="port"/> is listened on, by that address or a wildcard.</summary>
    public bool IsListening(IPAddress address, int port) =>
        _bound.Contains(new IPEndPoint(address, port)) || _bound.Contains(new IPEndPoint(IPAddress.Any, port)) || _bound.Contains(new IPEndPoint(IPAddress.IPv6Any, port));

    /// <summary>The kernel writes each 32-bit word of the address in host (little-endian) order.</summary>
    private static IPAddress? Parse(string hex)
    {
        if (hex.Length is not (8 or 32)) return null;
        var bytes = Convert.FromHexString(hex);
        for (var word = 0; word < bytes.Length; word += 4) Array.Reverse(bytes, word, 4);
        return new IPAddress(bytes);
    }
}
