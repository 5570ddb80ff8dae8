using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace ActorCluster.Api;

/// <summary>
/// TLS for the API. kubectl never sends a bearer token over plain HTTP (kubernetes/kubectl#744), so the API is
/// HTTPS: one self-signed CA per data directory (ca.crt/ca.key, created once, shared by the nodes of a local
/// cluster), and a server certificate per node issued at start for the node's address, 127.0.0.1 and localhost.
/// The kubeconfig carries the CA, so kubectl verifies the server as it would any cluster's.
/// </summary>
public static class ApiCertificates
{
    /// <summary>The data directory's CA, created once (under the secrets lock) by whichever node comes first.</summary>
    public static X509Certificate2 LoadOrCreateCa(string dataDir)
    {
        var certPath = Path.Combine(dataDir, "ca.crt");
        var keyPath = Path.Combine(dataDir, "ca.key");
        return SecretFiles.WithLock(dataDir, () =>
        {
            if (File.Exists(certPath) && File.Exists(keyPath))
            {
                SecretFiles.EnsureOwnerOnly(keyPath);
                return X509Certificate2.CreateFromPemFile(certPath, keyPath);
            }
            using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
            var request = new CertificateRequest("CN=actorcluster-ca", key, HashAlgorithmName.SHA256);
            request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
            request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
            using var ca = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(10));
            // The key first: a directory with a certificate always has its key.
            SecretFiles.WriteAtomically(keyPath, key.ExportPkcs8PrivateKeyPem());
            SecretFiles.WriteAtomically(certPath, ca.ExportCertificatePem());
            return X509Certificate2.CreateFromPemFile(certPath, keyPath);
        });
    }

    public static X509Certificate2 IssueServerCertificate(X509Certificate2 ca, string address)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN=actorcluster-apiserver-{address}", key, HashAlgorithmName.SHA256);
        var san = new SubjectAlternativeNameBuilder();
        san.AddIpAddress(IPAddress.Parse(address));
        if (address != "127.0.0.1") san.AddIpAddress(IPAddress.Loopback);
        san.AddDnsName("localhost");
        san.AddDnsName("kubernetes.default.svc");
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid("1.3.6.1.5.5.7.3.1")], false));
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7f;
        using var issued = request.Create(ca, DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(1), serial);
        using var withKey = issued.CopyWithPrivateKey(key);
        // Round-trip through PKCS#12 so the key is usable by the TLS stack on every platform.
        return X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null);
    }
}
