using System.Buffers.Binary;
using System.Globalization;

namespace ActorCluster.Proxy.Linux;

/// <summary>
/// Lets the kernel deliver packets that arrive from other hosts to a loopback address after DNAT
/// (<c>net.ipv4.conf.&lt;interface&gt;.route_localnet</c>): the kernel path needs it where pods and tunnel stand-ins live
/// on the host's loopback and clients are elsewhere, as kube-proxy sets it for localhost NodePorts. Set over rtnetlink
/// (RTM_SETLINK with IFLA_INET_CONF) rather than /proc/sys, which a container sees read-only even with CAP_NET_ADMIN;
/// per interface, since "all" has no netlink handle (the kernel ORs the two). Packets to 127.0.0.0/8 that arrive from
/// outside without having been DNATed are dropped by the node's table (the guard kube-proxy adds with it).
/// </summary>
internal static unsafe class RouteLocalnet
{
    private const int AF_NETLINK = 16, SOCK_RAW = 3, NETLINK_ROUTE = 0;
    private const ushort RTM_SETLINK = 19, NLMSG_ERROR = 2, NLM_F_REQUEST = 1, NLM_F_ACK = 4;
    private const ushort IFLA_AF_SPEC = 26, AF_INET = 2, IFLA_INET_CONF = 1, IPV4_DEVCONF_ROUTE_LOCALNET = 26;
    private const int SO_RCVTIMEO = 20;

    /// <summary>Every interface but loopback, by name and index (from /sys/class/net, readable in containers too).</summary>
    public static IReadOnlyList<(string Name, int Index)> Interfaces()
    {
        var found = new List<(string, int)>();
        foreach (var dir in Directory.Exists("/sys/class/net") ? Directory.GetDirectories("/sys/class/net") : [])
        {
            var name = Path.GetFileName(dir);
            if (name == "lo") continue;
            try
            {
                found.Add((name, int.Parse(File.ReadAllText(Path.Combine(dir, "ifindex")).Trim(), CultureInfo.InvariantCulture)));
            }
            catch (Exception e) when (e is IOException or FormatException or UnauthorizedAccessException)
            {
                // gone since the listing, or not an interface
            }
        }
        return found;
    }

    /// <summary>Sets route_localnet on every interface but loopback; null when done, else what failed.</summary>
    public static string? EnableEverywhere()
    {
        var failed = new List<string>();
        foreach (var (name, index) in Interfaces())
        {
            if (Enable(index) is { } error) failed.Add($"{name}: {error}");
        }
        return failed.Count == 0 ? null : string.Join("; ", failed);
    }

    /// <summary>One RTM_SETLINK for the interface, answered by the kernel's ack; null on success, else the error.</summary>
    private static string? Enable(int ifindex)
    {
        // nlmsghdr (16) + ifinfomsg (16) + IFLA_AF_SPEC { AF_INET { IFLA_INET_CONF { ROUTE_LOCALNET: u32 1 } } } (20)
        Span<byte> message = stackalloc byte[52];
        message.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(message, 52);
        BinaryPrimitives.WriteUInt16LittleEndian(message[4..], RTM_SETLINK);
        BinaryPrimitives.WriteUInt16LittleEndian(message[6..], NLM_F_REQUEST | NLM_F_ACK);
        BinaryPrimitives.WriteUInt32LittleEndian(message[8..], 1); // sequence number
        BinaryPrimitives.WriteInt32LittleEndian(message[20..], ifindex); // ifinfomsg: family 0, type 0, index
        Attribute(message[32..], 20, IFLA_AF_SPEC);
        Attribute(message[36..], 16, AF_INET);
        Attribute(message[40..], 12, IFLA_INET_CONF);
        Attribute(message[44..], 8, IPV4_DEVCONF_ROUTE_LOCALNET);
        BinaryPrimitives.WriteUInt32LittleEndian(message[48..], 1);

        var fd = Native.socket(AF_NETLINK, SOCK_RAW | Native.SOCK_CLOEXEC, NETLINK_ROUTE);
        if (fd < 0) return $"netlink socket: errno {Native.Errno}";
        try
        {
            // The kernel answers at once; the bound only guards against a kernel that never does.
            var timeout = stackalloc long[2] { 5, 0 };
            Native.setsockopt(fd, Native.SOL_SOCKET, SO_RCVTIMEO, timeout, 16);
            fixed (byte* p = message)
            {
                if (Native.send(fd, p, (nuint)message.Length, 0) != message.Length) return $"netlink send: errno {Native.Errno}";
            }
            Span<byte> answer = stackalloc byte[512];
            nint n;
            fixed (byte* p = answer) n = Native.recv(fd, p, (nuint)answer.Length, 0);
            if (n < 20 || BinaryPrimitives.ReadUInt16LittleEndian(answer[4..]) != NLMSG_ERROR) return $"netlink: no acknowledgement (errno {Native.Errno})";
            var error = BinaryPrimitives.ReadInt32LittleEndian(answer[16..]);
            return error == 0 ? null : $"netlink: errno {-error}";
        }
        finally
        {
            Native.close(fd);
        }
    }

    private static void Attribute(Span<byte> at, ushort length, ushort type)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(at, length);
        BinaryPrimitives.WriteUInt16LittleEndian(at[2..], type);
    }
}
