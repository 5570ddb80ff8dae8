using System.Diagnostics;

namespace ActorCluster.Api.Tests;

/// <summary>
/// The official Kubernetes clients of other languages, unmodified, against the API: Python (Debian's
/// python3-kubernetes) and JavaScript (@kubernetes/client-node, pinned in tests/clients/js). Each script runs its
/// steps (CRUD, list by label, watch from a list's version with bookmarks, an informer, patch, 409/422/404 Status
/// bodies, dry-run) and fails on the first answer kube-apiserver would not give. Under CI both clients must be
/// installed (.ci/run installs them); elsewhere a missing client skips its test.
/// </summary>
public sealed class OtherClientsTests(ApiCluster fixture, Xunit.Abstractions.ITestOutputHelper output) : IClassFixture<ApiCluster>
{
    private static readonly string Clients = Path.Combine(ApiCluster.RepoRoot(), "tests", "clients");

    [SkippableFact]
    public async Task The_official_Python_client_works_unmodified()
    {
        // Debian's python3 (where apt puts python3-kubernetes), not a python3 a version manager puts first on PATH.
        var python = File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
        Require(await Run(python, ["-c", "import kubernetes"], TimeSpan.FromSeconds(30)) is { ExitCode: 0 }, "python3-kubernetes");
        var result = await Run(python, [Path.Combine(Clients, "python", "official_client.py"), fixture.Api.KubeconfigPath, "py"], TimeSpan.FromSeconds(120));
        output.WriteLine(result.Output);
        Assert.True(result.ExitCode == 0, result.Output);
        Assert.Contains("python client: all steps passed", result.Output, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task The_official_JavaScript_client_works_unmodified()
    {
        var js = Path.Combine(Clients, "js");
        Require(Directory.Exists(Path.Combine(js, "node_modules", "@kubernetes", "client-node")), "@kubernetes/client-node (npm ci in tests/clients/js)");
        var result = await Run("node", [Path.Combine(js, "official-client.mjs"), fixture.Api.KubeconfigPath, "js"], TimeSpan.FromSeconds(120));
        output.WriteLine(result.Output);
        Assert.True(result.ExitCode == 0, result.Output);
        Assert.Contains("js client: all steps passed", result.Output, StringComparison.Ordinal);
    }

    private static void Require(bool present, string what)
    {
        if (present) return;
        if (Environment.GetEnvironmentVariable("CI") is { Length: > 0 }) throw new InvalidOperationException($"{what} is required under CI");
        Skip.If(true, $"{what} not installed");
    }

    private static async Task<ApiCluster.Result> Run(string file, string[] args, TimeSpan timeout)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) info.ArgumentList.Add(a);
        try
        {
            return await ApiCluster.RunProcess(info, timeout);
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            return new ApiCluster.Result(127, "", e.Message); // not installed
        }
    }
}
