using System.Security.Cryptography.X509Certificates;
using ActorCluster.Api;
using ActorCluster.Cluster.Security;

namespace ActorCluster.Api.Tests;

/// <summary>
/// Many creators of one empty data directory's secrets at the same moment, in this process: each creator opens the
/// secrets lock on its own handle (flock is per open file, so threads exclude each other as processes do). Every
/// creator must come away with the same token and the same CA, and the files must say the same. Cheap, so it runs
/// many rounds; <c>SimultaneousStartTests</c> proves the same with three real node processes, in fewer rounds.
/// </summary>
public sealed class SecretsRaceTests
{
    private const int Rounds = 40;
    private const int Creators = 8;

    [Fact]
    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    public async Task Concurrent_creators_of_an_empty_data_directory_all_get_the_one_token_and_CA_written()
    {
        for (var round = 1; round <= Rounds; round++)
        {
            var dataDir = Path.Combine(Path.GetTempPath(), "actorcluster-secrets-" + Guid.NewGuid().ToString("N"));
            try
            {
                using var start = new Barrier(Creators);
                var creators = Enumerable.Range(0, Creators).Select(_ => Task.Factory.StartNew(() =>
                {
                    start.SignalAndWait(TimeSpan.FromSeconds(10));
                    var token = ApiCredentials.LoadOrCreateToken(dataDir);
                    using var ca = ClusterCa.LoadOrCreate(dataDir);
                    return (Token: token, Ca: ca.Thumbprint);
                }, TaskCreationOptions.LongRunning)).ToList();
                var seen = await Task.WhenAll(creators).WaitAsync(TimeSpan.FromSeconds(30));

                var tokenFile = (await File.ReadAllTextAsync(Path.Combine(dataDir, "token"))).Trim();
                using var caFile = X509Certificate2.CreateFromPem(await File.ReadAllTextAsync(Path.Combine(dataDir, "ca.crt")));
                Assert.All(seen, s => Assert.Equal(tokenFile, s.Token));
                Assert.All(seen, s => Assert.Equal(caFile.Thumbprint, s.Ca));
                Assert.Empty(Directory.GetFiles(dataDir, "*.tmp"));
                foreach (var secret in new[] { "token", "ca.key" })
                    Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, File.GetUnixFileMode(Path.Combine(dataDir, secret)));
            }
            finally
            {
                if (Directory.Exists(dataDir)) Directory.Delete(dataDir, recursive: true);
            }
        }
    }
}
