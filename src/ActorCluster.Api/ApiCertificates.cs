using System.Net;
using System.Security.Cryptography.X509Certificates;
using ActorCluster.Cluster.Security;

namespace ActorCluster.Api;

/// <summary>
/// TLS for the API. kubectl never sends a bearer token over plain HTTP (kubernetes/kubectl#744), so the API is
/// HTTPS with a server certificate per node from the cluster CA (<see cref="ClusterCa"/>), issued at start for the
/// node's address, 127.0.0.1 and localhost. The kubeconfig carries the CA, so kubectl verifies the server as it
/// would any cluster's.
/// </summary>
public static class ApiCertificates
{
    public static X509Certificate2 IssueServerCertificate(X509Certificate2 ca, string address)
    {
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Parse(address));
        if (address != "127.0.0.1") san.AddIpAddress(IPAddress.Loopback);
        san.AddDnsName("localhost");
        san.AddDnsName("kubernetes.default.svc");
        // Serving only: this certificate cannot pass for a node on the cluster's remoting.
        return ClusterCa.Issue(ca, $"CN=actorcluster-apiserver-{address}", san, [ClusterCa.ServerAuth]);
    }
}
