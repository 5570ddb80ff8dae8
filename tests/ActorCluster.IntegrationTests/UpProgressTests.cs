using ActorCluster.Host;

namespace ActorCluster.IntegrationTests;

/// <summary><c>up</c>'s progress: live lines on a terminal (colour unless NO_COLOR), plain lines elsewhere.</summary>
public sealed class UpProgressTests
{
    private static readonly string[] Nodes = ["k8s-worker1", "k8s-worker2"];

    [Theory]
    [InlineData(false, "xterm-256color", null, true, true)]
    [InlineData(false, "xterm-256color", "1", true, false)]
    [InlineData(false, "xterm-256color", "", true, true)]
    [InlineData(false, "dumb", null, false, false)]
    [InlineData(true, "xterm-256color", null, false, false)]
    public void Live_only_on_a_terminal_and_colour_unless_NO_COLOR(bool redirected, string term, string? noColor, bool live, bool color) =>
        Assert.Equal((live, color), UpProgress.Mode(redirected, term, noColor));

    [Fact]
    public void Without_a_terminal_each_phase_is_one_plain_line_and_phases_only_move_forward()
    {
        var output = new StringWriter();
        var progress = new UpProgress(Nodes, output, live: false, color: false);
        progress.Reached(0, NodePhase.Started);
        progress.Reached(0, NodePhase.Listening);
        progress.Reached(1, NodePhase.Started);
        progress.Reached(0, NodePhase.Listening);
        progress.Reached(0, NodePhase.Started);
        progress.Reached(0, NodePhase.Ready);
        progress.Reached(1, NodePhase.Joined);
        var lines = output.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(5, lines.Length);
        Assert.Equal("  k8s-worker1 process started", lines[0]);
        Assert.Equal("  k8s-worker1 listening (remoting and API)", lines[1]);
        Assert.Equal("  k8s-worker2 process started", lines[2]);
        Assert.Matches(@"^  k8s-worker1 Ready \(1/2\) after \d+\.\d s$", lines[3]);
        Assert.Equal("  k8s-worker2 joined the cluster", lines[4]);
        Assert.DoesNotContain('\u001b', output.ToString());
        Assert.Equal(1, progress.ReadyCount);
    }

    [Fact]
    public void On_a_terminal_the_lines_are_redrawn_in_place_in_colour_or_without_it()
    {
        foreach (var color in new[] { true, false })
        {
            var output = new StringWriter();
            var progress = new UpProgress(Nodes, output, live: true, color: color);
            progress.Reached(0, NodePhase.Started);
            progress.Reached(0, NodePhase.Ready);
            var text = output.ToString();
            // Drawn twice: the second time from two lines up, each line cleared first.
            Assert.Equal(1, Count(text, "\u001b[2A"));
            Assert.Equal(4, Count(text, "\r\u001b[2K"));
            Assert.Contains("k8s-worker1  [####] Ready", text, StringComparison.Ordinal);
            Assert.Contains("k8s-worker2  [....] waiting to start", text, StringComparison.Ordinal);
            Assert.Equal(color, text.Contains("\u001b[32m", StringComparison.Ordinal));
            Assert.Equal(color, text.Contains("\u001b[0m", StringComparison.Ordinal));
        }
    }

    private static int Count(string text, string part) => (text.Length - text.Replace(part, "", StringComparison.Ordinal).Length) / part.Length;
}
