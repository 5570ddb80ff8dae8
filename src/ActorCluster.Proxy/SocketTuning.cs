namespace ActorCluster.Proxy;

/// <summary>Process-wide socket settings the data plane wants, applied once at start before any socket exists.</summary>
public static class SocketTuning
{
    private const string InlineCompletions = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    /// <summary>
    /// Runs .NET socket completions on the epoll threads instead of queueing them to the thread pool. Service traffic
    /// has its own relay loops; this is for the rest: the node tunnel's far end, UDP flows, health checks and the
    /// pods' workloads, whose continuations are short (a copy and the next read). Skipping the hop gained about a
    /// fifth in requests/s when the relay still used .NET sockets (docs/benchmarks.md). It must be set before the
    /// first socket operation, as .NET reads it once. A value the user set (0 to turn it off) is kept.
    /// </summary>
    public static void PreferInlineCompletions()
    {
        if (Environment.GetEnvironmentVariable(InlineCompletions) is null) Environment.SetEnvironmentVariable(InlineCompletions, "1");
    }
}
