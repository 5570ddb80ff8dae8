// Each test binds its own 127.0.x addresses; run them one at a time so none competes with another for the CPU.
[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace ActorCluster.Proxy.Tests;

/// <summary>Waits for a condition with a bound (never a bare sleep): the failure names what was awaited.</summary>
internal static class Poll
{
    public static async Task Until(Func<bool> condition, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"timed out after {timeout.TotalSeconds:0}s waiting for {what}");
            await Task.Delay(20);
        }
    }
}
