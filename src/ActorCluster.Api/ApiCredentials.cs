using System.Security.Cryptography;
using System.Text;

namespace ActorCluster.Api;

/// <summary>The cluster's bearer token and the kubeconfig that carries it with the CA, as files of the data directory.</summary>
public static class ApiCredentials
{
    /// <summary>The bearer token, generated once per data directory (readable by its owner only), however many nodes start at once.</summary>
    public static string LoadOrCreateToken(string dataDir) =>
        SecretFiles.WithLock(dataDir, () =>
        {
            var path = Path.Combine(dataDir, "token");
            if (File.Exists(path)) return File.ReadAllText(path).Trim();
            var token = Convert.ToHexString(RandomNumberGenerator.GetBytes(24)).ToLowerInvariant();
            SecretFiles.WriteAtomically(path, token + "\n");
            return token;
        });

    public static void WriteKubeconfig(string path, string server, string token, string caPem)
    {
        var ca = Convert.ToBase64String(Encoding.ASCII.GetBytes(caPem));
        SecretFiles.WriteAtomically(path, $"""
            apiVersion: v1
            kind: Config
            clusters:
            - cluster:
                certificate-authority-data: {ca}
                server: {server}
              name: actorcluster
            contexts:
            - context:
                cluster: actorcluster
                namespace: default
                user: admin
              name: actorcluster
            current-context: actorcluster
            users:
            - name: admin
              user:
                token: {token}
            """);
    }
}
