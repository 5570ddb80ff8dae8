using System.Security.Cryptography;
using System.Text;
using ActorCluster.Cluster.Security;
using k8s.KubeConfigModels;

namespace ActorCluster.Api;

/// <summary>The cluster's bearer token and the kubeconfig that carries it with the CA, as files of the data directory.</summary>
public static class ApiCredentials
{
    /// <summary>The bearer token, generated once per data directory (readable by its owner only), however many nodes start at once.</summary>
    public static string LoadOrCreateToken(string dataDir) =>
        SecretFiles.WithLock(dataDir, () =>
        {
            var path = Path.Combine(dataDir, "token");
            if (File.Exists(path))
            {
                SecretFiles.EnsureOwnerOnly(path);
                return File.ReadAllText(path).Trim();
            }
            var token = Convert.ToHexString(RandomNumberGenerator.GetBytes(24)).ToLowerInvariant();
            SecretFiles.WriteAtomically(path, token + "\n");
            return token;
        });

    public static void WriteKubeconfig(string path, string server, string token, string caPem) =>
        SecretFiles.WriteAtomically(path, Kubeconfig(server, token, caPem));

    /// <summary>
    /// A user of the static token file (&lt;data-dir&gt;/tokens.csv): its token, created with the given groups the
    /// first time (a new line, the file rewritten whole at 0600), the same token afterwards. Groups of an existing
    /// user are not changed here: edit the file for that.
    /// </summary>
    public static string LoadOrCreateUserToken(string dataDir, string user, IReadOnlyList<string> groups) =>
        SecretFiles.WithLock(dataDir, () =>
        {
            if (user.Length == 0 || user.Any(c => c is ',' or '"' or '\n' or '\r'))
                throw new ArgumentException($"invalid user name {Core.Api.GoFormat.Quote(user)}: no commas, quotes or line breaks");
            if (groups.Any(g => g.Length == 0 || g.Any(c => c is ',' or '"' or '\n' or '\r')))
                throw new ArgumentException("invalid group name: no commas, quotes or line breaks");
            var path = Path.Combine(dataDir, ApiAuthentication.TokensFileName);
            SecretFiles.EnsureOwnerOnly(path);
            var text = File.Exists(path) ? File.ReadAllText(path) : "# token,user,uid,\"group1,group2\" (kube-apiserver's --token-auth-file format)\n";
            var existing = text.Split('\n').Select(l => l.Split(',')).FirstOrDefault(f => f.Length >= 3 && f[1].Trim() == user && !f[0].StartsWith('#'));
            if (existing is not null) return existing[0].Trim();
            Core.Auth.StaticTokens.Parse(text); // refuse to append to a file that does not parse
            var token = Convert.ToHexString(RandomNumberGenerator.GetBytes(24)).ToLowerInvariant();
            var line = $"{token},{user},{user},\"{string.Join(",", groups)}\"\n";
            SecretFiles.WriteAtomically(path, (text.Length == 0 || text.EndsWith('\n') ? text : text + "\n") + line);
            return token;
        });

    /// <summary>A kubeconfig for one user of this cluster (context "actorcluster", namespace default).</summary>
    public static string Kubeconfig(string server, string token, string caPem, string user = "admin")
    {
        var ca = Convert.ToBase64String(Encoding.ASCII.GetBytes(caPem));
        return $"""
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
                user: {user}
              name: actorcluster
            current-context: actorcluster
            users:
            - name: {user}
              user:
                token: {token}

            """;
    }

    /// <summary>
    /// <paramref name="kubeconfig"/> (one of this cluster's) merged into <paramref name="existing"/> (a user's
    /// kubeconfig, or null) as kind and k3d do: its cluster, user and context renamed to <paramref name="context"/>,
    /// replacing entries of that name and keeping every other, and made the current context.
    /// </summary>
    public static string MergeKubeconfig(string? existing, string kubeconfig, string context)
    {
        if (context.Length == 0 || context.Any(char.IsWhiteSpace)) throw new ArgumentException($"invalid context name {Core.Api.GoFormat.Quote(context)}");
        var into = string.IsNullOrWhiteSpace(existing) ? new K8SConfiguration() : k8s.KubernetesYaml.Deserialize<K8SConfiguration>(existing);
        var ours = k8s.KubernetesYaml.Deserialize<K8SConfiguration>(kubeconfig);
        var cluster = ours.Clusters.Single();
        var user = ours.Users.Single();
        var ctx = ours.Contexts.Single();
        cluster.Name = context;
        user.Name = context;
        ctx.Name = context;
        ctx.ContextDetails.Cluster = context;
        ctx.ContextDetails.User = context;
        into.ApiVersion ??= "v1";
        into.Kind ??= "Config";
        into.Clusters = [.. (into.Clusters ?? []).Where(c => c.Name != context), cluster];
        into.Users = [.. (into.Users ?? []).Where(u => u.Name != context), user];
        into.Contexts = [.. (into.Contexts ?? []).Where(c => c.Name != context), ctx];
        into.CurrentContext = context;
        return k8s.KubernetesYaml.Serialize(into);
    }
}
