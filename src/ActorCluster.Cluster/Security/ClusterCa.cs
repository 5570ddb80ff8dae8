using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace ActorCluster.Cluster.Security;

/// <summary>
/// The cluster's certificate authority: one self-signed CA (ca.crt/ca.key) that every node of a cluster shares. A
/// local cluster's nodes share a data directory, where the first node creates it; a Swarm's nodes are handed the
/// same CA from Docker secrets. It issues each node's remoting certificate (<see cref="IssueNodeCertificate"/>) and
/// the API's serving certificates, and it is the only root a node trusts when a peer connects.
/// </summary>
public static class ClusterCa
{
    public static readonly Oid ServerAuth = new("1.3.6.1.5.5.7.3.1");
    public static readonly Oid ClientAuth = new("1.3.6.1.5.5.7.3.2");

    /// <summary>Kubernetes names a node's client identity <c>system:node:&lt;name&gt;</c> in group <c>system:nodes</c>; so do we.</summary>
    public const string NodeUserPrefix = "system:node:";

    /// <summary>
    /// The CA a node uses: the files it was given (both must exist: a Swarm's secrets), or else the data
    /// directory's, created once (under the secrets lock) by whichever node comes first.
    /// </summary>
    public static X509Certificate2 Load(string dataDir, string? certificateFile, string? keyFile)
    {
        if (certificateFile is null && keyFile is null) return LoadOrCreate(dataDir);
        if (certificateFile is null || keyFile is null)
            throw new ArgumentException("bad configuration: the cluster CA needs both its certificate (--ca-cert) and its key (--ca-key)");
        foreach (var file in new[] { certificateFile, keyFile })
            if (!File.Exists(file)) throw new ArgumentException($"bad configuration: the cluster CA file {file} does not exist");
        SecretFiles.EnsureOwnerOnly(keyFile);
        var ca = X509Certificate2.CreateFromPemFile(certificateFile, keyFile);
        if (!IsCa(ca)) throw new ArgumentException($"bad configuration: {certificateFile} is not a CA certificate (basicConstraints CA:TRUE)");
        return ca;
    }

    /// <summary>The data directory's CA, created once (under the secrets lock) by whichever node comes first.</summary>
    public static X509Certificate2 LoadOrCreate(string dataDir)
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
            var (certificatePem, keyPem) = Create("actorcluster-ca");
            // The key first: a directory with a certificate always has its key.
            SecretFiles.WriteAtomically(keyPath, keyPem);
            SecretFiles.WriteAtomically(certPath, certificatePem);
            return X509Certificate2.CreateFromPemFile(certPath, keyPath);
        });
    }

    /// <summary>A new self-signed CA as PEM texts (certificate, PKCS#8 key): what <c>actorcluster ca</c> writes for a Swarm.</summary>
    public static (string Certificate, string Key) Create(string commonName)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={commonName}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        using var ca = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(10));
        return (ca.ExportCertificatePem(), key.ExportPkcs8PrivateKeyPem());
    }

    /// <summary>
    /// A node's remoting certificate: subject <c>CN=system:node:&lt;name&gt;, O=system:nodes</c> as Kubernetes names a
    /// kubelet, the node's address as SAN, usable as both TLS client and server (each node dials and accepts).
    /// </summary>
    public static X509Certificate2 IssueNodeCertificate(X509Certificate2 ca, string nodeName, string address)
    {
        var san = new SubjectAlternativeNameBuilder();
        san.AddDnsName(nodeName);
        if (IPAddress.TryParse(address, out var ip)) san.AddIpAddress(ip);
        else san.AddDnsName(address);
        return Issue(ca, $"CN={NodeUserPrefix}{nodeName}, O=system:nodes", san, [ServerAuth, ClientAuth]);
    }

    /// <summary>Issues a leaf certificate (P-256, one year) with the given names and extended key usages.</summary>
    public static X509Certificate2 Issue(X509Certificate2 ca, string subject, SubjectAlternativeNameBuilder san, Oid[] usages)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(subject, key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(san.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.DigitalSignature, true));
        var oids = new OidCollection();
        foreach (var usage in usages) oids.Add(usage);
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(oids, false));
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7f;
        var notAfter = DateTimeOffset.UtcNow.AddYears(1);
        if (notAfter > ca.NotAfter) notAfter = ca.NotAfter;
        using var issued = request.Create(ca, DateTimeOffset.UtcNow.AddDays(-1), notAfter, serial);
        using var withKey = issued.CopyWithPrivateKey(key);
        // Round-trip through PKCS#12 so the key is usable by the TLS stack on every platform.
        return X509CertificateLoader.LoadPkcs12(withKey.Export(X509ContentType.Pkcs12), null);
    }

    /// <summary>
    /// Whether <paramref name="certificate"/> chains to <paramref name="ca"/> alone (not to any root of the machine),
    /// is valid now and allows every one of <paramref name="usages"/>; <paramref name="problem"/> says why not.
    /// </summary>
    public static bool Verify(X509Certificate2 ca, X509Certificate2 certificate, Oid[] usages, out string problem)
    {
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.Add(ca);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.DisableCertificateDownloads = true;
        foreach (var usage in usages) chain.ChainPolicy.ApplicationPolicy.Add(usage);
        if (!chain.Build(certificate))
        {
            problem = string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()).Where(s => s.Length > 0).Distinct());
            if (problem.Length == 0) problem = "the certificate does not chain to the cluster CA";
            return false;
        }
        // CustomRootTrust accepts a chain that ends at the CA; make sure it is this CA, not a look-alike subject.
        var root = chain.ChainElements[^1].Certificate;
        if (!root.RawDataMemory.Span.SequenceEqual(ca.RawDataMemory.Span))
        {
            problem = "the certificate does not chain to the cluster CA";
            return false;
        }
        problem = "";
        return true;
    }

    /// <summary>The CA's certificate without its key: what a node keeps to verify peers after issuing its own certificate.</summary>
    public static X509Certificate2 PublicPart(X509Certificate2 ca) => X509CertificateLoader.LoadCertificate(ca.RawData);

    private static bool IsCa(X509Certificate2 certificate) =>
        certificate.Extensions.OfType<X509BasicConstraintsExtension>().Any(b => b.CertificateAuthority);
}
