using ActorCluster.Core.Api;
using Akka.Actor;
using Akka.Event;

namespace ActorCluster.Cluster.ApiServer;

/// <summary>
/// What the cluster singleton runs: the <see cref="ApiServerActor"/> as a child that is never restarted in place.
/// An ApiServer that fails (a journal write failed or was rejected, an unexpected exception) stops; this actor
/// starts a fresh one after a backoff, under a new ActorRef, so every watcher sees <c>Terminated</c> and starts
/// again against the new instance instead of waiting on one that forgot it. While there is no ApiServer, requests
/// are answered at once with 503 and Retry-After (clients such as kubectl retry), never left to time out; so are
/// requests that were already forwarded to an instance as it stopped (between its end and our <c>Terminated</c>, they
/// reach its dead letters, which this actor watches for its children).
/// <see cref="HandOver"/> (the singleton's termination message) is passed on so in-flight writes finish first.
/// </summary>
public sealed class ApiServerSupervisor : ReceiveActor, IWithTimers
{
    private static readonly TimeSpan MinBackoff = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(2);
    /// <summary>An instance that lived this long counts as healthy: the next failure starts from the minimum backoff again.</summary>
    private static readonly TimeSpan HealthyAfter = TimeSpan.FromSeconds(10);

    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly Props _childProps;
    private IActorRef? _child;
    private DateTime _childStarted;
    private int _failures;
    private bool _handingOver;
    private long _generation;

    public ApiServerSupervisor(Props childProps)
    {
        _childProps = childProps;
        Receive<Start>(_ => StartChild());
        Receive<Terminated>(t =>
        {
            if (!t.ActorRef.Equals(_child)) return;
            _child = null;
            if (_handingOver)
            {
                Context.Stop(Self);
                return;
            }
            _failures = DateTime.UtcNow - _childStarted > HealthyAfter ? 1 : _failures + 1;
            var delay = TimeSpan.FromTicks(Math.Min(MaxBackoff.Ticks, MinBackoff.Ticks << Math.Min(_failures - 1, 10)));
            _log.Warning("ApiServer stopped; starting a new one in {0} ms", (int)delay.TotalMilliseconds);
            Timers.StartSingleTimer("start", Start.Instance, delay);
        });
        Receive<HandOver>(h =>
        {
            _handingOver = true;
            if (_child is null) Context.Stop(Self);
            else _child.Tell(h);
        });
        Receive<DeadLetter>(d =>
        {
            // Never processed (it waited in the stopped instance's mailbox or stash): safe to ask for a retry.
            if (d.Recipient.Path.Parent.Equals(Self.Path) && IsRequest(d.Message))
                d.Sender.Tell(ApiErrorReply.From(ApiError.ServiceUnavailable("the ApiServer stopped before handling this request; try again")));
        });
        ReceiveAny(message =>
        {
            if (_child is not null)
            {
                _child.Forward(message);
                return;
            }
            // Requests get an answer now; watch and node messages are retried by their senders on their own.
            if (IsRequest(message))
                Sender.Tell(ApiErrorReply.From(ApiError.ServiceUnavailable(
                    _handingOver ? "the ApiServer is moving to another node; try again" : "the ApiServer is restarting after a failure; try again")));
        });
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(ApiServerSettings settings) => Akka.Actor.Props.Create(() => new ApiServerSupervisor(ApiServerActor.Props(settings)));

    /// <summary>For tests: supervise any ApiServer props (e.g. on an in-memory journal).</summary>
    public static Props Props(Props childProps) => Akka.Actor.Props.Create(() => new ApiServerSupervisor(childProps));

    private sealed record Start
    {
        public static readonly Start Instance = new();
    }

    /// <summary>The messages a sender waits on for an answer (watch and node messages are retried by their senders).</summary>
    private static bool IsRequest(object message) => message is CreateObject or UpdateObject or DeleteObject or GetObject or ListObjects
        or RegisterNode or ReportPodStatus or ConfirmPodTerminated;

    protected override void PreStart()
    {
        Context.System.EventStream.Subscribe(Self, typeof(DeadLetter));
        StartChild();
    }

    protected override void PostStop() => Context.System.EventStream.Unsubscribe(Self);

    /// <summary>Never restart the ApiServer in place: any failure stops it, and a new one is started under a new name.</summary>
    protected override SupervisorStrategy SupervisorStrategy() => Akka.Actor.SupervisorStrategy.StoppingStrategy;

    private void StartChild()
    {
        if (_child is not null || _handingOver) return;
        _child = Context.ActorOf(_childProps, $"apiserver-{++_generation}");
        _childStarted = DateTime.UtcNow;
        Context.Watch(_child);
    }
}
