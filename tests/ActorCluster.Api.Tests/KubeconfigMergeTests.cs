using ActorCluster.Api;
using k8s.KubeConfigModels;

namespace ActorCluster.Api.Tests;

/// <summary><c>actorcluster kubeconfig --merge</c>'s merge, as kind and k3d merge theirs: pure, no cluster needed.</summary>
public sealed class KubeconfigMergeTests
{
    private static readonly string Ours = ApiCredentials.Kubeconfig("https://127.0.1.1:6443", "t0ken", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n");

    private const string Theirs = """
        apiVersion: v1
        kind: Config
        clusters:
        - cluster: {server: "https://10.9.9.9:6443"}
          name: prod
        - cluster: {server: "https://old.example:6443"}
          name: ac
        contexts:
        - context: {cluster: prod, user: prod-admin, namespace: shop}
          name: prod
        - context: {cluster: ac, user: ac}
          name: ac
        current-context: prod
        users:
        - name: prod-admin
          user: {token: keep-me}
        - name: ac
          user: {token: stale}
        """;

    [Fact]
    public void Merging_adds_this_cluster_under_the_context_name_replaces_only_that_name_and_makes_it_current()
    {
        var merged = k8s.KubernetesYaml.Deserialize<K8SConfiguration>(ApiCredentials.MergeKubeconfig(Theirs, Ours, "ac"));
        Assert.Equal("ac", merged.CurrentContext);
        Assert.Equal(["prod", "ac"], merged.Clusters.Select(c => c.Name));
        Assert.Equal("https://127.0.1.1:6443", merged.Clusters.Single(c => c.Name == "ac").ClusterEndpoint.Server);
        Assert.Equal("https://10.9.9.9:6443", merged.Clusters.Single(c => c.Name == "prod").ClusterEndpoint.Server);
        Assert.Equal("t0ken", merged.Users.Single(u => u.Name == "ac").UserCredentials.Token);
        Assert.Equal("keep-me", merged.Users.Single(u => u.Name == "prod-admin").UserCredentials.Token);
        var context = merged.Contexts.Single(c => c.Name == "ac").ContextDetails;
        Assert.Equal(("ac", "ac", "default"), (context.Cluster, context.User, context.Namespace));
        Assert.Equal("shop", merged.Contexts.Single(c => c.Name == "prod").ContextDetails.Namespace);
    }

    [Fact]
    public void Merging_into_no_kubeconfig_gives_a_whole_one_and_a_bad_context_name_is_refused()
    {
        var merged = k8s.KubernetesYaml.Deserialize<K8SConfiguration>(ApiCredentials.MergeKubeconfig(null, Ours, "actorcluster"));
        Assert.Equal(("v1", "Config", "actorcluster"), (merged.ApiVersion, merged.Kind, merged.CurrentContext));
        Assert.Single(merged.Clusters);
        Assert.Equal("invalid context name \"my cluster\"", Assert.Throws<ArgumentException>(() => ApiCredentials.MergeKubeconfig(null, Ours, "my cluster")).Message);
    }
}
