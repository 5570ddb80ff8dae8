using System.Buffers.Binary;
using System.IO.Compression;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Threading.Channels;
using ICSharpCode.SharpZipLib.Zip.Compression;

namespace ActorCluster.Api;

/// <summary>
/// The server side of a SPDY/3.1 connection as Kubernetes' streaming subresources use it (kubelet's httpstream):
/// the client opens streams (SYN_STREAM, headers zlib-compressed with SPDY's dictionary), the server replies to each
/// and hands it to <see cref="OnStream"/>; data frames carry bytes with half-close (FIN); PINGs are answered; there
/// is no flow control (spdystream, kubectl's side, has none either). Over a WebSocket each frame is one binary message.
/// </summary>
internal abstract class SpdyConnection(Stream transport)
{
    private const ushort Version = 3;
    private const ushort SynStream = 1, SynReply = 2, RstStream = 3, Ping = 6, GoAway = 7;
    private const byte Fin = 0x01;
    protected const int MaxDataFrame = 32 * 1024;

    private readonly SemaphoreSlim _writeLock = new(1, 1);
    private readonly Dictionary<uint, SpdyStream> _streams = [];
    private readonly Inflater _inflater = new();
    private readonly MemoryStream _compressed = new();

    /// <summary>Work started for streams, waited for (bounded) when the connection ends.</summary>
    protected List<Task> Work { get; } = [];

    protected sealed class SpdyStream(uint id, Dictionary<string, string> headers)
    {
        public uint Id { get; } = id;
        public Dictionary<string, string> Headers { get; } = headers;
        public Channel<byte[]> Incoming { get; } = Channel.CreateUnbounded<byte[]>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
    }

    /// <summary>A stream the client opened (already replied to).</summary>
    protected abstract void OnStream(SpdyStream stream, CancellationToken token);

    /// <summary>Serves the session until the client ends it (or the transport fails).</summary>
    public async Task RunAsync(CancellationToken token)
    {
        try
        {
            var header = new byte[8];
            while (!token.IsCancellationRequested)
            {
                if (!await ReadExactly(header, token).ConfigureAwait(false)) break;
                var first = BinaryPrimitives.ReadUInt32BigEndian(header);
                var flags = header[4];
                var length = (int)(BinaryPrimitives.ReadUInt32BigEndian(header.AsSpan(4)) & 0xffffff);
                var payload = new byte[length];
                if (!await ReadExactly(payload, token).ConfigureAwait(false)) break;
                if ((first & 0x80000000) == 0)
                {
                    OnData(first & 0x7fffffff, flags, payload);
                    continue;
                }
                var type = (ushort)(first & 0xffff);
                if (type == GoAway) break;
                await OnControl(type, payload, token).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException or System.Net.WebSockets.WebSocketException)
        {
            // The client went.
        }
        finally
        {
            foreach (var stream in _streams.Values) stream.Incoming.Writer.TryComplete();
            await Task.WhenAll(Work).WaitAsync(TimeSpan.FromSeconds(5), CancellationToken.None).ContinueWith(_ => { }, TaskScheduler.Default).ConfigureAwait(false);
            Compressor.Dispose();
        }
    }

    private ZLibStream Compressor => field ??= new ZLibStream(_compressed, CompressionLevel.Fastest, leaveOpen: true);

    private async Task OnControl(ushort type, byte[] payload, CancellationToken token)
    {
        switch (type)
        {
            case SynStream:
            {
                var id = BinaryPrimitives.ReadUInt32BigEndian(payload) & 0x7fffffff;
                var headers = ParseHeaders(Inflate(payload.AsSpan(10)));
                var stream = new SpdyStream(id, headers);
                _streams[id] = stream;
                await WriteControl(SynReply, 0, [.. BigEndian(id), .. CompressedHeaders()], token).ConfigureAwait(false);
                OnStream(stream, token);
                break;
            }
            case RstStream:
            {
                var id = BinaryPrimitives.ReadUInt32BigEndian(payload) & 0x7fffffff;
                if (_streams.Remove(id, out var stream)) stream.Incoming.Writer.TryComplete(new IOException("stream reset by the client"));
                break;
            }
            case Ping:
                await WriteControl(Ping, 0, payload, token).ConfigureAwait(false);
                break;
        }
    }

    private void OnData(uint id, byte flags, byte[] payload)
    {
        if (!_streams.TryGetValue(id, out var stream)) return;
        if (payload.Length > 0) stream.Incoming.Writer.TryWrite(payload);
        if ((flags & Fin) != 0) stream.Incoming.Writer.TryComplete();
    }

    /// <summary>Half-closes our side of a stream (an empty data frame with FIN), as spdystream's Close does.</summary>
    protected async Task Close(SpdyStream stream, CancellationToken token)
    {
        try
        {
            await WriteData(stream.Id, Fin, ReadOnlyMemory<byte>.Empty, token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException or System.Net.WebSockets.WebSocketException)
        {
        }
    }

    protected async Task WriteData(uint id, byte flags, ReadOnlyMemory<byte> data, CancellationToken token)
    {
        var frame = new byte[8 + data.Length];
        BinaryPrimitives.WriteUInt32BigEndian(frame, id & 0x7fffffff);
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(4), ((uint)flags << 24) | (uint)data.Length);
        data.CopyTo(frame.AsMemory(8));
        await Write(frame, token).ConfigureAwait(false);
    }

    private async Task WriteControl(ushort type, byte flags, byte[] payload, CancellationToken token)
    {
        var frame = new byte[8 + payload.Length];
        BinaryPrimitives.WriteUInt32BigEndian(frame, 0x80000000 | ((uint)Version << 16) | type);
        BinaryPrimitives.WriteUInt32BigEndian(frame.AsSpan(4), ((uint)flags << 24) | (uint)payload.Length);
        payload.CopyTo(frame, 8);
        await Write(frame, token).ConfigureAwait(false);
    }

    /// <summary>One frame at a time on the transport (over a WebSocket, one binary message per frame).</summary>
    private async Task Write(byte[] frame, CancellationToken token)
    {
        await _writeLock.WaitAsync(token).ConfigureAwait(false);
        try
        {
            await transport.WriteAsync(frame, token).ConfigureAwait(false);
            await transport.FlushAsync(token).ConfigureAwait(false);
        }
        finally
        {
            _writeLock.Release();
        }
    }

    private async Task<bool> ReadExactly(byte[] buffer, CancellationToken token)
    {
        var read = 0;
        while (read < buffer.Length)
        {
            var n = await transport.ReadAsync(buffer.AsMemory(read), token).ConfigureAwait(false);
            if (n == 0) return false;
            read += n;
        }
        return true;
    }

    /// <summary>A header block, through the connection's one zlib stream (SPDY/3's dictionary when the client asks for it).</summary>
    private byte[] Inflate(ReadOnlySpan<byte> compressed)
    {
        _inflater.SetInput(compressed.ToArray());
        var output = new MemoryStream();
        var buffer = new byte[4096];
        while (true)
        {
            var n = _inflater.Inflate(buffer);
            if (n > 0)
            {
                output.Write(buffer, 0, n);
                continue;
            }
            if (_inflater.IsNeedingDictionary)
            {
                _inflater.SetDictionary(SpdyDictionary.Bytes);
                continue;
            }
            break;
        }
        return output.ToArray();
    }

    /// <summary>SPDY/3 name/value block: a count, then length-prefixed names and values (several values NUL-separated).</summary>
    private static Dictionary<string, string> ParseHeaders(byte[] block)
    {
        var headers = new Dictionary<string, string>(StringComparer.Ordinal);
        var span = block.AsSpan();
        if (span.Length < 4) return headers;
        var count = BinaryPrimitives.ReadUInt32BigEndian(span);
        var at = 4;
        for (var i = 0; i < count && at + 4 <= span.Length; i++)
        {
            var nameLength = (int)BinaryPrimitives.ReadUInt32BigEndian(span[at..]);
            var name = Encoding.UTF8.GetString(span.Slice(at + 4, nameLength));
            at += 4 + nameLength;
            var valueLength = (int)BinaryPrimitives.ReadUInt32BigEndian(span[at..]);
            var value = Encoding.UTF8.GetString(span.Slice(at + 4, valueLength));
            at += 4 + valueLength;
            headers[name.ToLowerInvariant()] = value.Split('\0')[0];
        }
        return headers;
    }

    /// <summary>An empty header block (our SYN_REPLYs say nothing), compressed on our side's zlib stream and sync-flushed.</summary>
    private byte[] CompressedHeaders()
    {
        Compressor.Write([0, 0, 0, 0]);
        Compressor.Flush();
        var block = _compressed.ToArray();
        _compressed.SetLength(0);
        return block;
    }

    private static byte[] BigEndian(uint value)
    {
        var bytes = new byte[4];
        BinaryPrimitives.WriteUInt32BigEndian(bytes, value);
        return bytes;
    }
}
