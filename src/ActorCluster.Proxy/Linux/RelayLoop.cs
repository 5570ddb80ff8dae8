using System.Collections.Concurrent;
using System.Runtime.InteropServices;

namespace ActorCluster.Proxy.Linux;

/// <summary>
/// One relay thread with its own epoll instance; there is one per core, shared by every TCP service listener of the
/// process. Each listening socket is in every loop (EPOLLEXCLUSIVE, so a new connection wakes one loop); a connection
/// then lives on one loop (the least busy when it arrived), which alone touches its state, so nothing is locked. The loop does what
/// HAProxy's threads do: accept, route, non-blocking connect, then copy with recv/send as the sockets become ready.
/// Why not .NET's async sockets here: per connection they cost twice the system calls and hop between the socket
/// engine and the thread pool (measured in docs/benchmarks.md); this path makes no allocation per byte relayed.
/// </summary>
internal sealed class RelayLoop
{
    private const int MaxEvents = 256;
    private const int AcceptBatch = 64;
    private const int PooledBuffers = 1024;
    private const int PauseMs = 100;
    internal const int BufferSize = 32 * 1024;

    // epoll data: kind in the top 2 bits, a slot's generation in the next 30, the slot (or listener id) in the low 32.
    private const ulong KindWake = 0;
    private const ulong KindListener = 1;
    internal const ulong KindClient = 2;
    internal const ulong KindUpstream = 3;
    private const uint GenerationMask = (1u << 30) - 1;

    private static readonly ConcurrentDictionary<int, ServiceListener> Listeners = new();
    private static readonly Lazy<RelayLoop[]> Loops = new(() =>
        Enumerable.Range(0, Math.Max(1, Environment.ProcessorCount)).Select(i => new RelayLoop(i)).ToArray());

    private readonly int _wake;
    private readonly ConcurrentQueue<Action> _commands = new();
    private readonly List<RelayConnection?> _slots = [];
    private readonly List<uint> _generations = [];
    private readonly Stack<int> _freeSlots = new();
    private readonly Stack<byte[]> _buffers = new();
    // Pending dial deadlines, one queue per dial timeout and one for tunnel handshakes: within a queue deadlines only
    // grow, so the head is the next.
    private readonly Queue<Deadline>[] _deadlines;
    private int _wakePending;
    private int _connections; // open on this loop, or handed to it and not yet adopted
    private readonly List<(ServiceListener Listener, long Due)> _paused = []; // listeners not watched for a moment

    private readonly record struct Deadline(int Slot, uint Generation, uint Serial, long Due);

    private RelayLoop(int index)
    {
        Epoll = Native.epoll_create1(Native.EPOLL_CLOEXEC);
        _wake = Native.eventfd(0, Native.EFD_NONBLOCK | Native.EFD_CLOEXEC);
        if (Epoll < 0 || _wake < 0 || Native.EpollAdd(Epoll, _wake, Native.EPOLLIN, KindWake << 62) != 0)
            throw new InvalidOperationException($"relay loop: epoll setup failed (errno {Native.Errno})");
        _deadlines = ServiceListener.DialTimeouts.Append(ServiceListener.TunnelHandshakeTimeout).Select(_ => new Queue<Deadline>()).ToArray();
        new Thread(Run) { IsBackground = true, Name = $"relay-loop-{index}" }.Start();
    }

    internal int Epoll { get; }

    /// <summary>Starts accepting on a bound, listening socket in every loop.</summary>
    public static void Attach(ServiceListener listener)
    {
        Listeners[listener.Id] = listener;
        foreach (var loop in Loops.Value)
        {
            if (Native.EpollAdd(loop.Epoll, listener.Fd, Native.EPOLLIN | Native.EPOLLEXCLUSIVE, (KindListener << 62) | (uint)listener.Id) == 0) continue;
            // Out of epoll watches or memory (ENOSPC, ENOMEM): reported like a port that cannot be bound, and retried.
            Listeners.TryRemove(listener.Id, out _);
            foreach (var other in Loops.Value) Native.EpollDelete(other.Epoll, listener.Fd);
            throw new System.Net.Sockets.SocketException((int)System.Net.Sockets.SocketError.NoBufferSpaceAvailable);
        }
    }

    /// <summary>
    /// Stops accepting on the socket and closes its connections. When this completes no loop touches the socket any
    /// more, so it can be closed.
    /// </summary>
    public static async Task DetachAsync(ServiceListener listener)
    {
        listener.Detached = true;
        Listeners.TryRemove(listener.Id, out _);
        var loops = Loops.Value;
        foreach (var loop in loops) Native.EpollDelete(loop.Epoll, listener.Fd);
        // A loop may be in the middle of a batch that still accepts on it: it runs commands only after the batch.
        await Task.WhenAll(loops.Select(loop =>
        {
            var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
            loop.Post(() =>
            {
                loop.CloseConnectionsOf(listener);
                done.SetResult();
            });
            return done.Task;
        })).ConfigureAwait(false);
    }

    private unsafe void Post(Action command)
    {
        _commands.Enqueue(command);
        if (Interlocked.Exchange(ref _wakePending, 1) == 0)
        {
            ulong one = 1;
            Native.write(_wake, (byte*)&one, sizeof(ulong));
        }
    }

    private unsafe void Run()
    {
        var events = (byte*)NativeMemory.Alloc((nuint)(MaxEvents * Native.EpollEventSize));
        while (true)
        {
            var n = Native.epoll_wait(Epoll, events, MaxEvents, NextTimeoutMs());
            if (n < 0)
            {
                if (Native.Errno == Native.EINTR) continue;
                Environment.FailFast($"relay loop: epoll_wait failed (errno {Native.Errno})");
            }
            for (var i = 0; i < n; i++)
            {
                var data = Native.EventData(events, i);
                var mask = Native.EventMask(events, i);
                switch (data >> 62)
                {
                    case KindWake:
                        ulong value;
                        Native.read(_wake, (byte*)&value, sizeof(ulong));
                        Volatile.Write(ref _wakePending, 0);
                        break;
                    case KindListener:
                        if (Listeners.TryGetValue((int)(uint)data, out var listener)) Accept(listener);
                        break;
                    default:
                        var slot = (int)(uint)data;
                        var connection = _slots[slot];
                        if (connection is null || _generations[slot] != (uint)((data >> 32) & GenerationMask)) break; // closed since
                        try
                        {
                            connection.OnEvent(data >> 62 == KindUpstream, mask);
                        }
                        catch (Exception e)
                        {
                            Fault(connection, e);
                        }
                        break;
                }
            }
            ExpireDeadlines();
            if (_paused.Count > 0) ResumePaused();
            while (_commands.TryDequeue(out var command)) command();
        }
    }

    private unsafe void Accept(ServiceListener listener)
    {
        var address = stackalloc byte[16];
        for (var i = 0; i < AcceptBatch; i++)
        {
            var length = 16;
            var fd = Native.accept4(listener.Fd, address, &length, Native.SOCK_NONBLOCK | Native.SOCK_CLOEXEC);
            if (fd < 0)
            {
                var errno = Native.Errno;
                if (errno == Native.EAGAIN) return;
                if (errno is Native.EINTR or Native.ECONNABORTED) continue;
                // Out of descriptors or memory: the pending connection stays queued and the socket readable, so
                // waiting on it would spin. Stop watching it here for a moment (HAProxy pauses its listeners too).
                if (errno is Native.EMFILE or Native.ENFILE or Native.ENOBUFS or Native.ENOMEM) Pause(listener);
                return; // otherwise the socket is going away
            }
            Interlocked.Increment(ref listener.Stats.Connections);
            var clientAddress = new System.Net.IPAddress(new ReadOnlySpan<byte>(address + 4, 4));
            var clientPort = (address[2] << 8) | address[3];
            // The loop that wakes first takes a whole burst of connections (a client opening 64 at once): hand the
            // connection to the least busy loop when this one already has more, so every core carries its share.
            var owner = LeastBusy();
            Interlocked.Increment(ref owner._connections);
            if (owner == this) Adopt(listener, fd, clientAddress, clientPort);
            else owner.Post(() => owner.Adopt(listener, fd, clientAddress, clientPort));
        }
    }

    private void Pause(ServiceListener listener)
    {
        Native.EpollDelete(Epoll, listener.Fd);
        _paused.Add((listener, Environment.TickCount64 + PauseMs));
    }

    private void ResumePaused()
    {
        var now = Environment.TickCount64;
        for (var i = _paused.Count - 1; i >= 0; i--)
        {
            var (listener, due) = _paused[i];
            if (due > now) continue;
            _paused.RemoveAt(i);
            if (!listener.Detached) Native.EpollAdd(Epoll, listener.Fd, Native.EPOLLIN | Native.EPOLLEXCLUSIVE, (KindListener << 62) | (uint)listener.Id);
        }
    }

    private RelayLoop LeastBusy()
    {
        var least = this;
        foreach (var loop in Loops.Value)
        {
            if (Volatile.Read(ref loop._connections) < Volatile.Read(ref least._connections)) least = loop;
        }
        return Volatile.Read(ref _connections) <= Volatile.Read(ref least._connections) ? this : least;
    }

    private void Adopt(ServiceListener listener, int fd, System.Net.IPAddress clientAddress, int clientPort)
    {
        if (listener.Detached)
        {
            // Handed over while the listener was being stopped, after this loop closed its connections.
            Native.close(fd);
            Interlocked.Decrement(ref _connections);
            return;
        }
        var connection = new RelayConnection(this, listener, fd, clientAddress, clientPort);
        Add(connection);
        try
        {
            connection.Start();
        }
        catch (Exception e)
        {
            Fault(connection, e);
        }
    }

    private static void Fault(RelayConnection connection, Exception e)
    {
        Console.Error.WriteLine($"relay loop: connection to {connection.Listener.EndPoint} failed: {e}");
        connection.Close();
    }

    private void Add(RelayConnection connection)
    {
        if (!_freeSlots.TryPop(out var slot))
        {
            slot = _slots.Count;
            _slots.Add(null);
            _generations.Add(0);
        }
        _slots[slot] = connection;
        connection.Slot = slot;
        connection.Generation = _generations[slot];
    }

    /// <summary>Frees a connection's slot; events still queued for it are recognised as stale by the generation.</summary>
    internal void Remove(RelayConnection connection)
    {
        var slot = connection.Slot;
        _slots[slot] = null;
        _generations[slot] = (_generations[slot] + 1) & GenerationMask;
        _freeSlots.Push(slot);
        Interlocked.Decrement(ref _connections);
    }

    internal ulong EventData(RelayConnection connection, ulong kind) =>
        (kind << 62) | ((ulong)connection.Generation << 32) | (uint)connection.Slot;

    internal void AddDeadline(RelayConnection connection, int attempt, uint serial) =>
        _deadlines[attempt].Enqueue(new Deadline(connection.Slot, connection.Generation, serial, Environment.TickCount64 + (long)ServiceListener.DialTimeouts[attempt].TotalMilliseconds));

    internal void AddTunnelHandshakeDeadline(RelayConnection connection, uint serial) =>
        _deadlines[^1].Enqueue(new Deadline(connection.Slot, connection.Generation, serial, Environment.TickCount64 + (long)ServiceListener.TunnelHandshakeTimeout.TotalMilliseconds));

    private void ExpireDeadlines()
    {
        var now = Environment.TickCount64;
        foreach (var queue in _deadlines)
        {
            while (queue.TryPeek(out var d) && d.Due <= now)
            {
                queue.Dequeue();
                var connection = _slots[d.Slot];
                if (connection is not null && _generations[d.Slot] == d.Generation && connection.Serial == d.Serial && connection.IsDialing)
                {
                    try
                    {
                        connection.DialFailed();
                    }
                    catch (Exception e)
                    {
                        Fault(connection, e);
                    }
                }
            }
        }
    }

    private int NextTimeoutMs()
    {
        var next = long.MaxValue;
        foreach (var queue in _deadlines)
        {
            if (queue.TryPeek(out var d)) next = Math.Min(next, d.Due);
        }
        foreach (var (_, due) in _paused) next = Math.Min(next, due);
        return next == long.MaxValue ? -1 : (int)Math.Clamp(next - Environment.TickCount64, 0, int.MaxValue);
    }

    private void CloseConnectionsOf(ServiceListener listener)
    {
        foreach (var connection in _slots.ToArray())
        {
            if (connection?.Listener == listener) connection.Close();
        }
    }

    internal byte[] RentBuffer() => _buffers.TryPop(out var b) ? b : GC.AllocateUninitializedArray<byte>(BufferSize, pinned: true);

    internal void ReturnBuffer(byte[] buffer)
    {
        if (_buffers.Count < PooledBuffers) _buffers.Push(buffer);
    }
}
