using System.Diagnostics;
using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace ActorCluster.Proxy.Tests;

/// <summary>
/// Every data-plane test of ActorCluster.Cluster.Tests again with the kernel carrying Service traffic
/// (actorcluster.proxy.mode = nftables), plus DirectRoutingTests (with the kernel path's own checks). They run in a child
/// test run of that assembly inside a fresh network namespace (unshare --net), so the nodes' tables can never touch
/// this machine's traffic or another test's cluster, and vanish with the namespace whatever happens. Here rather
/// than in that project, whose tests run one at a time: the child run goes beside them. Needs root (CAP_NET_ADMIN and
/// CAP_SYS_ADMIN) and Debian's nftables package, as CI has.
/// </summary>
public sealed partial class NftablesModeTests(ITestOutputHelper output)
{
    private const string Filter = "FullyQualifiedName~ActorCluster.Cluster.Tests.DataPlaneTests|FullyQualifiedName~ActorCluster.Cluster.Tests.ServiceRoutingTests"
                                  + "|FullyQualifiedName~ActorCluster.Cluster.Tests.DirectRoutingTests";

    [SkippableFact]
    public async Task The_data_plane_tests_pass_with_the_kernel_carrying_the_traffic()
    {
        Skip.IfNot(Environment.UserName == "root" && File.Exists("/usr/sbin/nft") && File.Exists("/usr/bin/unshare"),
            "needs root, nft (Debian package nftables) and unshare: the child run programs nftables in a network namespace of its own");
        // The data-plane tests' assembly, built beside this one (same configuration and framework).
        var assembly = Path.Combine(AppContext.BaseDirectory.Replace("ActorCluster.Proxy.Tests", "ActorCluster.Cluster.Tests", StringComparison.Ordinal), "ActorCluster.Cluster.Tests.dll");
        Assert.True(File.Exists(assembly), $"{assembly} is not built (the README's test command builds the solution first)");
        var info = new ProcessStartInfo("unshare", ["--net", "--", "sh", "-c", "ip link set lo up && exec dotnet test \"$0\" --filter \"$1\"", assembly, Filter])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        info.Environment["ACTORCLUSTER_TEST_PROXY_MODE"] = "nftables";
        using var child = Process.Start(info)!;
        var stdout = child.StandardOutput.ReadToEndAsync();
        var stderr = child.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(10));
        try
        {
            await child.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            child.Kill(entireProcessTree: true);
        }
        var text = await stdout + await stderr;
        output.WriteLine(text);
        Assert.True(child.HasExited && child.ExitCode == 0, $"the nftables run failed (exit {(child.HasExited ? child.ExitCode : -1)}):\n{text}");
        // The filter matched the tests (not none), and only the userspace-only behaviours were skipped.
        var summary = Summary().Match(text);
        Assert.True(summary.Success, "no test summary in the child run's output");
        Assert.Equal("0", summary.Groups["failed"].Value);
        Assert.True(int.Parse(summary.Groups["passed"].Value, System.Globalization.CultureInfo.InvariantCulture) >= 25, summary.Value);
        Assert.Equal("3", summary.Groups["skipped"].Value);
    }

    [GeneratedRegex(@"Failed:\s+(?<failed>\d+),\s+Passed:\s+(?<passed>\d+),\s+Skipped:\s+(?<skipped>\d+)")]
    private static partial Regex Summary();
}
