using System.Net;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace ActorCluster.Proxy.Linux;

/// <summary>
/// The Linux calls the relay loops make directly (libc): epoll, non-blocking accept/connect, recv/send, close. Only
/// plain integers and pointers cross, so no marshalling happens on the hot path.
/// </summary>
internal static unsafe partial class Native
{
    public const int EINTR = 4;
    public const int EAGAIN = 11;
    public const int EINPROGRESS = 115;
    public const int ENOMEM = 12;
    public const int ENFILE = 23;
    public const int EMFILE = 24;
    public const int ENOBUFS = 105;
    public const int ECONNABORTED = 103;

    public const int AF_INET = 2;
    public const int SOCK_STREAM = 1;
    public const int SOCK_NONBLOCK = 0x800;
    public const int SOCK_CLOEXEC = 0x80000;
    public const int SOL_SOCKET = 1;
    public const int SO_ERROR = 4;
    public const int SO_LINGER = 13;
    public const int IPPROTO_IP = 0;
    public const int IPPROTO_TCP = 6;
    public const int TCP_NODELAY = 1;
    public const int IP_BIND_ADDRESS_NO_PORT = 24;
    public const int SHUT_WR = 1;
    public const int MSG_NOSIGNAL = 0x4000;

    public const uint EPOLLIN = 0x1;
    public const uint EPOLLOUT = 0x4;
    public const uint EPOLLERR = 0x8;
    public const uint EPOLLHUP = 0x10;
    public const uint EPOLLRDHUP = 0x2000;
    public const uint EPOLLEXCLUSIVE = 1u << 28;
    public const uint EPOLLET = 1u << 31;
    public const int EPOLL_CTL_ADD = 1;
    public const int EPOLL_CTL_DEL = 2;
    public const int EPOLL_CLOEXEC = 0x80000;
    public const int EFD_NONBLOCK = 0x800;
    public const int EFD_CLOEXEC = 0x80000;

    /// <summary>struct epoll_event is packed on x86-64 (12 bytes) and naturally aligned elsewhere (16 bytes).</summary>
    public static readonly int EpollEventSize = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 12 : 16;

    private static readonly int EpollDataOffset = RuntimeInformation.ProcessArchitecture == Architecture.X64 ? 4 : 8;

    [LibraryImport("libc", SetLastError = true)]
    public static partial int epoll_create1(int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int epoll_ctl(int epfd, int op, int fd, byte* ev);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int epoll_wait(int epfd, byte* events, int maxevents, int timeout);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int eventfd(uint initval, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint read(int fd, byte* buf, nuint count);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint write(int fd, byte* buf, nuint count);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int accept4(int fd, byte* addr, int* addrlen, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int socket(int domain, int type, int protocol);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int setsockopt(int fd, int level, int name, void* value, int length);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int getsockopt(int fd, int level, int name, void* value, int* length);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int bind(int fd, byte* addr, int addrlen);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int connect(int fd, byte* addr, int addrlen);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint recv(int fd, byte* buf, nuint len, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint send(int fd, byte* buf, nuint len, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int shutdown(int fd, int how);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int close(int fd);

    /// <summary>The raw system call, for bpf(2), which libc does not wrap.</summary>
    [LibraryImport("libc", SetLastError = true)]
    public static partial long syscall(long number, long arg1, void* arg2, long arg3);

    public static int Errno => Marshal.GetLastPInvokeError();

    public static int EpollAdd(int epfd, int fd, uint events, ulong data)
    {
        var ev = stackalloc byte[16];
        Unsafe.WriteUnaligned(ev, events);
        Unsafe.WriteUnaligned(ev + EpollDataOffset, data);
        return epoll_ctl(epfd, EPOLL_CTL_ADD, fd, ev);
    }

    public static int EpollDelete(int epfd, int fd)
    {
        var ev = stackalloc byte[16];
        return epoll_ctl(epfd, EPOLL_CTL_DEL, fd, ev);
    }

    public static uint EventMask(byte* events, int i) => Unsafe.ReadUnaligned<uint>(events + i * EpollEventSize);

    public static ulong EventData(byte* events, int i) => Unsafe.ReadUnaligned<ulong>(events + i * EpollEventSize + EpollDataOffset);

    public static int SetInt(int fd, int level, int name, int value) => setsockopt(fd, level, name, &value, sizeof(int));

    /// <summary>Writes a struct sockaddr_in (16 bytes) for an IPv4 address and port.</summary>
    public static void WriteSockaddr(byte* sa, IPAddress address, int port)
    {
        new Span<byte>(sa, 16).Clear();
        *(ushort*)sa = AF_INET;
        sa[2] = (byte)(port >> 8);
        sa[3] = (byte)port;
        (address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address).TryWriteBytes(new Span<byte>(sa + 4, 4), out _);
    }

    /// <summary>Closes with RST instead of FIN (SO_LINGER 0): the client learns at once that there is no service.</summary>
    public static void CloseWithReset(int fd)
    {
        var linger = stackalloc int[2] { 1, 0 };
        setsockopt(fd, SOL_SOCKET, SO_LINGER, linger, 2 * sizeof(int));
        close(fd);
    }
}
