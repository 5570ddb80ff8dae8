using System.Security.Cryptography.X509Certificates;
using Akka.Event;
using Akka.Remote.Transport.DotNetty;

namespace ActorCluster.Cluster.Security;

/// <summary>
/// Mutual TLS on Akka remoting, always on: each node presents its own certificate from the cluster CA
/// (<see cref="ClusterCa.IssueNodeCertificate"/>) and accepts a peer, whether it dials or is dialed, only if the
/// peer's certificate chains to that CA alone, is a node certificate (client and server usage, subject
/// <c>system:node:&lt;name&gt;</c>) and is valid now. A process without one cannot complete a handshake, so it cannot
/// join, gossip or deliver a single message. Host names are not checked: node certificates name nodes, and the
/// CA pin is what matters (as etcd's peer TLS with a private CA).
/// </summary>
public static class RemotingTls
{
    /// <summary>The HOCON that turns TLS on for the DotNetty transport (the certificate comes from the setup).</summary>
    public const string Hocon = "akka.remote.dot-netty.tcp.enable-ssl = on";

    /// <summary>The address scheme of a TLS transport: seeds must name it.</summary>
    public const string Protocol = "akka.ssl.tcp";

    /// <param name="ca">the only root trusted</param>
    /// <param name="node">this node's certificate, with its key</param>
    /// <param name="refused">called with the peer and the reason each time a peer is refused (metrics)</param>
    public static DotNettySslSetup Setup(X509Certificate2 ca, X509Certificate2 node, Action<string, string>? refused = null) =>
        new(node, suppressValidation: false, requireMutualAuthentication: true, validateCertificateHostname: false,
            customValidator: (certificate, _, peer, _, log) => Accept(ca, certificate, peer, log, refused));

    /// <summary>Whether a peer's certificate is a node certificate of this cluster; <paramref name="problem"/> says why not.</summary>
    public static bool IsNodeCertificate(X509Certificate2 ca, X509Certificate2? certificate, out string problem)
    {
        if (certificate is null)
        {
            problem = "no certificate";
            return false;
        }
        if (!ClusterCa.Verify(ca, certificate, [ClusterCa.ServerAuth, ClusterCa.ClientAuth], out problem)) return false;
        var name = certificate.GetNameInfo(X509NameType.SimpleName, forIssuer: false);
        if (!name.StartsWith(ClusterCa.NodeUserPrefix, StringComparison.Ordinal) || name.Length == ClusterCa.NodeUserPrefix.Length)
        {
            problem = $"\"{name}\" is not a node certificate (CN={ClusterCa.NodeUserPrefix}<node>)";
            return false;
        }
        return true;
    }

    /// <summary>The node address (its IP SAN) a node certificate of this cluster names; null for any other certificate.</summary>
    public static System.Net.IPAddress? NodeAddress(X509Certificate2 ca, X509Certificate2 certificate) =>
        IsNodeCertificate(ca, certificate, out _)
        && certificate.Extensions.OfType<X509SubjectAlternativeNameExtension>().FirstOrDefault()?.EnumerateIPAddresses().FirstOrDefault() is { } address
            ? address
            : null;

    private static bool Accept(X509Certificate2 ca, X509Certificate2? certificate, string peer, ILoggingAdapter log, Action<string, string>? refused)
    {
        if (IsNodeCertificate(ca, certificate, out var problem)) return true;
        var subject = certificate?.Subject is { Length: > 0 } s ? $" ({s})" : "";
        log.Warning("Refused remoting peer {0}{1}: {2}", peer, subject, problem);
        refused?.Invoke(peer, problem);
        return false;
    }
}
