using System.Diagnostics;

namespace ActorCluster.Benchmarks;

/// <summary>
/// Notices when this whole process stops running for a while (a garbage collection suspends every thread; a
/// starved CPU delays them) and whether a collection ran in that moment. The benchmark's nodes share the
/// process, so a stall here is a stall of every node at once: this tells a GC pause from the control plane's own.
/// It also probes how long work waits for a thread-pool thread (where actors and the journal's calls run).
/// </summary>
internal sealed class StallWatch : IDisposable
{
    private readonly TimeSpan _threshold;
    private readonly Thread _thread;
    private readonly List<(double Ms, bool DuringGc)> _stalls = [];
    private volatile bool _stopped;

    public StallWatch(TimeSpan threshold)
    {
        _threshold = threshold;
        _thread = new Thread(Watch) { IsBackground = true, Priority = ThreadPriority.Highest, Name = "stall-watch" };
        _thread.Start();
    }

    private double _longestPoolWaitMs;

    private void Watch()
    {
        var clock = Stopwatch.StartNew();
        var nextProbe = TimeSpan.Zero;
        while (!_stopped)
        {
            var before = clock.Elapsed;
            var collections = GC.CollectionCount(0);
            // Every 10 ms, how long a work item waits for a thread-pool thread (actors and SQLite calls run there).
            if (before >= nextProbe)
            {
                nextProbe = before + TimeSpan.FromMilliseconds(10);
                var queued = clock.Elapsed;
                ThreadPool.UnsafeQueueUserWorkItem(_ =>
                {
                    var wait = (clock.Elapsed - queued).TotalMilliseconds;
                    lock (_stalls) _longestPoolWaitMs = Math.Max(_longestPoolWaitMs, wait);
                }, null);
            }
            Thread.Sleep(1);
            var gap = clock.Elapsed - before;
            if (gap <= _threshold) continue;
            lock (_stalls) _stalls.Add((gap.TotalMilliseconds, GC.CollectionCount(0) != collections));
        }
    }

    /// <summary>"N stalls over T ms (K during a GC), longest L ms (during a GC or not)".</summary>
    public string Summary()
    {
        lock (_stalls)
        {
            var pool = $"; longest wait for a thread-pool thread {_longestPoolWaitMs:0} ms";
            if (_stalls.Count == 0) return $"no stall over {_threshold.TotalMilliseconds:0} ms" + pool;
            var longest = _stalls.MaxBy(s => s.Ms);
            return $"{_stalls.Count} stall(s) over {_threshold.TotalMilliseconds:0} ms ({_stalls.Count(s => s.DuringGc)} during a GC), " +
                   $"longest {longest.Ms:0} ms ({(longest.DuringGc ? "during a GC" : "no GC")})" + pool;
        }
    }

    public void Dispose()
    {
        _stopped = true;
        _thread.Join();
    }
}
