using ActorCluster.Core.Objects;
using ActorCluster.Core.Store;
using Akka.Actor;
using k8s.Models;

namespace ActorCluster.Cluster.ApiServer;

/// <summary>
/// The ApiServer's watch fan-out, as kube-apiserver's watch cache: who watches (a node's replica or an API request),
/// the last version each was sent, and a bounded history of recent changes so a watch can resume from a version
/// (or learn it is too old: 410 Gone). Owned by the ApiServer actor and used only from it.
/// </summary>
internal sealed class WatchHub(int historySize)
{
    private readonly Dictionary<IActorRef, Watcher> _watchers = new();
    private readonly LinkedList<HistoryEntry> _history = new();

    private sealed class Watcher(string nodeName)
    {
        public string NodeName { get; } = nodeName;

        public long LastSent { get; set; }
    }

    private sealed record HistoryEntry(WatchChange Change, string? PodNode);

    public int Count => _watchers.Count;

    /// <summary>Whether a watcher for <paramref name="nodeName"/> ("" = everything) gets a change: a node's replica gets its own pods only, no Events, Leases, ConfigMaps or Secrets (it uses none, and a Secret is not copied where it is not needed).</summary>
    private static bool Wanted(string nodeName, string resource, string? podNode) =>
        nodeName.Length == 0
        || resource switch
        {
            "pods" => podNode == nodeName,
            "events" or "endpoints" or "leases" or "configmaps" or "secrets" => false,
            _ => true,
        };

    /// <summary>Sends a durable change to every watcher that wants it and keeps it in the history.</summary>
    public void Publish(ObjectsChanged e, long rv, IReadOnlyList<string?> podNodes)
    {
        for (var i = 0; i < e.Changes.Count; i++)
        {
            var c = e.Changes[i];
            var podNode = podNodes[i];
            var change = new WatchChange(c.Type, c.Resource, c.Json, rv, 0, e.CommittedUnixMs);
            _history.AddLast(new HistoryEntry(change, podNode));
            if (_history.Count > historySize) _history.RemoveFirst();
            foreach (var (subscriber, watcher) in _watchers)
            {
                if (!Wanted(watcher.NodeName, c.Resource, podNode)) continue;
                subscriber.Tell(change with { PreviousResourceVersion = watcher.LastSent });
                watcher.LastSent = rv;
            }
        }
    }

    /// <summary>
    /// Starts a watch: from a version still in the history (the changes after it, then <see cref="WatchResumed"/>),
    /// from one forgotten (<see cref="WatchExpired"/>, and no watch), or from now (the durable store in parts).
    /// Returns whether the subscriber now watches.
    /// </summary>
    public bool Start(StartWatch w, ObjectStore durable)
    {
        var current = durable.ResourceVersion;
        if (w.FromResourceVersion > 0)
        {
            var oldest = _history.First?.Value.Change.ResourceVersion ?? current + 1;
            if (w.FromResourceVersion < oldest - 1 && w.FromResourceVersion < current)
            {
                w.Subscriber.Tell(new WatchExpired(oldest));
                return false;
            }
            var last = w.FromResourceVersion;
            foreach (var entry in _history.Where(h => h.Change.ResourceVersion > w.FromResourceVersion))
            {
                if (!Wanted(w.NodeName, entry.Change.Resource, entry.PodNode)) continue;
                w.Subscriber.Tell(entry.Change with { PreviousResourceVersion = last });
                last = entry.Change.ResourceVersion;
            }
            _watchers[w.Subscriber] = new Watcher(w.NodeName) { LastSent = last };
            w.Subscriber.Tell(new WatchResumed(last));
            return true;
        }

        // A snapshot of the durable store in parts of about 48 KB (one object may make a part larger, up to the
        // object limit, which the remoting frame is sized for).
        var parts = new List<List<WatchedObject>> { new() };
        var size = 0;
        foreach (var o in durable.All())
        {
            var podNode = o.Kind == ResourceKind.Pod ? o.As<V1Pod>().Spec?.NodeName : null;
            if (!Wanted(w.NodeName, o.Kind.Resource, podNode)) continue;
            var json = o.ToJson();
            if (size + json.Length > 48 * 1024 && parts[^1].Count > 0)
            {
                parts.Add([]);
                size = 0;
            }
            parts[^1].Add(new WatchedObject(o.Kind.Resource, json));
            size += json.Length;
        }
        for (var i = 0; i < parts.Count; i++)
            w.Subscriber.Tell(new WatchSnapshot(parts[i], current, w.RequestId, i, parts.Count));
        _watchers[w.Subscriber] = new Watcher(w.NodeName) { LastSent = current };
        return true;
    }

    public void Stop(IActorRef subscriber) => _watchers.Remove(subscriber);
}
