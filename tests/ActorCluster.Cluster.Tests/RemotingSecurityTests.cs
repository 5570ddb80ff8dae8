using System.Security.Cryptography.X509Certificates;
using ActorCluster.Cluster.ApiServer;
using ActorCluster.Cluster.Hosting;
using ActorCluster.Cluster.Security;
using ActorCluster.Core.Objects;
using Akka.Actor;
using Akka.Actor.Setup;
using Akka.Configuration;
using Akka.Remote.Transport.DotNetty;

namespace ActorCluster.Cluster.Tests;

/// <summary>
/// Akka remoting is mutual TLS pinned to the cluster CA: a process that runs this very software and knows the
/// cluster's address, but has no node certificate from the cluster's CA, cannot join, cannot resolve an actor and
/// cannot deliver a message (a Service it sends to the ApiServer is never created). The same process with a node
/// certificate from the cluster CA joins at once, so these tests can fail.
/// </summary>
public sealed class RemotingSecurityTests : IAsyncLifetime
{
    private TestCluster _cluster = null!;

    public async Task InitializeAsync() => _cluster = await TestCluster.StartAsync(1);

    public async Task DisposeAsync()
    {
        await _cluster.DisposeAsync();
        _cluster.DeleteData();
    }

    /// <summary>How the outsider speaks to the node.</summary>
    public enum Outsider
    {
        /// <summary>Plain TCP, as every node spoke before: no TLS at all.</summary>
        PlainTcp,

        /// <summary>TLS that trusts any server, presenting no certificate of its own.</summary>
        TlsWithoutCertificate,

        /// <summary>TLS with a well-formed node certificate (CN=system:node:k8s-worker9) from another CA.</summary>
        NodeCertificateFromAnotherCa,

        /// <summary>TLS with a certificate from the cluster CA that is not a node's: the API's serving certificate.</summary>
        ApiServingCertificateFromTheClusterCa,

        /// <summary>A node certificate from the cluster CA: the control that proves the others are refused for their certificate.</summary>
        NodeCertificateFromTheClusterCa,
    }

    [Theory]
    [InlineData(Outsider.PlainTcp)]
    [InlineData(Outsider.TlsWithoutCertificate)]
    [InlineData(Outsider.NodeCertificateFromAnotherCa)]
    [InlineData(Outsider.ApiServingCertificateFromTheClusterCa)]
    [InlineData(Outsider.NodeCertificateFromTheClusterCa)]
    public async Task Only_a_process_with_a_node_certificate_from_the_cluster_CA_can_join_or_deliver_a_message(Outsider outsider)
    {
        var node = _cluster[0];
        var refusedBefore = node.Metrics.RemotingPeersRefused.Value;
        await using var rogue = Start(outsider);
        var rogueAddress = Akka.Cluster.Cluster.Get(rogue.System).SelfAddress;
        // It tries everything a member could: join, find the ApiServer, and write through it.
        var target = new Address(rogueAddress.Protocol, node.SelfAddress.System, node.SelfAddress.Host, node.SelfAddress.Port);
        Akka.Cluster.Cluster.Get(rogue.System).Join(target);
        var apiServer = rogue.System.ActorSelection(new RootActorPath(target) / "user" / "apiserver" / "apiserver");
        var name = "rogue-" + outsider.ToString().ToLowerInvariant();
        var service = $$$"""{"apiVersion":"v1","kind":"Service","metadata":{"name":"{{{name}}}","namespace":"default"},"spec":{"ports":[{"port":80}]}}""";
        apiServer.Tell(new CreateObject("services", "default", service));
        // And through the path every node's API uses: the node's proxy to the singleton.
        var proxy = rogue.System.ActorSelection(new RootActorPath(target) / "user" / "apiserver-proxy");
        proxy.Tell(new CreateObject("services", "default", service.Replace(name, name + "-via-proxy", StringComparison.Ordinal)));

        if (outsider == Outsider.NodeCertificateFromTheClusterCa)
        {
            await TestCluster.Eventually(() => IsMember(node, rogueAddress), TimeSpan.FromSeconds(20), "the process with a node certificate a member");
            Assert.NotNull(await apiServer.ResolveOne(TimeSpan.FromSeconds(5)));
            await TestCluster.Eventually(async () => await _cluster.TryGet<k8s.Models.V1Service>(ResourceKind.Service, "default", name) is not null
                                                     && await _cluster.TryGet<k8s.Models.V1Service>(ResourceKind.Service, "default", name + "-via-proxy") is not null,
                TimeSpan.FromSeconds(10), "its Services created, directly and through the proxy");
            return;
        }

        // Every association attempt fails its handshake: resolving the ApiServer never succeeds within the bound
        // that the control above meets easily, and nothing it sent arrives.
        await Assert.ThrowsAnyAsync<Exception>(() => apiServer.ResolveOne(TimeSpan.FromSeconds(5)));
        Assert.False(IsMember(node, rogueAddress), "the outsider became a member");
        Assert.Null(await _cluster.TryGet<k8s.Models.V1Service>(ResourceKind.Service, "default", name));
        Assert.Null(await _cluster.TryGet<k8s.Models.V1Service>(ResourceKind.Service, "default", name + "-via-proxy"));
        if (outsider is Outsider.NodeCertificateFromAnotherCa or Outsider.ApiServingCertificateFromTheClusterCa)
            Assert.True(node.Metrics.RemotingPeersRefused.Value > refusedBefore, "the node counted no refused handshake");
    }

    [Fact]
    public void A_node_certificate_is_accepted_only_from_the_cluster_CA_with_both_usages_and_a_node_name()
    {
        using var ca = ClusterCa.LoadOrCreate(_cluster.DataDir);
        using var otherCa = OtherCa();
        using var good = ClusterCa.IssueNodeCertificate(ca, "k8s-worker2", "127.0.0.2");
        Assert.True(RemotingTls.IsNodeCertificate(ca, good, out var problem), problem);
        Assert.Equal("CN=system:node:k8s-worker2, O=system:nodes", good.Subject);

        using var foreign = ClusterCa.IssueNodeCertificate(otherCa, "k8s-worker2", "127.0.0.2");
        Assert.False(RemotingTls.IsNodeCertificate(ca, foreign, out problem));
        Assert.NotEmpty(problem);

        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName("localhost");
        using var serverOnly = ClusterCa.Issue(ca, "CN=system:node:k8s-worker3", san, [ClusterCa.ServerAuth]);
        Assert.False(RemotingTls.IsNodeCertificate(ca, serverOnly, out _));
        using var notANode = ClusterCa.Issue(ca, "CN=someone", san, [ClusterCa.ServerAuth, ClusterCa.ClientAuth]);
        Assert.False(RemotingTls.IsNodeCertificate(ca, notANode, out problem));
        Assert.Contains("not a node certificate", problem, StringComparison.Ordinal);
        Assert.False(RemotingTls.IsNodeCertificate(ca, null, out problem));
        // The CA itself, self-signed and trusted, is no node.
        Assert.False(RemotingTls.IsNodeCertificate(ca, ca, out _));
    }

    private static bool IsMember(ActorClusterNode node, Address address) =>
        Akka.Cluster.Cluster.Get(node.System).State.Members.Any(m => m.Address == address);

    private static X509Certificate2 OtherCa()
    {
        var (certificate, key) = ClusterCa.Create("actorcluster-ca");
        return X509Certificate2.CreateFromPem(certificate, key);
    }

    /// <summary>An ActorSystem configured as a node (same serializers, same cluster settings) at a free port of its own.</summary>
    private RogueSystem Start(Outsider outsider)
    {
        var config = ConfigurationFactory.ParseString($"akka.remote.dot-netty.tcp {{ hostname = {_cluster.NodeAddress(9)}, port = 0 }}\nakka.loglevel = ERROR")
            .WithFallback(NodeConfiguration.Layers(new NodeOptions { Name = "k8s-worker9", DataDir = _cluster.DataDir }));
        using var clusterCa = ClusterCa.LoadOrCreate(_cluster.DataDir);
        using var otherCa = OtherCa();
        var setup = outsider switch
        {
            Outsider.PlainTcp => null,
            // Mutual authentication off on this side: it trusts any server and presents nothing.
            Outsider.TlsWithoutCertificate => new DotNettySslSetup(ClusterCa.IssueNodeCertificate(otherCa, "k8s-worker9", "127.0.0.9"), suppressValidation: true, requireMutualAuthentication: false),
            Outsider.NodeCertificateFromAnotherCa => new DotNettySslSetup(ClusterCa.IssueNodeCertificate(otherCa, "k8s-worker9", "127.0.0.9"), suppressValidation: true, requireMutualAuthentication: true),
            Outsider.ApiServingCertificateFromTheClusterCa => new DotNettySslSetup(ServingCertificate(clusterCa), suppressValidation: true, requireMutualAuthentication: true),
            _ => RemotingTls.Setup(ClusterCa.PublicPart(clusterCa), ClusterCa.IssueNodeCertificate(clusterCa, "k8s-worker9", "127.0.0.9")),
        };
        if (setup is not null) config = ConfigurationFactory.ParseString(RemotingTls.Hocon).WithFallback(config);
        var bootstrap = BootstrapSetup.Create().WithConfig(config);
        var system = ActorSystem.Create("actorcluster", setup is null ? ActorSystemSetup.Create(bootstrap) : ActorSystemSetup.Create(bootstrap, setup));
        return new RogueSystem(system);
    }

    /// <summary>What the API serves with: from the cluster CA, but for serving only (no client usage).</summary>
    private static X509Certificate2 ServingCertificate(X509Certificate2 ca)
    {
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(System.Net.IPAddress.Loopback);
        return ClusterCa.Issue(ca, "CN=actorcluster-apiserver-127.0.0.1", san, [ClusterCa.ServerAuth]);
    }

    private sealed class RogueSystem(ActorSystem system) : IAsyncDisposable
    {
        public ActorSystem System { get; } = system;

        public async ValueTask DisposeAsync() => await System.Terminate().WaitAsync(TimeSpan.FromSeconds(15));
    }
}
