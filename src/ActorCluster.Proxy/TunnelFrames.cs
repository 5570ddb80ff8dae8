using System.Buffers.Binary;
using System.Net.Sockets;

namespace ActorCluster.Proxy;

/// <summary>
/// How a UDP flow crosses a node tunnel's stream: each datagram as a frame (2-byte big-endian length, then the
/// payload), so datagram boundaries survive; and exact reads, which the tunnel's handshake uses too.
/// </summary>
internal static class TunnelFrames
{
    /// <summary>The largest UDP payload over IPv4.</summary>
    internal const int MaxDatagram = 65507;

    /// <summary>
    /// Reads one frame (2-byte big-endian length, then the datagram) into <paramref name="buffer"/>; its length, or
    /// -1 at end of stream or on an error.
    /// </summary>
    internal static async Task<int> ReadFrameAsync(Socket socket, byte[] buffer, CancellationToken token)
    {
        try
        {
            if (!await ReadExactlyAsync(socket, buffer.AsMemory(0, 2), token).ConfigureAwait(false)) return -1;
            var length = BinaryPrimitives.ReadUInt16BigEndian(buffer);
            return length <= buffer.Length && await ReadExactlyAsync(socket, buffer.AsMemory(0, length), token).ConfigureAwait(false) ? length : -1;
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException or OperationCanceledException)
        {
            return -1;
        }
    }

    /// <summary>Sends the datagram at <c>frame[2..2+length]</c> as one frame (the first two bytes get its length).</summary>
    internal static async Task WriteFrameAsync(Socket socket, byte[] frame, int length, CancellationToken token)
    {
        BinaryPrimitives.WriteUInt16BigEndian(frame, (ushort)length);
        var sent = 0;
        while (sent < length + 2) sent += await socket.SendAsync(frame.AsMemory(sent, length + 2 - sent), SocketFlags.None, token).ConfigureAwait(false);
    }

    internal static async Task<bool> ReadExactlyAsync(Socket socket, Memory<byte> into, CancellationToken token)
    {
        var read = 0;
        while (read < into.Length)
        {
            var n = await socket.ReceiveAsync(into[read..], SocketFlags.None, token).ConfigureAwait(false);
            if (n == 0) return false;
            read += n;
        }
        return true;
    }
}
