using System.Net.Sockets;

namespace ActorCluster.Proxy.Linux;

/// <summary>
/// Which node's listener takes a ClusterIP connection. Every node binds every clusterIP:port with SO_REUSEPORT; by
/// default the kernel picks a socket of the group by a hash of the whole 4-tuple, so one client's connections land on
/// different nodes, each with its own affinity memory, and sessionAffinity: ClientIP would not hold. This attaches a
/// classic BPF program to the group that picks the socket by the client's address alone (source IPv4 modulo the
/// number of nodes): one client, one node, as in Kubernetes where a client's own node's kube-proxy serves it. An
/// index past the group's size (a node not bound yet, or gone) falls back to the kernel's hash.
/// </summary>
internal static unsafe class ReusePortSteering
{
    private const int SO_ATTACH_REUSEPORT_CBPF = 51;

    // struct sock_filter { u16 code; u8 jt; u8 jf; u32 k; }
    private struct SockFilter
    {
        public ushort Code;
        public byte Jt;
        public byte Jf;
        public uint K;
    }

    // struct sock_fprog { unsigned short len; struct sock_filter *filter; }
    private struct SockFprog
    {
        public ushort Length;
        public SockFilter* Filter;
    }

    private const ushort LoadWordAbsolute = 0x20; // BPF_LD | BPF_W | BPF_ABS
    private const ushort ModuloConstant = 0x94; // BPF_ALU | BPF_MOD | BPF_K
    private const ushort ReturnA = 0x16; // BPF_RET | BPF_A
    private const uint NetworkHeader = 0xFFF00000; // SKF_NET_OFF: offsets from the IP header, not the transport's

    /// <summary>Steers the socket's reuseport group by source address over <paramref name="groupSize"/> sockets.</summary>
    /// <returns>false where the kernel refuses the program (the kernel's 4-tuple hash stays)</returns>
    public static bool BySourceAddress(Socket socket, int groupSize)
    {
        var program = stackalloc SockFilter[3];
        // No jumps: jt and jf stay 0.
        program[0] = new SockFilter { Code = LoadWordAbsolute, Jt = 0, Jf = 0, K = NetworkHeader + 12 }; // A = IPv4 source
        program[1] = new SockFilter { Code = ModuloConstant, Jt = 0, Jf = 0, K = (uint)Math.Max(1, groupSize) }; // A %= nodes
        program[2] = new SockFilter { Code = ReturnA, Jt = 0, Jf = 0, K = 0 }; // the index of the socket in the group
        var fprog = new SockFprog { Length = 3, Filter = program };
        var fd = (int)socket.SafeHandle.DangerousGetHandle();
        return Native.setsockopt(fd, Native.SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &fprog, sizeof(SockFprog)) == 0;
    }
}
