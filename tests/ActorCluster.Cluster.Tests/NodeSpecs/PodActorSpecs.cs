using ActorCluster.Cluster.ApiServer;
using ActorCluster.Cluster.Node;
using Akka.Actor;
using Akka.TestKit.Xunit2;
using k8s.Models;

namespace ActorCluster.Cluster.Tests.NodeSpecs;

/// <summary>
/// One PodActor alone, with a probe as the ApiServer: it starts the pod's workload on the pod's address (a real
/// socket on 127.0.20.0/24), reports the status until acknowledged, carries proxy requests to the workload, and on
/// termination stops it and confirms.
/// </summary>
public sealed class PodActorSpecs() : TestKit("akka.loglevel = WARNING", "pod-actor-spec-" + Guid.NewGuid().ToString("N"))
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan Retry = TimeSpan.FromMilliseconds(100);

    private static V1Pod Pod(string name, string image = "kubetm/app") => new()
    {
        ApiVersion = "v1", Kind = "Pod",
        Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = "default", Uid = "uid-" + name },
        Spec = new V1PodSpec
        {
            NodeName = "k8s-worker1",
            Containers = [new V1Container { Name = "app", Image = image, Ports = [new V1ContainerPort { ContainerPort = 8080 }] }],
        },
    };

    private static Corev1Event Event(CreateObject create)
    {
        Assert.Equal(("events", "default"), (create.Resource, create.Namespace));
        return ActorCluster.Core.Objects.KubeObjects.FromJson<Corev1Event>(create.Json);
    }

    [Fact]
    public void Starts_the_workload_reports_Running_until_acknowledged_and_carries_proxy_requests()
    {
        var apiServer = CreateTestProbe();
        var pod = ChildActorOf(PodActor.Props(Pod("pod-a"), "127.0.20.2", "k8s-worker1", "127.0.20.1", apiServer.Ref, Retry));
        // kubelet's events for the container, then the status.
        Assert.Equal(
            [("Normal", "Pulled", "Container image \"kubetm/app\" already present on machine"), ("Normal", "Created", "Created container: app"), ("Normal", "Started", "Started container app")],
            Enumerable.Range(0, 3).Select(_ => Event(apiServer.ExpectMsg<CreateObject>(Wait))).Select(e => (e.Type, e.Reason, e.Message)));
        var report = apiServer.ExpectMsg<ReportPodStatus>(Wait);
        Assert.Equal(("default", "pod-a", "uid-pod-a"), (report.Namespace, report.Name, report.Uid));
        Assert.Contains("\"phase\":\"Running\"", report.StatusJson, StringComparison.Ordinal);
        Assert.Contains("\"podIP\":\"127.0.20.2\"", report.StatusJson, StringComparison.Ordinal);
        // Not acknowledged: said again (the ApiServer may be moving); acknowledged: quiet.
        apiServer.ExpectMsg<ReportPodStatus>(Wait);
        pod.Tell(new Acknowledged(1), apiServer.Ref);
        // A retry the pod sent before it read the acknowledgement may still arrive (a busy machine lets the timer
        // fire in between): once the pod has answered a message sent after the acknowledgement, every report it
        // made before is in the probe's queue. Those are drained; none may follow.
        pod.Tell(new Identify("acknowledged"));
        ExpectMsg<ActorIdentity>(Wait);
        while (apiServer.HasMessages) apiServer.ExpectMsg<ReportPodStatus>(Wait);
        apiServer.ExpectNoMsg(Retry * 3);

        pod.Tell(new PodProxyRequest(8080, "GET", "/hostname", null, []));
        var answer = ExpectMsg<PodProxyResponse>(Wait);
        Assert.Equal((200, "default/pod-a", "pod-a\n"), (answer.Status, answer.Pod, System.Text.Encoding.ASCII.GetString(answer.Body)));
        Assert.Equal(pod, LastSender);
        // A port nothing listens on: an answer saying so, not a timeout.
        pod.Tell(new PodProxyRequest(8081, "GET", "/", null, []));
        var refused = ExpectMsg<PodProxyResponse>(Wait);
        Assert.Equal(0, refused.Status);
        Assert.NotNull(refused.Error);
    }

    [Fact]
    public void On_termination_stops_the_workload_confirms_and_frees_its_address()
    {
        var apiServer = CreateTestProbe();
        var pod = ChildActorOf(PodActor.Props(Pod("pod-b"), "127.0.20.3", "k8s-worker1", "127.0.20.1", apiServer.Ref, Retry));
        apiServer.FishForMessage<ReportPodStatus>(_ => true, Wait);
        Watch(pod);
        pod.Tell(new TerminatePod(TimeSpan.FromSeconds(1)));
        var confirm = apiServer.FishForMessage<ConfirmPodTerminated>(_ => true, Wait);
        Assert.Equal("uid-pod-b", confirm.Uid);
        pod.Tell(new Acknowledged(2), apiServer.Ref);
        Assert.Equal(new PodActorFinished("uid-pod-b", "127.0.20.3"), FishForMessage<PodActorFinished>(_ => true, Wait));
        ExpectTerminated(pod, Wait);
        using var again = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
        again.Bind(new System.Net.IPEndPoint(System.Net.IPAddress.Parse("127.0.20.3"), 8080)); // the workload's port is free
    }

    [Fact]
    public void An_image_it_cannot_run_is_reported_as_kubelet_reports_it()
    {
        var apiServer = CreateTestProbe();
        ChildActorOf(PodActor.Props(Pod("pod-c", image: "nginx"), "127.0.20.4", "k8s-worker1", "127.0.20.1", apiServer.Ref, Retry));
        var events = Enumerable.Range(0, 3).Select(_ => Event(apiServer.ExpectMsg<CreateObject>(Wait))).ToList();
        Assert.Equal([("Normal", "Pulling"), ("Warning", "Failed"), ("Warning", "Failed")], events.Select(e => (e.Type, e.Reason)));
        // The Event says which image there is.
        Assert.Equal("Failed to pull image \"nginx\": image \"nginx\" is not available: ActorCluster runs the built-in image kubetm/app only", events[1].Message);
        Assert.Equal("Error: ErrImagePull", events[2].Message);
        Assert.All(events, e => Assert.Equal(("Pod", "pod-c", "uid-pod-c", "spec.containers{app}", "kubelet", "k8s-worker1"),
            (e.InvolvedObject.Kind, e.InvolvedObject.Name, e.InvolvedObject.Uid, e.InvolvedObject.FieldPath, e.Source.Component, e.Source.Host)));
        var report = apiServer.ExpectMsg<ReportPodStatus>(Wait);
        Assert.Contains("\"reason\":\"ErrImagePull\"", report.StatusJson, StringComparison.Ordinal);
        Assert.Contains("\"phase\":\"Pending\"", report.StatusJson, StringComparison.Ordinal);
    }

    private static V1Pod Probed(string name, V1Probe? readiness = null, V1Probe? liveness = null)
    {
        var pod = Pod(name);
        pod.Spec.Containers[0].ReadinessProbe = readiness;
        pod.Spec.Containers[0].LivenessProbe = liveness;
        return pod;
    }

    private static V1Probe Http(string path, int failureThreshold = 1) => new()
    {
        HttpGet = new V1HTTPGetAction { Path = path, Port = 8080 }, PeriodSeconds = 1, TimeoutSeconds = 1, FailureThreshold = failureThreshold,
    };

    private static V1PodStatus Status(ReportPodStatus report) => ActorCluster.Core.Objects.KubeObjects.FromJson<V1PodStatus>(report.StatusJson);

    private static bool Ready(V1PodStatus status) => status.Conditions.Single(c => c.Type == "Ready").Status == "True";

    /// <summary>The next status report that satisfies <paramref name="condition"/> (the Events in between are collected).</summary>
    private V1PodStatus NextStatus(Akka.TestKit.TestProbe apiServer, Func<V1PodStatus, bool> condition, List<Corev1Event> events) =>
        Status((ReportPodStatus)apiServer.FishForMessage(m =>
        {
            if (m is CreateObject create) events.Add(Event(create));
            return m is ReportPodStatus r && condition(Status(r));
        }, Wait));

    [Fact]
    public void A_readiness_probe_decides_whether_the_pod_is_ready()
    {
        var apiServer = CreateTestProbe();
        var events = new List<Corev1Event>();
        var pod = ChildActorOf(PodActor.Props(Probed("pod-r", readiness: Http("/ready")), "127.0.20.5", "k8s-worker1", "127.0.20.1", apiServer.Ref, Retry));
        // Not ready until the probe has succeeded once.
        Assert.False(Ready(NextStatus(apiServer, _ => true, events)));
        NextStatus(apiServer, Ready, events);

        pod.Tell(new PodProxyRequest(8080, "POST", "/unready", null, []));
        var unready = NextStatus(apiServer, s => !Ready(s), events);
        Assert.Equal("containers with unready status: [app]", unready.Conditions.Single(c => c.Type == "Ready").Message);
        Assert.False(unready.ContainerStatuses.Single().Ready);
        Assert.Equal("Running", unready.Phase);
        Assert.Contains(events, e => e.Reason == "Unhealthy" && e.Message == "Readiness probe failed: HTTP probe failed with statuscode: 503");

        pod.Tell(new PodProxyRequest(8080, "POST", "/ready", null, []));
        Assert.Equal(0, NextStatus(apiServer, Ready, events).ContainerStatuses.Single().RestartCount);
    }

    [Fact]
    public void A_failed_liveness_probe_restarts_the_container_and_repeated_crashes_back_off()
    {
        var apiServer = CreateTestProbe();
        var events = new List<Corev1Event>();
        var pod = ChildActorOf(PodActor.Props(Probed("pod-l", liveness: Http("/health", failureThreshold: 2)), "127.0.20.6", "k8s-worker1", "127.0.20.1", apiServer.Ref, Retry));
        NextStatus(apiServer, Ready, events);

        pod.Tell(new PodProxyRequest(8080, "POST", "/unhealthy", null, []));
        ExpectMsg<PodProxyResponse>(Wait);
        // Killed after two failures in a row and started again at once (the first restart has no back-off).
        var restarted = NextStatus(apiServer, s => s.ContainerStatuses.Single().RestartCount == 1, events);
        var container = restarted.ContainerStatuses.Single();
        Assert.Equal((137, "Error"), (container.LastState.Terminated.ExitCode, container.LastState.Terminated.Reason));
        Assert.NotNull(container.State.Running);
        Assert.Contains(events, e => e.Reason == "Killing" && e.Message == "Container app failed liveness probe, will be restarted");
        Assert.Contains(events, e => e.Reason == "Unhealthy" && e.Message == "Liveness probe failed: HTTP probe failed with statuscode: 500");
        // The new container is healthy again and answers.
        pod.Tell(new PodProxyRequest(8080, "GET", "/health", null, []));
        Assert.Equal(200, ExpectMsg<PodProxyResponse>(Wait).Status);

        // A crash: this time kubelet waits (CrashLoopBackOff, 10 s) before starting it again.
        pod.Tell(new PodProxyRequest(8080, "POST", "/crash", null, []));
        var backingOff = NextStatus(apiServer, s => s.ContainerStatuses.Single().State.Waiting is not null, events).ContainerStatuses.Single();
        Assert.Equal("CrashLoopBackOff", backingOff.State.Waiting.Reason);
        Assert.Equal("back-off 10s restarting failed container=app pod=pod-l_default(uid-pod-l)", backingOff.State.Waiting.Message);
        Assert.Equal((1, 1), (backingOff.LastState.Terminated.ExitCode, backingOff.RestartCount));
        Assert.Contains(events, e => e.Reason == "BackOff" && e.Message == "Back-off restarting failed container app in pod pod-l_default(uid-pod-l)");
    }

    [Fact]
    public void A_container_whose_ConfigMap_is_missing_waits_in_CreateContainerConfigError_and_starts_once_it_exists()
    {
        var apiServer = CreateTestProbe();
        var spec = Pod("pod-env");
        spec.Spec.Containers[0].Env = [new V1EnvVar { Name = "COLOUR", ValueFrom = new V1EnvVarSource { ConfigMapKeyRef = new V1ConfigMapKeySelector { Name = "cfg", Key = "colour" } } }];
        var pod = ChildActorOf(PodActor.Props(spec, "127.0.20.7", "k8s-worker1", "127.0.20.1", apiServer.Ref, Retry, configRetryInterval: Retry));

        // The ConfigMap is asked for (a node's replica holds none); not there: kubelet's error, and no container.
        var get = apiServer.FishForMessage<GetObject>(_ => true, Wait);
        Assert.Equal(("configmaps", "default", "cfg"), (get.Resource, get.Namespace, get.Name));
        apiServer.Reply(new ApiErrorReply(404, "{}"));
        var failed = Event(apiServer.FishForMessage<CreateObject>(c => c.Resource == "events", Wait));
        Assert.Equal(("Warning", "Failed", "Error: configmap \"cfg\" not found"), (failed.Type, failed.Reason, failed.Message));
        var waiting = apiServer.FishForMessage<ReportPodStatus>(r => r.StatusJson.Contains("CreateContainerConfigError", StringComparison.Ordinal), Wait);
        Assert.Contains("\"phase\":\"Pending\"", waiting.StatusJson, StringComparison.Ordinal);
        var state = ActorCluster.Core.Objects.KubeObjects.FromJson<V1PodStatus>(waiting.StatusJson).ContainerStatuses[0].State.Waiting;
        Assert.Equal(("CreateContainerConfigError", "configmap \"cfg\" not found"), (state.Reason, state.Message));

        // Asked again after the retry interval: now it exists, and the container starts with the value.
        var again = apiServer.FishForMessage<GetObject>(_ => true, Wait);
        Assert.Equal("cfg", again.Name);
        var cm = new V1ConfigMap { ApiVersion = "v1", Kind = "ConfigMap", Metadata = new V1ObjectMeta { Name = "cfg", NamespaceProperty = "default" }, Data = new Dictionary<string, string> { ["colour"] = "blue" } };
        apiServer.Reply(new ObjectReply("configmaps", ActorCluster.Core.Objects.KubeObjects.ToJson(cm), 7));
        apiServer.FishForMessage<ReportPodStatus>(r => r.StatusJson.Contains("\"phase\":\"Running\"", StringComparison.Ordinal), Wait);
        pod.Tell(new PodExecRequest(null, ["env"]));
        Assert.Contains("COLOUR=blue\n", ExpectMsg<PodExecResponse>(Wait).Stdout, StringComparison.Ordinal);
    }

    [Fact]
    public void Mounted_ConfigMap_files_follow_the_ConfigMap_while_the_pod_runs()
    {
        var apiServer = CreateTestProbe();
        var spec = Pod("pod-vol");
        spec.Spec.Volumes = [new V1Volume { Name = "cfg", ConfigMap = new V1ConfigMapVolumeSource { Name = "cfg" } }];
        spec.Spec.Containers[0].VolumeMounts = [new V1VolumeMount { Name = "cfg", MountPath = "/etc/cfg" }];
        var pod = ChildActorOf(PodActor.Props(spec, "127.0.20.8", "k8s-worker1", "127.0.20.1", apiServer.Ref, Retry, configRetryInterval: Retry, sourcesRefreshInterval: Retry));
        V1ConfigMap Version(string colour) => new()
        {
            ApiVersion = "v1", Kind = "ConfigMap", Metadata = new V1ObjectMeta { Name = "cfg", NamespaceProperty = "default" },
            Data = new Dictionary<string, string> { ["colour"] = colour },
        };
        apiServer.FishForMessage<GetObject>(g => g.Name == "cfg", Wait);
        apiServer.Reply(new ObjectReply("configmaps", ActorCluster.Core.Objects.KubeObjects.ToJson(Version("blue")), 1));
        apiServer.FishForMessage<ReportPodStatus>(r => r.StatusJson.Contains("\"phase\":\"Running\"", StringComparison.Ordinal), Wait);
        pod.Tell(new PodExecRequest(null, ["cat", "/etc/cfg/colour"]));
        Assert.Equal("blue", ExpectMsg<PodExecResponse>(Wait).Stdout);

        // The next periodic read finds it changed: the file follows (the answer travels back through the ask, so
        // the actor is asked until it has applied it).
        apiServer.FishForMessage<GetObject>(g => g.Name == "cfg", Wait);
        apiServer.Reply(new ObjectReply("configmaps", ActorCluster.Core.Objects.KubeObjects.ToJson(Version("green")), 2));
        AwaitAssert(() =>
        {
            pod.Tell(new PodExecRequest(null, ["cat", "/etc/cfg/colour"]));
            Assert.Equal("green", ExpectMsg<PodExecResponse>(Wait).Stdout);
        }, Wait, Retry);
    }

    [Fact]
    public async Task A_restarted_container_reads_its_ConfigMap_again()
    {
        var apiServer = CreateTestProbe();
        var spec = Pod("pod-restart");
        spec.Spec.Containers[0].Env = [new V1EnvVar { Name = "COLOUR", ValueFrom = new V1EnvVarSource { ConfigMapKeyRef = new V1ConfigMapKeySelector { Name = "cfg", Key = "colour" } } }];
        var pod = ChildActorOf(PodActor.Props(spec, "127.0.20.9", "k8s-worker1", "127.0.20.1", apiServer.Ref, Retry, configRetryInterval: Retry));
        ObjectReply Version(string colour) => new("configmaps", ActorCluster.Core.Objects.KubeObjects.ToJson(new V1ConfigMap
        {
            ApiVersion = "v1", Kind = "ConfigMap", Metadata = new V1ObjectMeta { Name = "cfg", NamespaceProperty = "default" },
            Data = new Dictionary<string, string> { ["colour"] = colour },
        }), 1);
        apiServer.FishForMessage<GetObject>(g => g.Name == "cfg", Wait);
        apiServer.Reply(Version("blue"));
        apiServer.FishForMessage<ReportPodStatus>(r => r.StatusJson.Contains("\"phase\":\"Running\"", StringComparison.Ordinal), Wait);
        pod.Tell(new PodExecRequest(null, ["env"]));
        Assert.Contains("COLOUR=blue\n", ExpectMsg<PodExecResponse>(Wait).Stdout, StringComparison.Ordinal);

        // The container crashes; kubelet makes the next one from the ConfigMap as it is now.
        using (var http = new HttpClient { Timeout = Wait })
            await http.PostAsync("http://127.0.20.9:8080/crash", null);
        apiServer.FishForMessage<GetObject>(g => g.Name == "cfg", Wait);
        apiServer.Reply(Version("green"));
        apiServer.FishForMessage<ReportPodStatus>(r => r.StatusJson.Contains("\"restartCount\":1", StringComparison.Ordinal)
                                                       && r.StatusJson.Contains("\"running\"", StringComparison.Ordinal), Wait);
        pod.Tell(new PodExecRequest(null, ["env"]));
        Assert.Contains("COLOUR=green\n", ExpectMsg<PodExecResponse>(Wait).Stdout, StringComparison.Ordinal);
    }
}
