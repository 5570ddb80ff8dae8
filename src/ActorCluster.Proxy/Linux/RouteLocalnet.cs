using System.Buffers.Binary;

namespace ActorCluster.Proxy.Linux;

/// <summary>
/// Lets the kernel deliver packets that arrive from other hosts to a loopback address after DNAT
/// (<c>net.ipv4.conf.&lt;interface&gt;.route_localnet</c>): the kernel path needs it where pods and tunnel stand-ins live
/// on the host's loopback and clients are elsewhere, as kube-proxy sets it for localhost NodePorts. Set over rtnetlink
/// (RTM_SETLINK with IFLA_INET_CONF) rather than /proc/sys, which a container sees read-only even with CAP_NET_ADMIN;
/// per interface, since "all" has no netlink handle (the kernel ORs the two). Packets to 127.0.0.0/8 that arrive from
/// outside without having been DNATed are dropped by the node's table (the guard kube-proxy adds with it).
/// </summary>
internal static class RouteLocalnet
{
    private const ushort RTM_SETLINK = 19, IFLA_AF_SPEC = 26, AF_INET = 2, IFLA_INET_CONF = 1, IPV4_DEVCONF_ROUTE_LOCALNET = 26;

    /// <summary>Every interface but loopback, by name and index.</summary>
    public static IReadOnlyList<(string Name, int Index)> Interfaces()
    {
        var found = new List<(string, int)>();
        foreach (var dir in Directory.Exists("/sys/class/net") ? Directory.GetDirectories("/sys/class/net") : [])
        {
            var name = Path.GetFileName(dir);
            // gone since the listing, or not an interface: no index
            if (name != "lo" && Rtnetlink.InterfaceIndex(name) is { } index) found.Add((name, index));
        }
        return found;
    }

    /// <summary>Sets route_localnet on every interface but loopback; null when done, else what failed.</summary>
    public static string? EnableEverywhere()
    {
        var failed = new List<string>();
        foreach (var (name, index) in Interfaces())
        {
            if (Enable(index) is var errno and not 0) failed.Add($"{name}: netlink errno {errno}");
        }
        return failed.Count == 0 ? null : string.Join("; ", failed);
    }

    /// <summary>One RTM_SETLINK for the interface; 0 when the kernel acknowledged it, else the errno.</summary>
    private static int Enable(int ifindex)
    {
        // nlmsghdr (16) + ifinfomsg (16) + IFLA_AF_SPEC { AF_INET { IFLA_INET_CONF { ROUTE_LOCALNET: u32 1 } } } (20)
        Span<byte> message = stackalloc byte[52];
        message.Clear();
        Rtnetlink.Header(message, RTM_SETLINK, 0);
        BinaryPrimitives.WriteInt32LittleEndian(message[20..], ifindex); // ifinfomsg: family 0, type 0, index
        Rtnetlink.Attribute(message[32..], 20, IFLA_AF_SPEC);
        Rtnetlink.Attribute(message[36..], 16, AF_INET);
        Rtnetlink.Attribute(message[40..], 12, IFLA_INET_CONF);
        Rtnetlink.Attribute(message[44..], 8, IPV4_DEVCONF_ROUTE_LOCALNET);
        BinaryPrimitives.WriteUInt32LittleEndian(message[48..], 1);
        return Rtnetlink.Request(message);
    }
}
