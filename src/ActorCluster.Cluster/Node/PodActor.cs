using ActorCluster.Cluster.ApiServer;
using ActorCluster.Cluster.Workloads;
using ActorCluster.Core.Api;
using ActorCluster.Core.Objects;
using ActorCluster.Core.Store;
using ActorCluster.Core.Workloads;
using Akka.Actor;
using Akka.Event;
using k8s.Models;

namespace ActorCluster.Cluster.Node;

/// <summary>
/// One pod on its node (kubelet's pod worker): starts the containers on the pod IP, runs their probes (startup,
/// then liveness and readiness; readiness decides the pod's Ready condition and so its endpoints), restarts a
/// container that exits or fails its liveness probe (restartPolicy, CrashLoopBackOff), reports the pod's status
/// until the ApiServer has it, and on deletion stops gracefully and confirms.
/// </summary>
public sealed class PodActor : ReceiveActor, IWithTimers
{
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly IActorRef _apiServer;
    private readonly string _ip;
    private readonly string _nodeName;
    private readonly string _hostIP;
    private readonly List<ContainerRun> _containers = [];
    private V1Pod _pod;
    private V1PodStatus _status = new();
    private bool _statusAcknowledged;
    private bool _terminating;

    private readonly TimeSpan _statusResendInterval;
    private readonly TimeSpan _configRetry;
    private readonly TimeSpan _sourcesRefresh;
    private EnvSources? _sources; // the ConfigMaps and Secrets the environment reads, once fetched
    private readonly IReadOnlyList<V1Service> _services; // the namespace's Services when the pod came (kubelet's service links)

    public PodActor(V1Pod pod, string ip, string nodeName, string hostIP, IActorRef apiServer, TimeSpan statusResendInterval, TimeSpan configRetryInterval,
        IReadOnlyList<V1Service> services, TimeSpan sourcesRefreshInterval)
    {
        _sourcesRefresh = sourcesRefreshInterval;
        _services = services;
        _configRetry = configRetryInterval;
        _pod = pod;
        _ip = ip;
        _nodeName = nodeName;
        _hostIP = hostIP;
        _apiServer = apiServer;
        _statusResendInterval = statusResendInterval;

        Receive<PodChanged>(c =>
        {
            _pod = c.Pod;
            // The stored status lost what we reported (a restarted ApiServer, a lost message): say it again.
            if (!_terminating && !SameStatus(c.Pod.Status, _status))
            {
                _statusAcknowledged = false;
                SendStatus();
            }
        });
        Receive<TerminatePod>(t =>
        {
            if (_terminating) return;
            _terminating = true;
            foreach (var run in _containers) CancelProbes(run);
            var self = Self;
            Task.WhenAll(_containers.Where(r => r.Process is not null).Select(r => r.Process!.StopAsync(t.GracePeriod)))
                .ContinueWith(_ => (object)StoppedWorkloads.Instance, TaskScheduler.Default)
                .PipeTo(self);
        });
        Receive<StoppedWorkloads>(_ =>
        {
            foreach (var run in _containers) run.Process = null;
            ConfirmTerminated();
        });
        Receive<ProbeTick>(OnProbeTick);
        Receive<ProbeDone>(OnProbeDone);
        Receive<ContainerExited>(OnContainerExited);
        Receive<RestartContainer>(r =>
        {
            var run = _containers.Single(c => c.Spec.Name == r.Container);
            if (_terminating || run.Incarnation != r.Incarnation) return;
            Restart(run);
            UpdateStatus();
        });
        Receive<Acknowledged>(_ =>
        {
            if (_terminating)
            {
                Context.Parent.Tell(new PodActorFinished(_pod.Metadata.Uid, _ip));
                Context.Stop(Self);
            }
            else
            {
                _statusAcknowledged = true;
            }
        });
        Receive<ApiErrorReply>(e => _log.Warning("pod {0}: status rejected: {1}", _pod.Metadata.Name, e.StatusJson));
        Receive<PodProxyRequest>(r => Forward(r).PipeTo(Sender, Self));
        Receive<PodLogRequest>(r => Sender.Tell(Logs(r)));
        Receive<PodExecRequest>(r =>
        {
            var run = ContainerFor(r.Container, out var error);
            if (run is null || run.Process is null || _terminating)
            {
                Sender.Tell(new PodExecResponse(0, "", "", error ?? $"container not found ({GoFormat.Quote(run?.Spec.Name ?? r.Container ?? "")})"));
                return;
            }
            BuiltinCommands.Run(r.Command, Identity, run.Resolved, ExecTimeout, run.Files)
                .PipeTo(Sender, Self, success: result => new PodExecResponse(result.ExitCode, result.Stdout, result.Stderr));
        });
        Receive<ResendStatus>(_ =>
        {
            if (_terminating) ConfirmTerminated();
            else if (!_statusAcknowledged) SendStatus();
        });
        Receive<SourcesFetched>(f =>
        {
            _sources = f.Sources;
            if (_terminating) return;
            foreach (var run in _containers)
            {
                if (run.AwaitingConfig) StartContainer(run, restart: run.RestartPending);
                // A running container's volume files follow their ConfigMaps and Secrets (kubelet's periodic sync);
                // one that became unreadable keeps the files it had, as kubelet does. Its environment stays.
                else if (run.Process is not null && ContainerFiles.Resolve(run.Spec, _pod.Spec, f.Sources) is (var files, null)) run.Files = files;
            }
            UpdateStatus();
        });
        Receive<RefreshSources>(_ =>
        {
            if (!_terminating) FetchSources();
        });
        Receive<SourcesUnavailable>(u =>
        {
            _log.Warning("pod {0}: cannot read its ConfigMaps and Secrets ({1}); trying again in {2}", _pod.Metadata.Name, u.Why, _configRetry);
            Timers.StartSingleTimer("config-retry", RetryConfig.Instance, _configRetry);
        });
        Receive<RetryConfig>(_ =>
        {
            if (!_terminating && _containers.Any(r => r.AwaitingConfig)) FetchSources();
        });
    }

    public ITimerScheduler Timers { get; set; } = null!;

    /// <param name="configRetryInterval">how soon a container whose ConfigMap or Secret is missing tries again (5 s;
    /// kubelet retries on its pod sync)</param>
    /// <param name="services">the Services of the pod's namespace as the node's replica has them now: their variables
    /// go into the containers' environment (enableServiceLinks)</param>
    /// <param name="sourcesRefreshInterval">how often mounted ConfigMaps and Secrets are read again (60 s, kubelet's sync)</param>
    public static Props Props(V1Pod pod, string ip, string nodeName, string hostIP, IActorRef apiServer, TimeSpan? statusResendInterval = null,
        TimeSpan? configRetryInterval = null, IReadOnlyList<V1Service>? services = null, TimeSpan? sourcesRefreshInterval = null) =>
        Akka.Actor.Props.Create(() => new PodActor(pod, ip, nodeName, hostIP, apiServer, statusResendInterval ?? TimeSpan.FromSeconds(2),
            configRetryInterval ?? TimeSpan.FromSeconds(5), services ?? Array.Empty<V1Service>(), sourcesRefreshInterval ?? TimeSpan.FromSeconds(60)));

    /// <summary>The ConfigMaps and Secrets the containers' environment reads, fetched from the ApiServer.</summary>
    private sealed record SourcesFetched(EnvSources Sources);

    /// <summary>The ApiServer could not be asked (moving, or not answering): the fetch is tried again later.</summary>
    private sealed record SourcesUnavailable(string Why);

    private sealed record RetryConfig
    {
        public static readonly RetryConfig Instance = new();
    }

    private sealed record RefreshSources
    {
        public static readonly RefreshSources Instance = new();
    }

    private sealed record StoppedWorkloads
    {
        public static readonly StoppedWorkloads Instance = new();
    }

    private sealed record ResendStatus
    {
        public static readonly ResendStatus Instance = new();
    }

    private enum ProbeKind
    {
        Startup,
        Liveness,
        Readiness,
    }

    private sealed record ProbeTick(string Container, ProbeKind Kind, int Incarnation);

    private sealed record ProbeDone(string Container, ProbeKind Kind, int Incarnation, bool Ok, string Failure);

    private sealed record ContainerExited(string Container, int Incarnation, int ExitCode);

    private sealed record RestartContainer(string Container, int Incarnation);

    /// <summary>One container of the pod as kubelet follows it: its process, status, probes and restarts.</summary>
    private sealed class ContainerRun(V1Container spec)
    {
        public V1Container Spec { get; } = spec;

        /// <summary>The spec with its environment resolved (envFrom and valueFrom read): what exec and probes see.</summary>
        public V1Container Resolved { get; set; } = spec;

        /// <summary>The files its ConfigMap and Secret volumes put under their mount paths (what <c>cat</c> reads).</summary>
        public IReadOnlyDictionary<string, byte[]> Files { get; set; } = new Dictionary<string, byte[]>();

        /// <summary>Not started yet: waiting for its ConfigMaps and Secrets to be fetched, or to exist.</summary>
        public bool AwaitingConfig { get; set; }

        /// <summary>What it waits for is a restart (counted when it starts), not its first start.</summary>
        public bool RestartPending { get; set; }

        public KubetmContainer? Process { get; set; }
        public V1ContainerStatus Status { get; set; } = new() { Name = spec.Name, Image = spec.Image, ImageID = "", RestartCount = 0, Ready = false, Started = false };

        /// <summary>Which start of the container a timer or result belongs to (older ones are ignored).</summary>
        public int Incarnation { get; set; }

        /// <summary>Restarts counted for the back-off (reset after a long enough run).</summary>
        public int BackOffRestarts { get; set; }

        /// <summary>The switches (and so the log) of the container before the current one, for <c>logs --previous</c>.</summary>
        public KubetmSwitches? Previous { get; set; }

        /// <summary>The switches of the latest container (running or ended).</summary>
        public KubetmSwitches? Latest { get; set; }

        public ProbeCounter? Startup { get; set; }
        public ProbeCounter? Liveness { get; set; }
        public ProbeCounter? Readiness { get; set; }
    }

    protected override void PreStart()
    {
        var (configMaps, secrets) = EnvSources.Referenced(_pod.Spec);
        var fetch = configMaps.Count + secrets.Count > 0;
        foreach (var c in _pod.Spec.Containers)
        {
            var run = new ContainerRun(c);
            _containers.Add(run);
            if (!fetch) StartContainer(run, restart: false);
            else
            {
                // kubelet reads them before it creates the container; until then the container is being created.
                run.AwaitingConfig = true;
                run.Status.State = new V1ContainerState { Waiting = new V1ContainerStateWaiting { Reason = "ContainerCreating" } };
            }
        }
        if (fetch) FetchSources();
        // Mounted files follow their ConfigMaps and Secrets while the pod runs (kubelet syncs them about every minute).
        if (ContainerFiles.Referenced(_pod.Spec).Any()) Timers.StartPeriodicTimer("refresh-sources", RefreshSources.Instance, _sourcesRefresh);
        _status = BuildStatus();
        SendStatus();
        // Reports go to a singleton that may be moving; repeat until acknowledged.
        Timers.StartPeriodicTimer("resend", ResendStatus.Instance, _statusResendInterval);
    }

    protected override void PostStop()
    {
        foreach (var run in _containers) _ = run.Process?.KillAsync();
        base.PostStop();
    }

    // Shorter than the API's wait for the answer, so a workload that hangs is reported as such.
    private static readonly HttpClient Workloads = new() { Timeout = TimeSpan.FromSeconds(20) };

    /// <summary>The largest answer carried back (it travels in one remoting message, as the API's bodies do).</summary>
    private const int MaxProxyBody = 3 * 1024 * 1024;

    /// <summary>Makes the request to the workload on the pod's address and reads its answer (never throws).</summary>
    private async Task<PodProxyResponse> Forward(PodProxyRequest r)
    {
        var pod = $"{_pod.Metadata.NamespaceProperty}/{_pod.Metadata.Name}";
        PodProxyResponse Failed(string why) => new(pod, _nodeName, 0, null, [], why);
        if (_terminating) return Failed("the pod is terminating");
        try
        {
            using var request = new HttpRequestMessage(new HttpMethod(r.Method), $"http://{_ip}:{r.Port}{r.PathAndQuery}");
            if (r.Body.Length > 0)
            {
                request.Content = new ByteArrayContent(r.Body);
                if (r.ContentType is not null) request.Content.Headers.TryAddWithoutValidation("Content-Type", r.ContentType);
            }
            using var response = await Workloads.SendAsync(request, HttpCompletionOption.ResponseHeadersRead).ConfigureAwait(false);
            await using var stream = await response.Content.ReadAsStreamAsync().ConfigureAwait(false);
            using var body = new MemoryStream();
            var buffer = new byte[16 * 1024];
            int n;
            while ((n = await stream.ReadAsync(buffer).ConfigureAwait(false)) > 0)
            {
                if (body.Length + n > MaxProxyBody) return Failed($"the answer is larger than {MaxProxyBody} bytes");
                body.Write(buffer, 0, n);
            }
            return new PodProxyResponse(pod, _nodeName, (int)response.StatusCode, response.Content.Headers.ContentType?.ToString(), body.ToArray());
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException or IOException)
        {
            return Failed(e.Message);
        }
    }

    /// <summary>An Event about one of the pod's containers, as kubelet records it.</summary>
    private void RecordEvent(V1Container container, string type, string reason, string message) =>
        _apiServer.Tell(ComponentEvents.About(ResourceKind.Pod, _pod.Metadata, $"spec.containers{{{container.Name}}}", type, reason, message, "kubelet", _nodeName));

    private void SendStatus() =>
        _apiServer.Tell(new ReportPodStatus(_pod.Metadata.NamespaceProperty, _pod.Metadata.Name, _pod.Metadata.Uid, KubeObjects.ToJson(_status)));

    private void ConfirmTerminated() =>
        _apiServer.Tell(new ConfirmPodTerminated(_pod.Metadata.NamespaceProperty, _pod.Metadata.Name, _pod.Metadata.Uid));

    private static bool SameStatus(V1PodStatus? stored, V1PodStatus mine) =>
        stored?.Phase == mine.Phase && stored?.PodIP == mine.PodIP
        && stored?.Conditions?.FirstOrDefault(c => c.Type == "Ready")?.Status == mine.Conditions?.FirstOrDefault(c => c.Type == "Ready")?.Status;

    private PodIdentity Identity => new(_pod.Metadata.Name, _pod.Metadata.NamespaceProperty, _ip, _nodeName);

    /// <summary>kubelet's name for the pod in its messages: name_namespace(uid).</summary>
    private string PodFullName => $"{_pod.Metadata.Name}_{_pod.Metadata.NamespaceProperty}({_pod.Metadata.Uid})";

    /// <summary>Starts (or starts again) one container and its probes, and describes the outcome as kubelet would.</summary>
    private void StartContainer(ContainerRun run, bool restart)
    {
        var c = run.Spec;
        run.Incarnation++;
        var status = run.Status;
        status.Ready = false;
        status.Started = false;
        if (!KubetmApp.IsImage(c.Image))
        {
            var why = $"image \"{c.Image}\" is not available: ActorCluster runs the built-in image {KubetmApp.Image} only";
            status.ContainerID = null;
            status.State = new V1ContainerState { Waiting = new V1ContainerStateWaiting { Reason = "ErrImagePull", Message = why } };
            // kubelet's events for a pull that fails, naming the image that does exist.
            RecordEvent(c, "Normal", "Pulling", $"Pulling image \"{c.Image}\"");
            RecordEvent(c, "Warning", "Failed", $"Failed to pull image \"{c.Image}\": {why}");
            RecordEvent(c, "Warning", "Failed", "Error: ErrImagePull");
            return;
        }
        var (env, configError) = ContainerEnvironment.Resolve(c, _pod, _ip, _hostIP, _sources ?? EnvSources.None, _services);
        if (configError is not null)
        {
            run.AwaitingConfig = true;
            status.ContainerID = null;
            status.State = new V1ContainerState { Waiting = new V1ContainerStateWaiting { Reason = "CreateContainerConfigError", Message = configError } };
            RecordEvent(c, "Warning", "Failed", $"Error: {configError}");
            Timers.StartSingleTimer("config-retry", RetryConfig.Instance, _configRetry);
            return;
        }
        var (files, mountError) = ContainerFiles.Resolve(c, _pod.Spec, _sources ?? EnvSources.None);
        if (mountError is not null)
        {
            // kubelet cannot set the volume up: the container is not created yet, and the pod's Event says why.
            run.AwaitingConfig = true;
            status.ContainerID = null;
            status.State = new V1ContainerState { Waiting = new V1ContainerStateWaiting { Reason = "ContainerCreating" } };
            _apiServer.Tell(ComponentEvents.About(ResourceKind.Pod, _pod.Metadata, null, "Warning", "FailedMount", mountError, "kubelet", _nodeName));
            Timers.StartSingleTimer("config-retry", RetryConfig.Instance, _configRetry);
            return;
        }
        run.AwaitingConfig = false;
        run.RestartPending = false;
        run.Files = files;
        run.Resolved = WithEnvironment(c, env);
        try
        {
            var process = KubetmContainer.Start(Identity, run.Resolved, run.Files);
            run.Process = process;
            if (run.Latest is not null) run.Previous = run.Latest;
            run.Latest = process.Switches;
            if (restart) status.RestartCount++;
            status.ContainerID = $"actorcluster://{_pod.Metadata.Uid}/{c.Name}/{run.Incarnation}";
            status.ImageID = "actorcluster://" + KubetmApp.Image;
            status.State = new V1ContainerState { Running = new V1ContainerStateRunning { StartedAt = ObjectMetaTime(process.Started) } };
            RecordEvent(c, "Normal", "Pulled", $"Container image \"{c.Image}\" already present on machine");
            RecordEvent(c, "Normal", "Created", $"Created container: {c.Name}");
            RecordEvent(c, "Normal", "Started", $"Started container {c.Name}");
            var incarnation = run.Incarnation;
            process.Exited.PipeTo(Self, success: code => new ContainerExited(c.Name, incarnation, code));
            // Without a startup probe the container counts as started at once; without a readiness probe, ready.
            run.Startup = c.StartupProbe is null ? null : new ProbeCounter(ProbeTiming.Of(c.StartupProbe), initial: false);
            run.Liveness = c.LivenessProbe is null ? null : new ProbeCounter(ProbeTiming.Of(c.LivenessProbe), initial: true);
            run.Readiness = c.ReadinessProbe is null ? null : new ProbeCounter(ProbeTiming.Of(c.ReadinessProbe), initial: false);
            if (run.Startup is null) Started(run);
            else Schedule(run, ProbeKind.Startup, run.Startup.Timing);
        }
        catch (System.Net.Sockets.SocketException e)
        {
            _log.Warning("pod {0}: container {1} cannot listen on {2}: {3}", _pod.Metadata.Name, c.Name, _ip, e.Message);
            status.State = new V1ContainerState
            {
                Waiting = new V1ContainerStateWaiting { Reason = "RunContainerError", Message = $"listen on {_ip}: {e.Message}" },
            };
            RecordEvent(c, "Warning", "Failed", $"Error: listen on {_ip}: {e.Message}");
        }
    }

    /// <summary>
    /// Starts the container again; one that reads ConfigMaps or Secrets first reads them again (kubelet makes each new
    /// container from their current values), and is being created meanwhile.
    /// </summary>
    private void Restart(ContainerRun run)
    {
        if (_sources is null)
        {
            StartContainer(run, restart: true);
            return;
        }
        run.AwaitingConfig = true;
        run.RestartPending = true;
        run.Status.State = new V1ContainerState { Waiting = new V1ContainerStateWaiting { Reason = "ContainerCreating" } };
        FetchSources();
    }

    /// <summary>A copy of the container with its environment as resolved: plain name/value pairs, nothing left to read.</summary>
    private static V1Container WithEnvironment(V1Container container, IReadOnlyList<V1EnvVar> env)
    {
        if (container.EnvFrom is null && env.Select(e => (e.Name, e.Value)).SequenceEqual((container.Env ?? []).Select(e => (e.Name, e.Value)))) return container;
        var copy = KubeObjects.Clone(container);
        copy.EnvFrom = null;
        copy.Env = [.. env];
        return copy;
    }

    /// <summary>
    /// Asks the ApiServer for the ConfigMaps and Secrets the pod's containers read (a node's replica holds none);
    /// one that is not there is null, for the containers to wait on. A failed ask is retried.
    /// </summary>
    private void FetchSources()
    {
        var (configMaps, secrets) = EnvSources.Referenced(_pod.Spec);
        var ns = _pod.Metadata.NamespaceProperty;
        var api = _apiServer;
        async Task<EnvSources> Fetch()
        {
            var cm = await Task.WhenAll(configMaps.Select(async n => (n, await Get<V1ConfigMap>(api, ResourceKind.ConfigMap, ns, n).ConfigureAwait(false)))).ConfigureAwait(false);
            var sec = await Task.WhenAll(secrets.Select(async n => (n, await Get<V1Secret>(api, ResourceKind.Secret, ns, n).ConfigureAwait(false)))).ConfigureAwait(false);
            return new EnvSources(cm.ToDictionary(e => e.n, e => e.Item2), sec.ToDictionary(e => e.n, e => e.Item2));
        }
        Fetch().PipeTo(Self, success: s => new SourcesFetched(s), failure: e => new SourcesUnavailable(e.GetBaseException().Message));
    }

    private static async Task<T?> Get<T>(IActorRef api, ResourceKind kind, string ns, string name) where T : class
    {
        var reply = await api.Ask<object>(new GetObject(kind.Resource, ns, name), TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        return reply switch
        {
            ObjectReply r => StoredObject.FromJson(r.Resource, r.Json).Object as T,
            ApiErrorReply { Code: 404 } => null,
            ApiErrorReply e => throw new InvalidOperationException($"{kind.Resource} {ns}/{name}: {e.Code}"),
            _ => throw new InvalidOperationException($"{kind.Resource} {ns}/{name}: unexpected answer {reply.GetType().Name}"),
        };
    }

    /// <summary>The startup probe succeeded (or there is none): liveness and readiness probes begin.</summary>
    private void Started(ContainerRun run)
    {
        run.Status.Started = true;
        run.Status.Ready = run.Readiness is null;
        if (run.Liveness is not null) Schedule(run, ProbeKind.Liveness, run.Liveness.Timing);
        if (run.Readiness is not null) Schedule(run, ProbeKind.Readiness, run.Readiness.Timing);
    }

    private void Schedule(ContainerRun run, ProbeKind kind, ProbeTiming timing) =>
        Timers.StartPeriodicTimer(ProbeKey(run, kind), new ProbeTick(run.Spec.Name, kind, run.Incarnation),
            TimeSpan.FromSeconds(timing.InitialDelaySeconds), TimeSpan.FromSeconds(timing.PeriodSeconds));

    private static string ProbeKey(ContainerRun run, ProbeKind kind) => $"probe/{run.Spec.Name}/{kind}";

    private void CancelProbes(ContainerRun run)
    {
        foreach (var kind in Enum.GetValues<ProbeKind>()) Timers.Cancel(ProbeKey(run, kind));
    }

    private void OnProbeTick(ProbeTick tick)
    {
        var run = _containers.Single(c => c.Spec.Name == tick.Container);
        if (_terminating || run.Incarnation != tick.Incarnation || run.Process is null) return;
        var probe = tick.Kind switch
        {
            ProbeKind.Startup => run.Spec.StartupProbe,
            ProbeKind.Liveness => run.Spec.LivenessProbe,
            _ => run.Spec.ReadinessProbe,
        };
        var counter = tick.Kind switch
        {
            ProbeKind.Startup => run.Startup,
            ProbeKind.Liveness => run.Liveness,
            _ => run.Readiness,
        };
        if (probe is null || counter is null) return;
        Probing.Run(probe, run.Resolved, Identity, TimeSpan.FromSeconds(counter.Timing.TimeoutSeconds), run.Files)
            .PipeTo(Self, success: r => new ProbeDone(tick.Container, tick.Kind, tick.Incarnation, r.Ok, r.Failure));
    }

    private void OnProbeDone(ProbeDone done)
    {
        var run = _containers.Single(c => c.Spec.Name == done.Container);
        if (_terminating || run.Incarnation != done.Incarnation || run.Process is null) return;
        var counter = done.Kind switch
        {
            ProbeKind.Startup => run.Startup,
            ProbeKind.Liveness => run.Liveness,
            _ => run.Readiness,
        };
        if (counter is null) return;
        var changed = counter.Record(done.Ok);
        // kubelet records every failure (its recorder folds repeats into a count); here a streak's first failure and
        // the one that crosses the threshold are recorded, so a pod left failing does not fill the Event store.
        if (!done.Ok && (counter.ConsecutiveFailures == 1 || changed))
            RecordEvent(run.Spec, "Warning", "Unhealthy", $"{done.Kind} probe failed: {done.Failure}");
        if (!changed) return;
        switch (done.Kind)
        {
            case ProbeKind.Startup when counter.Result:
                Timers.Cancel(ProbeKey(run, ProbeKind.Startup));
                Started(run);
                UpdateStatus();
                break;
            case ProbeKind.Startup or ProbeKind.Liveness:
                // Failed: kubelet kills the container; its exit restarts it per restartPolicy.
                CancelProbes(run);
                RecordEvent(run.Spec, "Normal", "Killing", $"Container {run.Spec.Name} failed {done.Kind.ToString().ToLowerInvariant()} probe, will be restarted");
                _ = run.Process.KillAsync();
                break;
            case ProbeKind.Readiness:
                run.Status.Ready = counter.Result;
                UpdateStatus();
                break;
        }
    }

    /// <summary>A container ended (crashed, or killed for a failed probe): restarted per restartPolicy, with back-off.</summary>
    private void OnContainerExited(ContainerExited exited)
    {
        var run = _containers.Single(c => c.Spec.Name == exited.Container);
        if (_terminating || run.Incarnation != exited.Incarnation || run.Process is null) return;
        CancelProbes(run);
        var now = DateTime.UtcNow;
        var ran = now - run.Process.Started;
        var terminated = new V1ContainerStateTerminated
        {
            ExitCode = exited.ExitCode, Reason = exited.ExitCode == 0 ? "Completed" : "Error",
            StartedAt = ObjectMetaTime(run.Process.Started), FinishedAt = ObjectMetaTime(now), ContainerID = run.Status.ContainerID,
        };
        run.Process = null;
        run.Status.Ready = false;
        run.Status.Started = false;
        var policy = _pod.Spec.RestartPolicy ?? "Always";
        if (policy == "Never" || (policy == "OnFailure" && exited.ExitCode == 0))
        {
            // Not restarted: the container stays as it ended (lastState is for a container that came before).
            run.Status.State = new V1ContainerState { Terminated = terminated };
            UpdateStatus();
            return;
        }
        run.Status.LastState = new V1ContainerState { Terminated = terminated };
        if (ran >= CrashLoopBackOff.ResetAfter) run.BackOffRestarts = 0;
        var delay = CrashLoopBackOff.Delay(run.BackOffRestarts++);
        if (delay == TimeSpan.Zero)
        {
            Restart(run);
        }
        else
        {
            run.Status.State = new V1ContainerState
            {
                Waiting = new V1ContainerStateWaiting
                {
                    Reason = "CrashLoopBackOff",
                    Message = $"back-off {GoDuration(delay)} restarting failed container={run.Spec.Name} pod={PodFullName}",
                },
            };
            RecordEvent(run.Spec, "Warning", "BackOff", $"Back-off restarting failed container {run.Spec.Name} in pod {PodFullName}");
            Timers.StartSingleTimer($"restart/{run.Spec.Name}", new RestartContainer(run.Spec.Name, run.Incarnation), delay);
        }
        UpdateStatus();
    }

    /// <summary>kubelet's container logs: the current (or previous) container's lines, or why there are none.</summary>
    private PodLogResponse Logs(PodLogRequest r)
    {
        PodLogResponse Fail(string error) => new([], 0, false, error);
        var pod = _pod.Metadata.Name;
        var run = ContainerFor(r.Container, out var error);
        if (run is null) return Fail(error!);
        var switches = r.Previous ? run.Previous : run.Latest;
        if (switches is null)
        {
            return Fail(r.Previous
                ? $"previous terminated container \"{run.Spec.Name}\" in pod \"{pod}\" not found"
                : $"container \"{run.Spec.Name}\" in pod \"{pod}\" is waiting to start: {run.Status.State?.Waiting?.Reason ?? "ContainerCreating"}");
        }
        var lines = switches.LogSince(r.From ?? 0);
        if (r.Since is { } since) lines = [.. lines.Where(l => l.Time >= since)];
        if (r.From is null && r.TailLines is { } tail) lines = [.. lines.TakeLast(Math.Max(0, tail))];
        var next = lines.Count > 0 ? lines[^1].Number + 1 : r.From ?? switches.LogSince(0).LastOrDefault()?.Number + 1 ?? 0;
        var running = !r.Previous && run.Process is not null && ReferenceEquals(run.Process.Switches, switches) && !_terminating;
        return new PodLogResponse([.. lines.Select(l => new PodLogEntry(l.Time, l.Text))], next, running, Instance: run.Status.RestartCount);
    }

    /// <summary>A command run in a container gets this long (a wget to a Service that does not answer, say).</summary>
    private static readonly TimeSpan ExecTimeout = TimeSpan.FromSeconds(10);

    /// <summary>The container a request names (or the only one), or kube-apiserver's words for why not.</summary>
    private ContainerRun? ContainerFor(string? name, out string? error)
    {
        error = null;
        if (name is { Length: > 0 })
        {
            var run = _containers.FirstOrDefault(c => c.Spec.Name == name);
            if (run is null) error = $"container {name} is not valid for pod {_pod.Metadata.Name}";
            return run;
        }
        if (_containers.Count == 1) return _containers[0];
        error = $"a container name must be specified for pod {_pod.Metadata.Name}, choose one of: [{string.Join(" ", _containers.Select(c => c.Spec.Name))}]";
        return null;
    }

    /// <summary>Go's time.Duration.String() for whole seconds: 10s, 1m20s, 5m0s.</summary>
    private static string GoDuration(TimeSpan d) =>
        d.TotalSeconds < 60 ? $"{(int)d.TotalSeconds}s" : $"{(int)d.TotalMinutes}m{d.Seconds}s";

    private static DateTime ObjectMetaTime(DateTime t) => new(t.Ticks - t.Ticks % TimeSpan.TicksPerSecond, DateTimeKind.Utc);

    /// <summary>The pod's status from its containers; reported when it changed.</summary>
    private void UpdateStatus()
    {
        var status = BuildStatus();
        if (KubeObjects.SemanticEquals(status, _status)) return;
        _status = status;
        _statusAcknowledged = false;
        SendStatus();
    }

    private V1PodStatus BuildStatus()
    {
        var now = ObjectMetaTime(DateTime.UtcNow);
        var statuses = _containers.Select(r => KubeObjects.Clone(r.Status)).ToList();
        var allReady = statuses.All(s => s.Ready);
        var notReady = statuses.Where(s => !s.Ready).Select(s => s.Name).ToList();
        V1PodCondition Condition(string type, bool ok)
        {
            var status = ok ? "True" : "False";
            var old = _status.Conditions?.FirstOrDefault(c => c.Type == type);
            return new V1PodCondition
            {
                Type = type, Status = status, LastTransitionTime = old?.Status == status ? old.LastTransitionTime : now,
                Reason = ok || type == "Initialized" ? null : "ContainersNotReady",
                Message = ok || type == "Initialized" ? null : $"containers with unready status: [{string.Join(" ", notReady)}]",
            };
        }
        var everRan = statuses.All(s => s.State?.Running is not null || s.LastState?.Terminated is not null || s.State?.Terminated is not null);
        var allTerminated = statuses.All(s => s.State?.Terminated is not null);
        var phase = !everRan ? "Pending"
            : allTerminated ? (statuses.All(s => s.State!.Terminated!.ExitCode == 0) ? "Succeeded" : "Failed")
            : "Running";
        return new V1PodStatus
        {
            Phase = phase,
            HostIP = _hostIP,
            HostIPs = [new V1HostIP { Ip = _hostIP }],
            PodIP = _ip,
            PodIPs = [new V1PodIP { Ip = _ip }],
            StartTime = _status.StartTime ?? now,
            Conditions = [Condition("Initialized", true), Condition("Ready", allReady), Condition("ContainersReady", allReady)],
            ContainerStatuses = statuses,
        };
    }
}
