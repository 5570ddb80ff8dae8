using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using ActorCluster.Cluster.Proxy;
using ActorCluster.Cluster.Security;
using ActorCluster.Core.Objects;
using ActorCluster.Proxy;
using k8s.Models;

namespace ActorCluster.Cluster.Tests;

/// <summary>
/// The node tunnel admits a connection only from a current member proving itself with its node certificate for this
/// very connection, and lets it claim no source but its own address. Hostile clients speak to node 1's real tunnel
/// with raw sockets: a non-member, a certificate from another CA, a member's certificate without its key, a member
/// claiming another address, and a replay of a member's recorded hello are each refused; the same member, honest,
/// is carried to the pod.
/// </summary>
public sealed class TunnelSecurityTests : IAsyncLifetime
{
    private TestCluster _cluster = null!;
    private V1Pod _pod = null!;

    public async Task InitializeAsync()
    {
        _cluster = await TestCluster.StartAsync(2, extraHocon: "actorcluster.proxy.cross-node = tunnel");
        await _cluster.Create<V1Pod>(ResourceKind.Pod, TestCluster.Seed("pod-1.yaml"));
        _pod = await _cluster.Running("pod-1");
    }

    public async Task DisposeAsync()
    {
        await _cluster.DisposeAsync();
        _cluster.DeleteData();
    }

    private IPEndPoint Tunnel1 => new(IPAddress.Parse(_cluster.NodeAddress(1)), 4054);

    private IPEndPoint Pod => new(IPAddress.Parse(_pod.Status.PodIP), 8080);

    /// <summary>What the tunnel did with one attempt.</summary>
    private sealed record Outcome(byte[]? Challenge, int Status, string? Reply);

    /// <summary>
    /// Connects from <paramref name="from"/>, reads the challenge, sends what <paramref name="hello"/> makes of it and
    /// reads the status byte (-1: closed or reset without one); when carried, asks the pod for its name.
    /// </summary>
    private async Task<Outcome> Attempt(string from, Func<byte[], byte[]> hello)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Parse(from), 0));
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        try
        {
            // A reset can land before the connect's completion is seen: either way, refused before a challenge.
            await socket.ConnectAsync(Tunnel1, cts.Token);
            var challenge = new byte[TunnelHandshake.ChallengeLength];
            for (var read = 0; read < challenge.Length;)
            {
                var n = await socket.ReceiveAsync(challenge.AsMemory(read), SocketFlags.None, cts.Token);
                if (n == 0) return new Outcome(null, -1, null);
                read += n;
            }
            await socket.SendAsync(hello(challenge), SocketFlags.None, cts.Token);
            var status = new byte[1];
            if (await socket.ReceiveAsync(status, SocketFlags.None, cts.Token) != 1) return new Outcome(challenge, -1, null);
            if (status[0] != NodeTunnel.Connected) return new Outcome(challenge, status[0], null);
            await socket.SendAsync("GET /hostname HTTP/1.0\r\n\r\n"u8.ToArray(), SocketFlags.None, cts.Token);
            var reply = new MemoryStream();
            var buffer = new byte[4096];
            int got;
            while ((got = await socket.ReceiveAsync(buffer, SocketFlags.None, cts.Token)) > 0) reply.Write(buffer, 0, got);
            return new Outcome(challenge, status[0], Encoding.ASCII.GetString(reply.ToArray()));
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionReset)
        {
            return new Outcome(null, -1, null);
        }
    }

    /// <summary>A tunnel header: TCP to <paramref name="target"/>, the pod to see <paramref name="source"/>.</summary>
    private static byte[] Header(IPEndPoint target, string source)
    {
        var header = new byte[NodeTunnel.HeaderLength];
        "ACT2"u8.CopyTo(header);
        target.Address.TryWriteBytes(header.AsSpan(4, 4), out _);
        BinaryPrimitives.WriteUInt16BigEndian(header.AsSpan(8, 2), (ushort)target.Port);
        IPAddress.Parse(source).TryWriteBytes(header.AsSpan(10, 4), out _);
        return header;
    }

    private X509Certificate2 ClusterCaWithKey() => ClusterCa.LoadOrCreate(_cluster.DataDir);

    [Fact]
    public async Task Only_a_member_proving_itself_for_this_connection_and_claiming_its_own_address_is_carried()
    {
        var node2 = _cluster.NodeAddress(2);
        using var ca = ClusterCaWithKey();
        using var member = new TunnelCredentials(ClusterCa.IssueNodeCertificate(ca, "k8s-worker2", node2));
        var before = await Counters();

        // The honest member: carried to the pod, which answers.
        byte[]? recorded = null;
        var honest = await Attempt(node2, challenge => recorded = member.Hello(challenge, Header(Pod, node2)));
        Assert.Equal(NodeTunnel.Connected, honest.Status);
        Assert.Contains("pod-1", honest.Reply, StringComparison.Ordinal);

        // A replay: the member's recorded hello, signed for the last connection's challenge, on a new connection.
        var replay = await Attempt(node2, challenge => recorded!);
        Assert.NotEqual(honest.Challenge, replay.Challenge);
        Assert.Equal(NodeTunnel.NotAllowed, replay.Status);

        // A forged claim: the member asks the pod to see another address (a client's, or node 1's own).
        Assert.Equal(NodeTunnel.NotAllowed, (await Attempt(node2, c => member.Hello(c, Header(Pod, "127.0.0.77")))).Status);
        Assert.Equal(NodeTunnel.NotAllowed, (await Attempt(node2, c => member.Hello(c, Header(Pod, _cluster.NodeAddress(1))))).Status);

        // The member's certificate (public) with a signature by a key that is not its own.
        using var thief = new TunnelCredentials(SelfIssued("k8s-worker2", node2));
        Assert.Equal(NodeTunnel.NotAllowed, (await Attempt(node2, c => WithCertificateOf(member, c, thief.Hello(c, Header(Pod, node2)), Header(Pod, node2)))).Status);

        // A node certificate from another CA, for the member's own name and address.
        using var otherCa = OtherCa();
        using var foreign = new TunnelCredentials(ClusterCa.IssueNodeCertificate(otherCa, "k8s-worker2", node2));
        Assert.Equal(NodeTunnel.NotAllowed, (await Attempt(node2, c => foreign.Hello(c, Header(Pod, node2)))).Status);

        // A certificate from the cluster CA naming another node, used from the member's address.
        using var elsewhere = new TunnelCredentials(ClusterCa.IssueNodeCertificate(ca, "k8s-worker9", _cluster.NodeAddress(9)));
        Assert.Equal(NodeTunnel.NotAllowed, (await Attempt(node2, c => elsewhere.Hello(c, Header(Pod, _cluster.NodeAddress(9))))).Status);

        // A valid node certificate for a node that is not a member, from its own address: reset before a challenge.
        Assert.Null((await Attempt(_cluster.NodeAddress(9), c => elsewhere.Hello(c, Header(Pod, _cluster.NodeAddress(9))))).Challenge);

        // Garbage where the credentials belong: closed without being carried.
        Assert.Equal(-1, (await Attempt(node2, c => [.. Header(Pod, node2), 0, 0])).Status);

        var after = await Counters();
        Assert.True(after.Rejected >= before.Rejected + 7, "the tunnel counted fewer refusals than it made");
        // Only the honest connection reached a pod: every refusal came before the pod was dialed.
        Assert.Equal(before.Connections + 1, after.Connections);
    }

    [Fact]
    public async Task Fifty_connections_at_once_through_the_relay_are_each_carried_while_hostile_ones_between_them_are_refused()
    {
        // Node 2 has no pod: every connection to its NodePort crosses to pod-1 through node 1's tunnel, each one
        // answering its own challenge on node 2's relay loops (one signing key shared by them).
        await _cluster.Create<V1Service>(ResourceKind.Service, TestCluster.Seed("svc-2-nodeport.yaml"));
        var node2 = _cluster.NodeAddress(2);
        await TestCluster.Eventually(async () => await Traffic.Get(node2, 30000, "/hostname") == "pod-1", TimeSpan.FromSeconds(30), "node 2's NodePort answering through the tunnel");
        var before = await Counters();

        using var ca = ClusterCaWithKey();
        using var member = new TunnelCredentials(ClusterCa.IssueNodeCertificate(ca, "k8s-worker2", node2));
        byte[]? recorded = null;
        Assert.Equal(NodeTunnel.Connected, (await Attempt(node2, c => recorded = member.Hello(c, Header(Pod, node2)))).Status);
        var honest = Enumerable.Range(0, 50).Select(_ => Traffic.Get(node2, 30000, "/hostname")).ToList();
        var hostile = Enumerable.Range(0, 20).Select(i => Attempt(node2, c => i % 2 == 0 ? recorded! : member.Hello(c, Header(Pod, "127.0.0.77")))).ToList();
        Assert.All(await Task.WhenAll(honest), answer => Assert.Equal("pod-1", answer));
        Assert.All(await Task.WhenAll(hostile), outcome => Assert.Equal(NodeTunnel.NotAllowed, outcome.Status));

        var after = await Counters();
        Assert.Equal(before.Connections + 51, after.Connections);
        Assert.True(after.Rejected >= before.Rejected + 20, "the tunnel counted fewer refusals than it made");
    }

    private Task<TunnelCounters> Counters() =>
        TestCluster.Ask<ProxyCounters>(_cluster[0].ServiceProxy, GetProxyCounters.Instance).ContinueWith(t => t.Result.Tunnel!, TaskScheduler.Default);

    /// <summary>A hello whose certificate is <paramref name="owner"/>'s but whose signature comes from another hello.</summary>
    private static byte[] WithCertificateOf(TunnelCredentials owner, byte[] challenge, byte[] signedByOther, byte[] header)
    {
        var genuine = owner.Hello(challenge, header);
        var certificateLength = BinaryPrimitives.ReadUInt16BigEndian(genuine.AsSpan(header.Length));
        var otherCertificateLength = BinaryPrimitives.ReadUInt16BigEndian(signedByOther.AsSpan(header.Length));
        var otherSignature = signedByOther.AsSpan(header.Length + 2 + otherCertificateLength);
        return [.. genuine.AsSpan(0, header.Length + 2 + certificateLength), .. otherSignature];
    }

    private static X509Certificate2 OtherCa()
    {
        var (certificate, key) = ClusterCa.Create("actorcluster-ca");
        return X509Certificate2.CreateFromPem(certificate, key);
    }

    /// <summary>A certificate with a key of its own (self-signed): whoever made it holds that key, not the member's.</summary>
    private static X509Certificate2 SelfIssued(string node, string address)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN=system:node:{node}", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Parse(address));
        request.CertificateExtensions.Add(san.Build());
        using var self = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(1));
        return X509CertificateLoader.LoadPkcs12(self.Export(X509ContentType.Pkcs12), null);
    }
}
