using System.Collections.Concurrent;

namespace ActorCluster.Api;

/// <summary>
/// Counts the watches each client address holds open on this node's API, so one client cannot hold an unbounded
/// number of streams (each is a relay actor, a watcher in the ApiServer and a buffer).
/// </summary>
internal sealed class WatchLimiter(int perClient)
{
    private readonly ConcurrentDictionary<string, int> _open = new();

    public bool TryOpen(string client)
    {
        var now = _open.AddOrUpdate(client, 1, (_, n) => n + 1);
        if (now <= perClient) return true;
        Close(client);
        return false;
    }

    public void Close(string client)
    {
        while (true)
        {
            if (!_open.TryGetValue(client, out var n)) return;
            if (n <= 1 ? _open.TryRemove(new KeyValuePair<string, int>(client, n)) : _open.TryUpdate(client, n - 1, n)) return;
        }
    }

    /// <summary>Watches open now from one client (for tests and metrics).</summary>
    public int Open(string client) => _open.TryGetValue(client, out var n) ? n : 0;
}
