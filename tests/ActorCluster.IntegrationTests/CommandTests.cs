namespace ActorCluster.IntegrationTests;

/// <summary>The small commands of the executable, run as a user runs them.</summary>
public sealed class CommandTests
{
    private static Task<(int Code, string Stdout, string Stderr)> Run(params string[] args) => UpProcess.Run(args);

    [Fact]
    public async Task Version_names_the_release_the_API_Akka_and_dotnet()
    {
        var (code, stdout, _) = await Run("version");
        Assert.Equal(0, code);
        var lines = stdout.TrimEnd('\n').Split('\n');
        Assert.Matches(@"^actorcluster 0\.1\.0\+[0-9a-f]{40}$", lines[0]);
        Assert.Equal(["Kubernetes API: v1.32.0-actorcluster", "Akka.NET: 1.5.73", $".NET: {Environment.Version}"], lines[1..]);
        Assert.Equal((0, lines[0]["actorcluster ".Length..] + "\n"), await Run("--version") is var v ? (v.Code, v.Stdout) : default);
    }

    [Fact]
    public async Task The_first_build_says_so_on_the_terminal_and_a_built_tree_says_nothing()
    {
        // The project's announcing target, on a terminal (util-linux `script` gives it one), as `dotnet run` would reach
        // it on a fresh clone (nothing built yet) and on a built tree.
        var project = Path.Combine(UpProcess.RepositoryRoot(), "src", "ActorCluster.Host", "ActorCluster.Host.csproj");
        const string Note = "actorcluster: building ActorCluster for the first time (about a minute on two cores; later runs start at once)...";
        async Task<string> OnTerminal(string targetPath)
        {
            var command = $"dotnet msbuild {project} -t:AnnounceFirstBuild -nologo -v:quiet -p:TargetPath={targetPath}";
            var (code, stdout, stderr) = await UpProcess.Exec("script", TimeSpan.FromSeconds(60), null, "-q", "-e", "-c", command, "/dev/null");
            Assert.True(code == 0, stdout + stderr);
            return stdout;
        }
        Assert.Contains(Note, await OnTerminal(Path.Combine(Path.GetTempPath(), "actorcluster-not-built", "actorcluster.dll")), StringComparison.Ordinal);
        Assert.DoesNotContain(Note, await OnTerminal(UpProcess.Binary + ".dll"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Kubeconfig_without_a_cluster_says_how_to_start_one()
    {
        var dir = Path.Combine(Path.GetTempPath(), "actorcluster-none", Guid.NewGuid().ToString("N"));
        var (code, stdout, stderr) = await Run("kubeconfig", "--data-dir", dir);
        Assert.Equal((1, ""), (code, stdout));
        Assert.Equal($"actorcluster kubeconfig: no cluster in {dir} (no kubeconfig): start one with actorcluster up --data-dir {dir}\n", stderr);
    }

    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public async Task Ca_writes_a_CA_for_a_swarm_with_its_key_owner_only_and_never_overwrites_one()
    {
        var dir = Path.Combine(Path.GetTempPath(), "actorcluster-ca", Guid.NewGuid().ToString("N"));
        try
        {
            var (code, stdout, stderr) = await Run("ca", "--out", dir);
            Assert.True(code == 0, stderr);
            Assert.Equal($"actorcluster ca: wrote {dir}/ca.crt and {dir}/ca.key\n", stdout);
            Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(dir, "ca.key")));
            using var ca = System.Security.Cryptography.X509Certificates.X509Certificate2.CreateFromPemFile(Path.Combine(dir, "ca.crt"), Path.Combine(dir, "ca.key"));
            Assert.Equal("CN=actorcluster-ca", ca.Subject);
            Assert.True(ca.HasPrivateKey);
            Assert.Contains(ca.Extensions.OfType<System.Security.Cryptography.X509Certificates.X509BasicConstraintsExtension>(), b => b.CertificateAuthority);

            // A second run would lock every node out: refused, and the first CA is untouched.
            var before = File.ReadAllText(Path.Combine(dir, "ca.key"));
            (code, stdout, stderr) = await Run("ca", "--out", dir);
            Assert.Equal((1, ""), (code, stdout));
            Assert.Equal($"actorcluster ca: {dir} already holds a CA; a new one would lock out every node that uses it\n", stderr);
            Assert.Equal(before, File.ReadAllText(Path.Combine(dir, "ca.key")));
        }
        finally
        {
            if (Directory.Exists(dir)) Directory.Delete(dir, recursive: true);
        }
    }
}
