using System.Buffers.Binary;
using System.Net;

namespace ActorCluster.Proxy;

/// <summary>
/// PROXY protocol v2 (haproxy.org/download/2.6/doc/proxy-protocol.txt), the binary form: a 16-byte preamble and the
/// TCP/IPv4 addresses. Sent first on a connection to a pod of a Service that opted in, so the workload learns the
/// original client even where the relay cannot dial from the client's address (across hosts, or under Cluster).
/// </summary>
public static class ProxyProtocol
{
    public static ReadOnlySpan<byte> Signature => "\r\n\r\n\0\r\nQUIT\n"u8;

    /// <summary>Length of a TCP over IPv4 header: preamble 16 + addresses 12.</summary>
    public const int Ipv4HeaderLength = 28;

    /// <summary>The header for a TCP connection from <paramref name="client"/> to <paramref name="destination"/>.</summary>
    public static byte[] Header(IPEndPoint client, IPEndPoint destination)
    {
        var h = new byte[Ipv4HeaderLength];
        Write(h, client, destination);
        return h;
    }

    /// <summary>Writes the header at the start of <paramref name="h"/>; returns its length.</summary>
    public static int Write(Span<byte> h, IPEndPoint client, IPEndPoint destination)
    {
        Signature.CopyTo(h);
        h[12] = 0x21; // version 2, command PROXY
        h[13] = 0x11; // AF_INET, STREAM
        BinaryPrimitives.WriteUInt16BigEndian(h[14..], 12);
        client.Address.MapToIPv4().TryWriteBytes(h.Slice(16, 4), out _);
        destination.Address.MapToIPv4().TryWriteBytes(h.Slice(20, 4), out _);
        BinaryPrimitives.WriteUInt16BigEndian(h[24..], (ushort)client.Port);
        BinaryPrimitives.WriteUInt16BigEndian(h[26..], (ushort)destination.Port);
        return Ipv4HeaderLength;
    }

    /// <summary>
    /// Reads a header at the start of <paramref name="data"/>: NeedMore (a prefix of one so far), NotPresent
    /// (ordinary data), or the length consumed and the client it names (null for a LOCAL command or another family).
    /// </summary>
    public static (ParseState State, int Length, IPEndPoint? Client) TryParse(ReadOnlySpan<byte> data)
    {
        var n = Math.Min(data.Length, Signature.Length);
        if (!data[..n].SequenceEqual(Signature[..n])) return (ParseState.NotPresent, 0, null);
        if (data.Length < 16) return (ParseState.NeedMore, 0, null);
        var length = 16 + BinaryPrimitives.ReadUInt16BigEndian(data[14..]);
        if (data.Length < length) return (ParseState.NeedMore, 0, null);
        var proxy = (data[12] & 0x0F) == 1;
        if (!proxy || data[13] != 0x11 || length < Ipv4HeaderLength) return (ParseState.Parsed, length, null);
        var client = new IPEndPoint(new IPAddress(data.Slice(16, 4)), BinaryPrimitives.ReadUInt16BigEndian(data[24..]));
        return (ParseState.Parsed, length, client);
    }

    public enum ParseState
    {
        NotPresent,
        NeedMore,
        Parsed,
    }
}
