using System.Collections.Concurrent;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace ActorCluster.Proxy.Linux;

/// <summary>
/// Which node's listener takes a ClusterIP connection. Every node binds every clusterIP:port with SO_REUSEPORT; by
/// default the kernel picks a socket of the group by a hash of the whole 4-tuple, so one client's connections land on
/// different nodes, each with its own affinity memory, and sessionAffinity: ClientIP would not hold. This attaches a
/// BPF program to the group that picks the socket by the client's address alone (source IPv4 modulo the number of
/// nodes): one client, one node, as in Kubernetes where a client's own node's kube-proxy serves it. An index past the
/// group's size (a node not bound yet, or gone) falls back to the kernel's hash.
/// <para>
/// The program is loaded once per group size with bpf(2) and every group shares it by file descriptor
/// (SO_ATTACH_REUSEPORT_EBPF). Attaching a classic program instead makes the kernel translate and JIT-compile it on
/// every attach, and with one group per ClusterIP port that compile was the largest cost of creating a Service
/// (measured in docs/benchmarks.md). Where bpf(2) is not allowed (no CAP_BPF), the classic program is attached.
/// </para>
/// </summary>
internal static unsafe class ReusePortSteering
{
    private const int SO_ATTACH_REUSEPORT_CBPF = 51;
    private const int SO_ATTACH_REUSEPORT_EBPF = 52;
    private const uint NetworkHeader = 0xFFF00000; // SKF_NET_OFF: offsets from the IP header, not the transport's
    private const int SourceAddressOffset = 12; // of the IPv4 header

    /// <summary>Group size -> the loaded program's fd (kept for the process's life), or -1 where bpf(2) refused.</summary>
    private static readonly ConcurrentDictionary<int, int> Programs = new();

    /// <summary>Whether the program for this group size was loaded with bpf(2), to be shared (false: classic per attach).</summary>
    internal static bool IsShared(int groupSize) => Programs.TryGetValue(groupSize, out var fd) && fd >= 0;

    /// <summary>Steers the socket's reuseport group by source address over <paramref name="groupSize"/> sockets.</summary>
    /// <returns>false where the kernel refuses the program (the kernel's 4-tuple hash stays)</returns>
    public static bool BySourceAddress(Socket socket, int groupSize)
    {
        groupSize = Math.Max(1, groupSize);
        var fd = (int)socket.SafeHandle.DangerousGetHandle();
        var program = Programs.GetOrAdd(groupSize, LoadProgram);
        if (program >= 0 && Native.setsockopt(fd, Native.SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF, &program, sizeof(int)) == 0) return true;
        return AttachClassic(fd, groupSize);
    }

    // struct sock_filter { u16 code; u8 jt; u8 jf; u32 k; }
    private struct SockFilter
    {
        public ushort Code;
        public ushort Jumps; // jt, jf: this program has none
        public uint K;
    }

    // struct sock_fprog { unsigned short len; struct sock_filter *filter; }
    private struct SockFprog
    {
        public ushort Length;
        public SockFilter* Filter;
    }

    private static bool AttachClassic(int fd, int groupSize)
    {
        var program = stackalloc SockFilter[3];
        // No jumps: jt and jf stay 0.
        program[0] = new SockFilter { Code = 0x20, Jumps = 0, K = NetworkHeader + SourceAddressOffset }; // BPF_LD|BPF_W|BPF_ABS: A = IPv4 source
        program[1] = new SockFilter { Code = 0x94, Jumps = 0, K = (uint)groupSize }; // BPF_ALU|BPF_MOD|BPF_K: A %= nodes
        program[2] = new SockFilter { Code = 0x16, Jumps = 0, K = 0 }; // BPF_RET|BPF_A: the index of the socket in the group
        var fprog = new SockFprog { Length = 3, Filter = program };
        return Native.setsockopt(fd, Native.SOL_SOCKET, SO_ATTACH_REUSEPORT_CBPF, &fprog, sizeof(SockFprog)) == 0;
    }

    // struct bpf_insn { u8 code; u8 dst_reg:4, src_reg:4; s16 off; s32 imm; }
    [StructLayout(LayoutKind.Sequential)]
    private struct BpfInstruction
    {
        public byte Code;
        public byte Registers;
        public short Offset;
        public int Immediate;
    }

    /// <summary>The same program as <see cref="AttachClassic"/>, in eBPF, loaded as a socket filter.</summary>
    private static int LoadProgram(int groupSize)
    {
        long bpfSyscall = RuntimeInformation.ProcessArchitecture switch
        {
            Architecture.X64 => 321,
            Architecture.Arm64 => 280,
            _ => -1,
        };
        if (bpfSyscall < 0) return -1;
        var program = stackalloc BpfInstruction[4];
        program[0] = new BpfInstruction { Code = 0xbf, Registers = 0x16 }; // BPF_ALU64|BPF_MOV|BPF_X: r6 = r1 (LD_ABS reads the packet via r6)
        program[1] = new BpfInstruction { Code = 0x20, Immediate = unchecked((int)(NetworkHeader + SourceAddressOffset)) }; // BPF_LD|BPF_W|BPF_ABS: r0 = IPv4 source
        program[2] = new BpfInstruction { Code = 0x94, Immediate = groupSize }; // BPF_ALU|BPF_MOD|BPF_K: r0 %= nodes
        program[3] = new BpfInstruction { Code = 0x95 }; // BPF_JMP|BPF_EXIT: the index of the socket in the group
        var license = stackalloc byte[] { (byte)'G', (byte)'P', (byte)'L', 0 }; // the kernel asks; no GPL-only helper is used
        // union bpf_attr for BPF_PROG_LOAD: prog_type, insn_cnt, insns, license; the rest zero.
        var attr = stackalloc byte[128];
        new Span<byte>(attr, 128).Clear();
        *(uint*)attr = 1; // BPF_PROG_TYPE_SOCKET_FILTER
        *(uint*)(attr + 4) = 4;
        *(ulong*)(attr + 8) = (ulong)program;
        *(ulong*)(attr + 16) = (ulong)license;
        const long BpfProgLoad = 5;
        var fd = Native.syscall(bpfSyscall, BpfProgLoad, attr, 128);
        return fd < 0 ? -1 : (int)fd; // the kernel opens it close-on-exec
    }
}
