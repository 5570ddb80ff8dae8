using System.Text.RegularExpressions;

namespace ActorCluster.IntegrationTests;

/// <summary>
/// A <c>console</c> block of the README as a script: each <c>$ command</c> with the output the README shows after it.
/// Run in bash one command at a time (<c>cd</c>, <c>export</c> and <c>NAME=...</c> carry over to the next), each
/// output compared with the README's once both are normalized: what differs from run to run by design (ages,
/// ClusterIPs, NodePorts chosen at random, client ports, column widths) is replaced by a placeholder, nothing else.
/// </summary>
internal static partial class ReadmeConsole
{
    public sealed record Step(string Command, IReadOnlyList<string> Expected);

    /// <summary>The steps of the first <c>console</c> block after the heading <paramref name="heading"/>.</summary>
    public static IReadOnlyList<Step> Steps(string readme, string heading)
    {
        var lines = readme.Split('\n').Select(l => l.TrimEnd('\r')).ToList();
        var at = lines.IndexOf(heading);
        Assert.True(at >= 0, $"the README has no heading \"{heading}\"");
        var start = lines.FindIndex(at, l => l == "```console") + 1;
        var end = lines.FindIndex(start, l => l == "```");
        var steps = new List<Step>();
        string? command = null;
        var expected = new List<string>();
        foreach (var line in lines.Skip(start).Take(end - start))
        {
            if (line.StartsWith("$ ", StringComparison.Ordinal))
            {
                if (command is not null) steps.Add(new Step(command, expected));
                command = line[2..];
                expected = [];
            }
            else
            {
                expected.Add(line);
            }
        }
        if (command is not null) steps.Add(new Step(command, expected));
        return steps;
    }

    /// <summary>Whether a command only reads (and may be run again while the cluster converges).</summary>
    public static bool ReadsOnly(string command) =>
        command.StartsWith("curl ", StringComparison.Ordinal) || command.StartsWith("for ", StringComparison.Ordinal)
        || command.StartsWith("kubectl get ", StringComparison.Ordinal);

    /// <summary>Whether a command sets state for the commands after it.</summary>
    public static bool SetsState(string command) =>
        command.StartsWith("cd ", StringComparison.Ordinal) || command.StartsWith("export ", StringComparison.Ordinal) || Assignment().IsMatch(command);

    public static IReadOnlyList<string> Normalize(IEnumerable<string> lines) => lines
        .Select(l => Spaces().Replace(l.TrimEnd(), " "))
        .Select(l => ClusterIp().Replace(l, "<cluster-ip>"))
        .Select(l => NodePort().Replace(l, ":<node-port>/"))
        .Select(l => Age().Replace(l, "<age>"))
        .Select(l => ClientPort().Replace(l, "$1:<port>"))
        .Where(l => l.Length > 0)
        .ToList();

    [GeneratedRegex(@"^[A-Z_][A-Z0-9_]*=")]
    private static partial Regex Assignment();

    [GeneratedRegex(@"\s+")]
    private static partial Regex Spaces();

    // The service CIDR of the shipped defaults: 127.96.0.0/12.
    [GeneratedRegex(@"\b127\.(9[6-9]|10[0-9]|11[01])\.\d{1,3}\.\d{1,3}\b")]
    private static partial Regex ClusterIp();

    // NodePorts allocated at random (a manifest's own nodePort is checked by the curl commands that use it).
    [GeneratedRegex(@":3[0-2]\d{3}/")]
    private static partial Regex NodePort();

    // kubectl's AGE column: 9s, 37s, 2m, 2m10s, 3h, 5d.
    [GeneratedRegex(@"(?<= )\d+(s|m|h|d)(\d+(s|m|h))?(?= |$)")]
    private static partial Regex Age();

    // kubetm/app's /client: the address the pod sees, with the client's ephemeral port.
    [GeneratedRegex(@"^(\d+\.\d+\.\d+\.\d+):\d+$")]
    private static partial Regex ClientPort();
}
