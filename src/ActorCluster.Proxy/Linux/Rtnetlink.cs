using System.Buffers.Binary;

namespace ActorCluster.Proxy.Linux;

/// <summary>
/// One rtnetlink request and the kernel's acknowledgement: what the kernel data path changes on the host's interfaces
/// (route_localnet, a node's address on loopback) it asks for here, rather than through /proc/sys (read-only in a
/// container) or the <c>ip</c> tool (not in every image).
/// </summary>
internal static unsafe class Rtnetlink
{
    private const int AF_NETLINK = 16, SOCK_RAW = 3, NETLINK_ROUTE = 0, SO_RCVTIMEO = 20;
    private const ushort NLMSG_ERROR = 2;
    public const ushort NLM_F_REQUEST = 1, NLM_F_ACK = 4, NLM_F_EXCL = 0x200, NLM_F_CREATE = 0x400;
    public const int HeaderLength = 16;

    /// <summary>Writes the netlink header at the start of <paramref name="message"/> (its whole length, type and flags).</summary>
    public static void Header(Span<byte> message, ushort type, ushort flags)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(message, (uint)message.Length);
        BinaryPrimitives.WriteUInt16LittleEndian(message[4..], type);
        BinaryPrimitives.WriteUInt16LittleEndian(message[6..], (ushort)(flags | NLM_F_REQUEST | NLM_F_ACK));
        BinaryPrimitives.WriteUInt32LittleEndian(message[8..], 1); // sequence number: one request per socket
    }

    /// <summary>An attribute header (rtattr): its length including the header, and its type.</summary>
    public static void Attribute(Span<byte> at, ushort length, ushort type)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(at, length);
        BinaryPrimitives.WriteUInt16LittleEndian(at[2..], type);
    }

    /// <summary>Sends the request and reads the kernel's ack: 0 when done, else the errno it answered (or of the socket).</summary>
    public static int Request(ReadOnlySpan<byte> message)
    {
        var fd = Native.socket(AF_NETLINK, SOCK_RAW | Native.SOCK_CLOEXEC, NETLINK_ROUTE);
        if (fd < 0) return Native.Errno;
        try
        {
            // The kernel answers at once; the bound only guards against a kernel that never does.
            var timeout = stackalloc long[2] { 5, 0 };
            Native.setsockopt(fd, Native.SOL_SOCKET, SO_RCVTIMEO, timeout, 16);
            fixed (byte* p = message)
            {
                if (Native.send(fd, p, (nuint)message.Length, 0) != message.Length) return Native.Errno;
            }
            Span<byte> answer = stackalloc byte[512];
            nint n;
            fixed (byte* p = answer) n = Native.recv(fd, p, (nuint)answer.Length, 0);
            if (n < 20 || BinaryPrimitives.ReadUInt16LittleEndian(answer[4..]) != NLMSG_ERROR) return n < 0 ? Native.Errno : ETIMEDOUT;
            return -BinaryPrimitives.ReadInt32LittleEndian(answer[16..]);
        }
        finally
        {
            Native.close(fd);
        }
    }

    private const int ETIMEDOUT = 110;

    /// <summary>An interface's index by name (from /sys/class/net, readable in containers too), or null.</summary>
    public static int? InterfaceIndex(string name)
    {
        try
        {
            return int.Parse(File.ReadAllText($"/sys/class/net/{name}/ifindex").Trim(), System.Globalization.CultureInfo.InvariantCulture);
        }
        catch (Exception e) when (e is IOException or FormatException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}
