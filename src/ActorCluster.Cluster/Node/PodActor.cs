using ActorCluster.Cluster.ApiServer;
using ActorCluster.Cluster.Workloads;
using ActorCluster.Core.Objects;
using Akka.Actor;
using Akka.Event;
using k8s.Models;

namespace ActorCluster.Cluster.Node;

/// <summary>
/// One pod on its node (kubelet's pod worker): starts the containers' workloads on the pod IP, reports the
/// pod's status until the ApiServer has it, and on deletion stops gracefully and confirms.
/// </summary>
public sealed class PodActor : ReceiveActor, IWithTimers
{
    private readonly ILoggingAdapter _log = Context.GetLogger();
    private readonly IActorRef _apiServer;
    private readonly string _ip;
    private readonly string _nodeName;
    private readonly string _hostIP;
    private readonly List<IWorkload> _workloads = [];
    private V1Pod _pod;
    private V1PodStatus _status = new();
    private bool _statusAcknowledged;
    private bool _terminating;

    private readonly TimeSpan _statusResendInterval;

    public PodActor(V1Pod pod, string ip, string nodeName, string hostIP, IActorRef apiServer, TimeSpan statusResendInterval)
    {
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
            var self = Self;
            var workloads = _workloads.ToList();
            Task.WhenAll(workloads.Select(w => w.StopAsync(t.GracePeriod)))
                .ContinueWith(_ => (object)StoppedWorkloads.Instance, TaskScheduler.Default)
                .PipeTo(self);
        });
        Receive<StoppedWorkloads>(_ =>
        {
            _workloads.Clear();
            ConfirmTerminated();
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
        Receive<ResendStatus>(_ =>
        {
            if (_terminating) ConfirmTerminated();
            else if (!_statusAcknowledged) SendStatus();
        });
    }

    public ITimerScheduler Timers { get; set; } = null!;

    public static Props Props(V1Pod pod, string ip, string nodeName, string hostIP, IActorRef apiServer, TimeSpan? statusResendInterval = null) =>
        Akka.Actor.Props.Create(() => new PodActor(pod, ip, nodeName, hostIP, apiServer, statusResendInterval ?? TimeSpan.FromSeconds(2)));

    private sealed record StoppedWorkloads
    {
        public static readonly StoppedWorkloads Instance = new();
    }

    private sealed record ResendStatus
    {
        public static readonly ResendStatus Instance = new();
    }

    protected override void PreStart()
    {
        _status = StartContainers();
        SendStatus();
        // Reports go to a singleton that may be moving; repeat until acknowledged.
        Timers.StartPeriodicTimer("resend", ResendStatus.Instance, _statusResendInterval);
    }

    protected override void PostStop()
    {
        foreach (var w in _workloads) _ = w.DisposeAsync().AsTask();
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

    /// <summary>Starts each container's workload and describes the outcome as kubelet would.</summary>
    private V1PodStatus StartContainers()
    {
        var now = DateTime.UtcNow;
        var identity = new PodIdentity(_pod.Metadata.Name, _pod.Metadata.NamespaceProperty, _ip, _nodeName);
        var statuses = new List<V1ContainerStatus>();
        foreach (var c in _pod.Spec.Containers)
        {
            var status = new V1ContainerStatus
            {
                Name = c.Name, Image = c.Image, ImageID = "", RestartCount = 0, Ready = false, Started = false,
                ContainerID = $"actorcluster://{_pod.Metadata.Uid}/{c.Name}",
            };
            if (!KubetmApp.IsImage(c.Image))
            {
                var why = $"image \"{c.Image}\" is not available: ActorCluster runs the built-in image {KubetmApp.Image} only";
                status.ContainerID = null;
                status.State = new V1ContainerState { Waiting = new V1ContainerStateWaiting { Reason = "ErrImagePull", Message = why } };
                statuses.Add(status);
                // kubelet's events for a pull that fails, naming the image that does exist.
                RecordEvent(c, "Normal", "Pulling", $"Pulling image \"{c.Image}\"");
                RecordEvent(c, "Warning", "Failed", $"Failed to pull image \"{c.Image}\": {why}");
                RecordEvent(c, "Warning", "Failed", "Error: ErrImagePull");
                continue;
            }
            try
            {
                foreach (var port in c.Ports ?? [])
                {
                    if (port.Protocol is null or "TCP") _workloads.Add(KubetmApp.Start(identity, port.ContainerPort));
                    else if (port.Protocol == "UDP") _workloads.Add(KubetmUdp.Start(identity, port.ContainerPort));
                }
                status.ImageID = "actorcluster://" + KubetmApp.Image;
                status.Ready = true;
                status.Started = true;
                status.State = new V1ContainerState { Running = new V1ContainerStateRunning { StartedAt = now } };
                RecordEvent(c, "Normal", "Pulled", $"Container image \"{c.Image}\" already present on machine");
                RecordEvent(c, "Normal", "Created", $"Created container: {c.Name}");
                RecordEvent(c, "Normal", "Started", $"Started container {c.Name}");
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
            statuses.Add(status);
        }

        var allReady = statuses.All(s => s.Ready);
        var notReady = statuses.Where(s => !s.Ready).Select(s => s.Name).ToList();
        V1PodCondition Condition(string type, bool ok) => new()
        {
            Type = type, Status = ok ? "True" : "False", LastTransitionTime = now,
            Reason = ok || type == "Initialized" ? null : "ContainersNotReady",
            Message = ok || type == "Initialized" ? null : $"containers with unready status: [{string.Join(" ", notReady)}]",
        };
        return new V1PodStatus
        {
            Phase = allReady ? "Running" : "Pending",
            HostIP = _hostIP,
            HostIPs = [new V1HostIP { Ip = _hostIP }],
            PodIP = _ip,
            PodIPs = [new V1PodIP { Ip = _ip }],
            StartTime = now,
            Conditions = [Condition("Initialized", true), Condition("Ready", allReady), Condition("ContainersReady", allReady)],
            ContainerStatuses = statuses,
        };
    }
}
