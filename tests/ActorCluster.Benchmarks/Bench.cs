namespace ActorCluster.Benchmarks;

/// <summary>What every benchmark here needs: bounded waits for a condition, and work with a fixed number in flight.</summary>
internal static class Bench
{
    /// <summary>Polls every 50 ms until <paramref name="condition"/> holds; throws after <paramref name="timeout"/>.</summary>
    public static async Task Until(Func<Task<bool>> condition, TimeSpan timeout, string what = "benchmark condition")
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"{what} not reached in {timeout.TotalSeconds:0} s");
            await Task.Delay(50);
        }
    }

    /// <summary>Runs <paramref name="body"/> for every item, at most <paramref name="parallelism"/> at a time.</summary>
    public static async Task ForEachConcurrent(IEnumerable<int> items, int parallelism, Func<int, Task> body)
    {
        using var gate = new SemaphoreSlim(parallelism);
        await Task.WhenAll(items.Select(async i =>
        {
            await gate.WaitAsync();
            try
            {
                await body(i);
            }
            finally
            {
                gate.Release();
            }
        }));
    }
}
