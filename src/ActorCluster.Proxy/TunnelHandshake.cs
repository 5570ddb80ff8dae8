using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace ActorCluster.Proxy;

/// <summary>
/// What a node proves when it opens a connection through another node's tunnel. The tunnel speaks first: a challenge
/// ("ACN1" and 32 fresh random bytes). The dialing node answers with its hello: the tunnel header, its node
/// certificate (DER) and an ECDSA signature, with the certificate's key, over the challenge and the header. The
/// tunnel accepts only a certificate from the cluster CA naming a current member, a valid signature (so the
/// certificate's holder signed this very connection's challenge: a recorded hello replayed on another connection
/// fails), and a source address that node may claim. The bytes that follow are the pod's, in the clear, as pod
/// traffic between hosts is in Kubernetes without an encrypting CNI; what the handshake guards is who may reach a
/// pod through a node, and as whom.
/// </summary>
public static class TunnelHandshake
{
    public const int ChallengeLength = 36;
    internal const int MaxCertificateLength = 4096;
    internal const int MaxSignatureLength = 139; // an ECDSA P-521 signature in DER, the largest a node key could make
    private static readonly byte[] ChallengeMagic = "ACN1"u8.ToArray();

    /// <summary>A fresh challenge for one connection.</summary>
    public static byte[] NewChallenge()
    {
        var challenge = new byte[ChallengeLength];
        ChallengeMagic.CopyTo(challenge, 0);
        RandomNumberGenerator.Fill(challenge.AsSpan(4));
        return challenge;
    }

    public static bool IsChallenge(ReadOnlySpan<byte> received) =>
        received.Length == ChallengeLength && received[..4].SequenceEqual(ChallengeMagic);

    /// <summary>What is signed: the challenge, then the header.</summary>
    internal static byte[] Signed(ReadOnlySpan<byte> challenge, ReadOnlySpan<byte> header) => [.. challenge, .. header];

    /// <summary>
    /// Checks a hello's signature against the certificate it carries: the certificate's own key signed this
    /// connection's challenge and this header.
    /// </summary>
    public static bool SignatureValid(X509Certificate2 certificate, ReadOnlySpan<byte> challenge, ReadOnlySpan<byte> header, ReadOnlySpan<byte> signature)
    {
        using var key = certificate.GetECDsaPublicKey();
        return key is not null && key.VerifyData(Signed(challenge, header), signature, HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
    }

    /// <summary>The certificate a hello carries (DER); null when it is not one.</summary>
    internal static X509Certificate2? LoadCertificate(ReadOnlySpan<byte> der)
    {
        try
        {
            return X509CertificateLoader.LoadCertificate(der);
        }
        catch (CryptographicException)
        {
            return null;
        }
    }
}

/// <summary>
/// A node's means to open tunnel connections: its node certificate and key (the remoting certificate, from the
/// cluster CA). Thread-safe: the relay loops sign with it concurrently.
/// </summary>
public sealed class TunnelCredentials : IDisposable
{
    private readonly byte[] _certificate;
    private readonly ECDsa _key;

    public TunnelCredentials(X509Certificate2 nodeCertificate)
    {
        _certificate = nodeCertificate.RawData;
        if (_certificate.Length > TunnelHandshake.MaxCertificateLength) throw new ArgumentException("the node certificate is too large for the tunnel handshake");
        _key = nodeCertificate.GetECDsaPrivateKey() ?? throw new ArgumentException("the node certificate has no ECDSA private key");
    }

    /// <summary>The hello answering <paramref name="challenge"/>: the header, the certificate, the signature.</summary>
    public byte[] Hello(ReadOnlySpan<byte> challenge, ReadOnlySpan<byte> header)
    {
        byte[] signature;
        lock (_key) signature = _key.SignData(TunnelHandshake.Signed(challenge, header), HashAlgorithmName.SHA256, DSASignatureFormat.Rfc3279DerSequence);
        var hello = new byte[header.Length + 2 + _certificate.Length + 1 + signature.Length];
        header.CopyTo(hello);
        BinaryPrimitives.WriteUInt16BigEndian(hello.AsSpan(header.Length), (ushort)_certificate.Length);
        _certificate.CopyTo(hello, header.Length + 2);
        hello[header.Length + 2 + _certificate.Length] = (byte)signature.Length;
        signature.CopyTo(hello, header.Length + 2 + _certificate.Length + 1);
        return hello;
    }

    public void Dispose() => _key.Dispose();
}
