using System.Collections.Concurrent;
using System.Collections.Immutable;
using Akka.Actor;
using Akka.Persistence;
using Akka.Persistence.Journal;

namespace ActorCluster.Cluster.Tests.ApiServerSpecs;

/// <summary>What a <see cref="ControlledJournal"/> does with the writes it is given.</summary>
public enum JournalMode
{
    Write,
    /// <summary>Every write fails (the database is gone, the disk is full): Akka calls OnPersistFailure.</summary>
    Fail,
    /// <summary>Every event is refused by the journal: Akka calls OnPersistRejected.</summary>
    Reject,
}

/// <summary>The switches of one actor system's <see cref="ControlledJournal"/>: a gate that holds writes, and a mode.</summary>
public sealed class JournalControl
{
    private static readonly ConcurrentDictionary<string, JournalControl> BySystem = new();
    private volatile TaskCompletionSource _gate = Opened();

    public volatile JournalMode Mode = JournalMode.Write;

    /// <summary>Writes the journal has been given (whether or not they completed).</summary>
    public int WritesStarted;

    /// <summary>Writes the journal has stored.</summary>
    public int WritesStored;

    public static JournalControl For(ActorSystem system) => BySystem.GetOrAdd(system.Name, _ => new JournalControl());

    private static TaskCompletionSource Opened()
    {
        var tcs = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        tcs.SetResult();
        return tcs;
    }

    /// <summary>From now on, writes wait until <see cref="Open"/>: they stay in flight.</summary>
    public void Close() => _gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);

    public void Open() => _gate.TrySetResult();

    internal Task Wait() => _gate.Task;
}

/// <summary>The in-memory journal with a gate and failure modes, so TestKit specs can hold writes in flight and fail them.</summary>
public sealed class ControlledJournal : MemoryJournal
{
    private readonly JournalControl _control = JournalControl.For(Context.System);

    protected override async Task<IImmutableList<Exception?>> WriteMessagesAsync(IEnumerable<AtomicWrite> messages, CancellationToken cancellationToken)
    {
        var writes = messages.ToList();
        Interlocked.Increment(ref _control.WritesStarted);
        await _control.Wait().WaitAsync(TimeSpan.FromSeconds(30), cancellationToken).ConfigureAwait(false);
        switch (_control.Mode)
        {
            case JournalMode.Fail:
                throw new IOException("database or disk is full");
            case JournalMode.Reject:
                return writes.Select(_ => (Exception?)new InvalidOperationException("the journal refused the event")).ToImmutableList();
            default:
                var result = await base.WriteMessagesAsync(writes, cancellationToken).ConfigureAwait(false);
                Interlocked.Increment(ref _control.WritesStored);
                return result;
        }
    }
}
