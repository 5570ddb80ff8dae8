using System.Collections.Concurrent;

namespace ActorCluster.Core.Routing;

/// <summary>
/// ClientIP affinity of one Service port on one node: client address -> the endpoint it sticks to. Safe for the
/// relay loops to share. Bounded the way the kernel bounds kube-proxy's memory of it: an entry idle for longer
/// than the Service's timeout is forgotten (the nftables set's element timeout), and a full memory takes no new
/// client (a full dynamic set adds no element: that client is routed, just not remembered) until sweeping frees room.
/// </summary>
public sealed class AffinityMemory(int capacity = AffinityMemory.DefaultCapacity)
{
    /// <summary>nftables' default size of a dynamic set, which kube-proxy's affinity sets use.</summary>
    public const int DefaultCapacity = 65535;

    private static readonly TimeSpan MaxSweepInterval = TimeSpan.FromSeconds(60);
    private readonly ConcurrentDictionary<string, AffinityEntry> _entries = new();
    private int _count;
    private long _nextSweepTicks;

    /// <summary>Entries held now (expired ones included until the next sweep).</summary>
    public int Count => Volatile.Read(ref _count);

    public AffinityEntry? Get(string client) => _entries.TryGetValue(client, out var entry) ? entry : null;

    /// <summary>
    /// Remembers (or refreshes) a client's endpoint. Expired entries are swept at most once per sweep interval
    /// (the timeout, at most a minute), so the work stays constant per connection.
    /// </summary>
    public void Remember(string client, AffinityEntry entry, int timeoutSeconds)
    {
        var now = entry.LastUsed;
        if (now.Ticks >= Volatile.Read(ref _nextSweepTicks)) Sweep(now, timeoutSeconds);
        if (_entries.TryGetValue(client, out var old))
        {
            // Refresh only what is there: a concurrent sweep may have removed it, then it is added below.
            if (_entries.TryUpdate(client, entry, old)) return;
        }
        if (!TryReserve()) return;
        if (!_entries.TryAdd(client, entry))
        {
            // Another loop added this client meanwhile (and counted it).
            Interlocked.Decrement(ref _count);
            _entries[client] = entry;
        }
    }

    /// <summary>
    /// Takes a place before adding, so loops adding at once never hold more than the capacity. A full memory is not
    /// swept here (a flood of new clients must not cost a scan each): the next due sweep makes room.
    /// </summary>
    private bool TryReserve()
    {
        if (Interlocked.Increment(ref _count) <= capacity) return true;
        Interlocked.Decrement(ref _count);
        return false;
    }

    /// <summary>Forgets every entry idle for the timeout or longer; returns how many went.</summary>
    public int Sweep(DateTime now, int timeoutSeconds)
    {
        var interval = TimeSpan.FromSeconds(Math.Clamp(timeoutSeconds, 1, MaxSweepInterval.TotalSeconds));
        Volatile.Write(ref _nextSweepTicks, (now + interval).Ticks);
        var removed = 0;
        foreach (var (client, entry) in _entries)
        {
            if ((now - entry.LastUsed).TotalSeconds >= timeoutSeconds
                && _entries.TryRemove(new KeyValuePair<string, AffinityEntry>(client, entry)))
            {
                Interlocked.Decrement(ref _count);
                removed++;
            }
        }
        return removed;
    }
}
