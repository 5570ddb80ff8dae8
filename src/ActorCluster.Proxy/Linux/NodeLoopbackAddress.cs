using System.Buffers.Binary;
using System.Net;
using System.Text;

namespace ActorCluster.Proxy.Linux;

/// <summary>
/// Gives a local-cluster node's loopback address (127.0.1.x) to the <c>lo</c> interface as a /32 of its own, as a real
/// node's address sits on its interface. Without it the address is only covered by 127.0.0.0/8, whose route names
/// 127.0.0.1 as the source, so a client on the machine calling the node's NodePort comes from 127.0.0.1 and the
/// masquerade under Cluster must rewrite every packet of the connection (and re-route each one). With it the kernel
/// picks the node's own address as the source, as it does on a real node, and the SNAT to the node has nothing to
/// change. Labelled <c>lo:actorcluster</c>, so that removing it never touches an address someone else gave.
/// </summary>
internal static class NodeLoopbackAddress
{
    public const string Label = "lo:actorcluster"; // 15 characters: the kernel's limit (IFNAMSIZ - 1)
    private const ushort RTM_NEWADDR = 20, RTM_DELADDR = 21, IFA_ADDRESS = 1, IFA_LOCAL = 2, IFA_LABEL = 3;
    private const byte AF_INET = 2, RT_SCOPE_HOST = 254;
    private const int EEXIST = 17, ENODEV = 19;

    /// <summary>
    /// Whether the node address is one to give to lo: a loopback address other than 127.0.0.1 (which lo has as its
    /// /8). Other addresses are a real interface's already.
    /// </summary>
    public static bool Applies(IPAddress address) =>
        address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && IPAddress.IsLoopback(address) && !address.Equals(IPAddress.Loopback);

    /// <summary>
    /// Adds the address to lo (after removing one a previous incarnation of the node left). True when this call added
    /// it; false when lo already had it from someone else (left alone, and not removed later); an error otherwise.
    /// </summary>
    public static (bool Added, string? Error) Assign(IPAddress address)
    {
        Remove(address);
        var errno = Send(RTM_NEWADDR, Rtnetlink.NLM_F_CREATE | Rtnetlink.NLM_F_EXCL, address);
        return errno switch
        {
            0 => (true, null),
            EEXIST => (false, null),
            _ => (false, $"netlink errno {errno}"),
        };
    }

    /// <summary>Removes the address from lo if ActorCluster gave it (the label must match); true when it was there.</summary>
    public static bool Remove(IPAddress address) => Send(RTM_DELADDR, 0, address) == 0;

    private static int Send(ushort type, ushort flags, IPAddress address)
    {
        if (Rtnetlink.InterfaceIndex("lo") is not { } lo) return ENODEV;
        // nlmsghdr (16) + ifaddrmsg (8) + IFA_LOCAL (8) + IFA_ADDRESS (8) + IFA_LABEL (4 + 16: the label and its NUL)
        Span<byte> message = stackalloc byte[60];
        message.Clear();
        Rtnetlink.Header(message, type, flags);
        var ifaddrmsg = message[Rtnetlink.HeaderLength..];
        ifaddrmsg[0] = AF_INET;
        ifaddrmsg[1] = 32; // prefix length
        ifaddrmsg[3] = RT_SCOPE_HOST;
        BinaryPrimitives.WriteInt32LittleEndian(ifaddrmsg[4..], lo);
        var bytes = address.GetAddressBytes();
        Rtnetlink.Attribute(message[24..], 8, IFA_LOCAL);
        bytes.CopyTo(message[28..]);
        Rtnetlink.Attribute(message[32..], 8, IFA_ADDRESS);
        bytes.CopyTo(message[36..]);
        Rtnetlink.Attribute(message[40..], 20, IFA_LABEL);
        Encoding.ASCII.GetBytes(Label).CopyTo(message[44..]);
        return Rtnetlink.Request(message);
    }
}
