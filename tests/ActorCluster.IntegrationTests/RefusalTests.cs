using System.Diagnostics;

namespace ActorCluster.IntegrationTests;

/// <summary>`actorcluster up` says no in one line, with a non-zero exit, and leaves nothing running.</summary>
public sealed class RefusalTests
{
    private static Task<(int Code, string Stdout, string Stderr)> Up(params string[] args) => UpProcess.Run(["up", .. args]);

    /// <summary>Runs <c>up</c> with a configuration file holding <paramref name="hocon"/>, removed afterwards.</summary>
    private static async Task<(int Code, string Stdout, string Stderr)> UpWithConfig(string hocon)
    {
        var path = Path.Combine(Path.GetTempPath(), "actorcluster-bad-" + Guid.NewGuid().ToString("N")[..8] + ".conf");
        File.WriteAllText(path, hocon);
        try
        {
            return await Up("--config", path, "--data-dir", Path.Combine(Path.GetTempPath(), "actorcluster-refused", Guid.NewGuid().ToString("N")));
        }
        finally
        {
            File.Delete(path);
        }
    }

    public static TheoryData<string[], string> Cases => new()
    {
        { ["--nodes", "many"], "actorcluster up: --nodes: \"many\" is not a number of nodes (1-200)\n" },
        { ["--frobnicate"], "actorcluster up: Unrecognized command or argument '--frobnicate'.\n" },
        { ["--lb-pool", "10.0.0.9-10.0.0.1"], "actorcluster up: bad configuration: invalid IP range \"10.0.0.9-10.0.0.1\" in pool \"default\": expected CIDR or <first>-<last>\n" },
        { ["--config", "/no/such/file.conf"], "actorcluster up: bad configuration: configuration file not found: /no/such/file.conf\n" },
        { ["--proxy-mode", "fast"], "actorcluster up: bad configuration: actorcluster.proxy.mode = \"fast\": use auto, nftables or userspace\n" },
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public async Task Bad_flags_and_configuration_are_one_line_refusals(string[] args, string expected)
    {
        var dir = Path.Combine(Path.GetTempPath(), "actorcluster-refused", Guid.NewGuid().ToString("N"));
        var (code, stdout, stderr) = await Up([.. args, "--data-dir", dir]);
        Assert.NotEqual(0, code);
        Assert.Equal("", stdout);
        Assert.Equal(expected, stderr);
        Assert.False(Directory.Exists(Path.Combine(dir, "logs")), "no node was started");
    }

    [Fact]
    public async Task A_bad_value_in_a_HOCON_file_is_named()
    {
        var (code, _, stderr) = await UpWithConfig("actorcluster.node-port-range = \"abc\"");
        Assert.Equal(2, code);
        Assert.Equal("actorcluster up: bad configuration: actorcluster.node-port-range: invalid port range \"abc\"\n", stderr);
        (code, _, stderr) = await UpWithConfig("actorcluster.apiserver.watch-history = many");
        Assert.Equal(2, code);
        Assert.Equal("actorcluster up: bad configuration: actorcluster.apiserver.watch-history = \"many\" is not a positive number\n", stderr);
    }

    [Theory]
    [InlineData("token", "0644")]
    [InlineData("ca.key", "0640")]
    [InlineData("kubeconfig", "0604")]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public async Task A_data_directory_whose_secrets_others_may_read_is_refused_in_one_line(string secret, string mode)
    {
        var dir = Path.Combine(Path.GetTempPath(), "actorcluster-refused", Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(dir);
        try
        {
            // The secrets as a first start leaves them, then one opened to others (a copy, an unpacked backup).
            Api.ApiCredentials.LoadOrCreateToken(dir);
            Cluster.Security.ClusterCa.LoadOrCreate(dir).Dispose();
            Api.ApiCredentials.WriteKubeconfig(Path.Combine(dir, "kubeconfig"), "https://127.0.1.1:6443", "t", "");
            var path = Path.Combine(dir, secret);
            File.SetUnixFileMode(path, (UnixFileMode)Convert.ToInt32(mode, 8));
            var (code, stdout, stderr) = await Up("--data-dir", dir);
            Assert.Equal(2, code);
            Assert.Equal($"actorcluster up: {path} is open to other users (mode {mode}); secrets must be 0600: chmod 600 {path}\n", stderr);
            Assert.DoesNotContain("starting", stdout, StringComparison.Ordinal);
            Assert.False(File.Exists(Path.Combine(dir, "logs", "k8s-worker1.log")), "no node was started");
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
