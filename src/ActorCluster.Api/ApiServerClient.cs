using ActorCluster.Core.Api;
using ActorCluster.Core.Objects;
using Akka.Actor;
using Microsoft.Extensions.Logging;

namespace ActorCluster.Api;

/// <summary>
/// The API's requests to the ApiServer singleton (through <see cref="ApiServerLink"/>), answered promptly while it
/// moves: refused with 503 and Retry-After when its host is unreachable, this node is on the minority side, or the
/// incarnation a request went to stopped.
/// </summary>
internal sealed class ApiServerClient(ActorSystem system, ILogger log)
{
    public static readonly TimeSpan AskTimeout = TimeSpan.FromSeconds(30);

    /// <summary>A request slower than this is logged with where its time went.</summary>
    private static readonly TimeSpan SlowRequest = TimeSpan.FromSeconds(2);

    public ApiServerLink Link { get; } = new(system);

    /// <summary>
    /// Asks the ApiServer, never leaving a request to time out while it moves: one sent to an ApiServer that stops
    /// before answering (hand-over, crash, its node removed) or whose node becomes unreachable is refused at once
    /// with 503 and Retry-After (it may or may not have been applied, as with any request cut off mid-way); while
    /// there is no ApiServer yet, requests wait for the new one, up to a bound.
    /// </summary>
    public async Task<object> Ask(object message)
    {
        var started = DateTime.UtcNow;
        var lookup = TimeSpan.Zero;
        ApiServerLink.Target? target = null;
        var outcome = "answered";
        try
        {
            return await AskTimed(message, t =>
            {
                target = t;
                lookup = DateTime.UtcNow - started;
            });
        }
        catch (Exception e)
        {
            outcome = e is ApiErrorException api ? $"refused: {api.Error.Message}" : e.GetType().Name;
            throw;
        }
        finally
        {
            var took = DateTime.UtcNow - started;
            if (took > SlowRequest)
                log.LogWarning("{Message} took {Took:0} ms ({Outcome}); finding the ApiServer took {Lookup:0} ms, sent to {Target}",
                    message.GetType().Name, took.TotalMilliseconds, outcome, lookup.TotalMilliseconds, target?.Ref.Path.ToString() ?? "none");
        }
    }

    /// <param name="found">told which ApiServer incarnation the request goes to, once it is known</param>
    private async Task<object> AskTimed(object message, Action<ApiServerLink.Target> found)
    {
        if (ApiServerHostUnreachable())
            throw new ApiErrorException(ApiError.ServiceUnavailable("the node hosting the ApiServer is unreachable; a new ApiServer is being started, try again"));
        if (CutOffFromMajority())
            throw new ApiErrorException(ApiError.ServiceUnavailable("this node cannot reach a majority of the cluster; the majority side serves requests, try another node or again later"));
        var target = await Link.Current(TimeSpan.FromSeconds(10))
            ?? throw new ApiErrorException(ApiError.ServiceUnavailable("no ApiServer is running yet; the cluster is starting or electing a new one, try again"));
        found(target);
        var ask = target.Ref.Ask<object>(message, AskTimeout);
        while (true)
        {
            var done = await Task.WhenAny(ask, target.Stopped, Task.Delay(250));
            if (done == ask) return await ask;
            // Answers sent before the stop may still be on their way: a moment's grace for them.
            if (done == target.Stopped && await Task.WhenAny(ask, Task.Delay(100)) == ask) return await ask;
            if (done == target.Stopped)
                throw new ApiErrorException(ApiError.ServiceUnavailable("the ApiServer stopped while this request was in flight (it is moving to another node); it may or may not have been applied"));
            if (ApiServerHostUnreachable())
                throw new ApiErrorException(ApiError.ServiceUnavailable("the node hosting the ApiServer became unreachable while this request was in flight; it may or may not have been applied"));
        }
    }

    /// <summary>The singleton runs on the oldest member; is that member unreachable from here?</summary>
    private bool ApiServerHostUnreachable()
    {
        var state = Akka.Cluster.Cluster.Get(system).State;
        return !state.Unreachable.IsEmpty && ApiServerLink.Host(state) is { } oldest && state.Unreachable.Contains(oldest);
    }

    /// <summary>
    /// This node reaches no more than half of the members: it is on the minority side of a partition, which the
    /// split-brain resolver will down. Like a kube-apiserver whose etcd has lost quorum, it serves nothing meanwhile,
    /// even if the ApiServer happens to run here.
    /// </summary>
    private bool CutOffFromMajority()
    {
        var state = Akka.Cluster.Cluster.Get(system).State;
        if (state.Unreachable.IsEmpty) return false;
        var members = state.Members.Count(m => m.Status is Akka.Cluster.MemberStatus.Up or Akka.Cluster.MemberStatus.Leaving or Akka.Cluster.MemberStatus.Exiting);
        var unreachable = state.Unreachable.Count(m => m.Status is Akka.Cluster.MemberStatus.Up or Akka.Cluster.MemberStatus.Leaving or Akka.Cluster.MemberStatus.Exiting);
        return members > 1 && (members - unreachable) * 2 <= members;
    }

    public bool HostsApiServer()
    {
        var cluster = Akka.Cluster.Cluster.Get(system);
        return ApiServerLink.Host(cluster.State)?.Address == cluster.SelfAddress;
    }
}
