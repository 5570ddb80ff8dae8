using Akka.Actor;
using Akka.Cluster;

namespace ActorCluster.Api;

/// <summary>
/// How this node's API reaches the ApiServer: the singleton's own reference on the member that hosts it (the
/// oldest), found by its path and watched. A request is sent to one known incarnation, so when that incarnation
/// stops (hand-over, crash, its node removed) the request is answered at once as "may or may not have been
/// applied" instead of waiting for a timeout; a proxy that forwards to whichever reference it last identified
/// cannot tell its caller that. While the ApiServer moves, requests wait (bounded) until the new one answers.
/// </summary>
internal sealed class ApiServerLink(ActorSystem system)
{
    private static readonly TimeSpan LookupInterval = TimeSpan.FromMilliseconds(200);
    private readonly object _gate = new();
    private Task<Target?>? _current;

    /// <summary>The ApiServer incarnation requests go to, and a task that completes when it stops.</summary>
    public sealed record Target(IActorRef Ref, Task Stopped);

    /// <summary>The current ApiServer, looked up again once the last one stopped; null when none was found in time.</summary>
    public Task<Target?> Current(TimeSpan within)
    {
        lock (_gate)
        {
            if (_current is { IsCompleted: false } pending) return pending;
            if (_current is { IsCompletedSuccessfully: true, Result: { Stopped.IsCompleted: false } }) return _current;
            return _current = Find(within);
        }
    }

    private async Task<Target?> Find(TimeSpan within)
    {
        var deadline = DateTime.UtcNow + within;
        var cluster = Akka.Cluster.Cluster.Get(system);
        while (true)
        {
            if (Host(cluster.State) is { } host && !cluster.State.Unreachable.Contains(host))
            {
                try
                {
                    var found = await system.ActorSelection(new RootActorPath(host.Address) / "user" / "apiserver" / "apiserver")
                        .ResolveOne(TimeSpan.FromSeconds(1));
                    var stopped = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                    system.ActorOf(Props.Create(() => new StopWatcher(found, stopped)));
                    return new Target(found, stopped.Task);
                }
                catch (ActorNotFoundException)
                {
                    // Not started there yet (the new host is taking over): look again shortly.
                }
            }
            if (DateTime.UtcNow + LookupInterval > deadline) return null;
            await Task.Delay(LookupInterval);
        }
    }

    /// <summary>The member the singleton manager runs the ApiServer on: the oldest that is up (or leaving).</summary>
    public static Member? Host(ClusterEvent.CurrentClusterState state)
    {
        Member? oldest = null;
        foreach (var m in state.Members)
        {
            if (m.Status is not (MemberStatus.Up or MemberStatus.Leaving or MemberStatus.Exiting)) continue;
            if (oldest is null || m.IsOlderThan(oldest)) oldest = m;
        }
        return oldest;
    }

    /// <summary>Completes the task when the watched ApiServer stops (or its node is removed), then stops itself.</summary>
    private sealed class StopWatcher : ReceiveActor
    {
        public StopWatcher(IActorRef target, TaskCompletionSource stopped)
        {
            Context.Watch(target);
            Receive<Terminated>(_ =>
            {
                stopped.TrySetResult();
                Context.Stop(Self);
            });
        }
    }
}
