namespace ActorCluster.Proxy;

/// <summary>Process-wide socket settings the data plane wants, applied once at start before any socket exists.</summary>
public static class SocketTuning
{
    private const string InlineCompletions = "DOTNET_SYSTEM_NET_SOCKETS_INLINE_COMPLETIONS";

    /// <summary>
    /// Runs socket completions on the epoll threads instead of queueing them to the thread pool: the relay's
    /// continuations are short (a copy and the next read), and skipping the hop gains about a fifth in requests/s
    /// (docs/benchmarks.md). It must be set before the first socket operation, as .NET reads it once. A value the
    /// user set (0 to turn it off) is kept.
    /// </summary>
    public static void PreferInlineCompletions()
    {
        if (Environment.GetEnvironmentVariable(InlineCompletions) is null) Environment.SetEnvironmentVariable(InlineCompletions, "1");
    }
}
