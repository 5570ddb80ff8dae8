using System.Diagnostics;
using System.Text.RegularExpressions;
using Xunit.Abstractions;

namespace ActorCluster.Proxy.Tests;

/// <summary>
/// Every data-plane test of ActorCluster.Cluster.Tests again with the kernel carrying Service traffic
/// (actorcluster.proxy.mode = nftables), plus DirectRoutingTests (with the kernel path's own checks). They run in a child
/// test run of that assembly inside a fresh network namespace (unshare --net), so the nodes' tables can never touch
/// this machine's traffic or another test's cluster, and vanish with the namespace whatever happens. The tests that
/// need a namespace of their own for another reason (externalIPs on the loopback) run there with the relay too. Here rather
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
        var (passed, skipped) = await RunInNamespace(Filter, "nftables");
        // Only the relay-only behaviours were skipped (a NodePort another program holds, dial retries, the relay's UDP
        // flow table), and the filter matched the tests, not none.
        Assert.True(passed >= 25, $"{passed} passed");
        Assert.Equal(3, skipped);
    }

    [SkippableFact]
    public async Task The_tests_that_need_a_namespace_of_their_own_pass_with_the_relay()
    {
        // The kernel run above covers them with nftables; this is the same namespace for the relay (the default mode).
        var (passed, skipped) = await RunInNamespace("FullyQualifiedName~ActorCluster.Cluster.Tests.DirectRoutingTests.ExternalIPs", null);
        Assert.Equal(1, passed);
        Assert.Equal(0, skipped);
    }

    /// <summary>
    /// Runs ActorCluster.Cluster.Tests' tests matching <paramref name="filter"/> in a child test run inside a fresh network
    /// namespace, with the given data path (null: the default); its whole output goes to this test's log.
    /// </summary>
    private async Task<(int Passed, int Skipped)> RunInNamespace(string filter, string? proxyMode)
    {
        Skip.IfNot(Environment.UserName == "root" && File.Exists("/usr/sbin/nft") && File.Exists("/usr/bin/unshare"),
            "needs root, nft (Debian package nftables) and unshare: the child run works in a network namespace of its own");
        // The data-plane tests' assembly, built beside this one (same configuration and framework).
        var assembly = Path.Combine(AppContext.BaseDirectory.Replace("ActorCluster.Proxy.Tests", "ActorCluster.Cluster.Tests", StringComparison.Ordinal), "ActorCluster.Cluster.Tests.dll");
        Assert.True(File.Exists(assembly), $"{assembly} is not built (the README's test command builds the solution first)");
        var info = new ProcessStartInfo("unshare", ["--net", "--", "sh", "-c", "ip link set lo up && exec dotnet test \"$0\" --filter \"$1\"", assembly, filter])
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        if (proxyMode is not null) info.Environment["ACTORCLUSTER_TEST_PROXY_MODE"] = proxyMode;
        info.Environment["ACTORCLUSTER_TEST_NETNS"] = "1";
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
        Assert.True(child.HasExited && child.ExitCode == 0, $"the child run ({proxyMode ?? "default mode"}) failed (exit {(child.HasExited ? child.ExitCode : -1)}):\n{text}");
        var summary = Summary().Match(text);
        Assert.True(summary.Success, "no test summary in the child run's output");
        Assert.Equal("0", summary.Groups["failed"].Value);
        return (int.Parse(summary.Groups["passed"].Value, System.Globalization.CultureInfo.InvariantCulture),
            int.Parse(summary.Groups["skipped"].Value, System.Globalization.CultureInfo.InvariantCulture));
    }

    [GeneratedRegex(@"Failed:\s+(?<failed>\d+),\s+Passed:\s+(?<passed>\d+),\s+Skipped:\s+(?<skipped>\d+)")]
    private static partial Regex Summary();
}
