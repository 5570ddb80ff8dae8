using System.Diagnostics;
namespace ActorCluster.Api.Tests;

/// <summary>
/// Deployments and ReplicaSets with the real kubectl (v1.32), as a user reaches for them after the walkthrough:
/// <c>create deployment</c> (sent as protobuf), <c>get -o wide</c>, <c>rollout status|history|undo|restart</c>,
/// <c>scale</c> (the scale subresource), <c>set image</c>, <c>describe</c>, and deletion with and without cascade.
/// </summary>
public sealed class KubectlWorkloadTests(ApiCluster c) : IClassFixture<ApiCluster>
{
    [SkippableFact]
    public async Task A_deployment_is_created_rolled_out_scaled_updated_undone_and_restarted()
    {
        Assert.Matches(@"(?m)^deployments\s+deploy\s+apps/v1\s+true\s+Deployment$", await c.Ok("api-resources"));
        Assert.Equal("deployment.apps/web created\n", await c.Ok("create", "deployment", "web", "--image=kubetm/app", "--replicas=3", "--port=8080"));
        Assert.EndsWith("deployment \"web\" successfully rolled out\n", await c.Ok("rollout", "status", "deployment/web", "--timeout=60s"), StringComparison.Ordinal);

        var wide = await c.Ok("get", "deploy,rs", "-o", "wide");
        Assert.Matches(@"(?m)^NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE\s+CONTAINERS\s+IMAGES\s+SELECTOR$", wide);
        Assert.Matches(@"(?m)^deployment\.apps/web\s+3/3\s+3\s+3\s+\S+\s+app\s+kubetm/app\s+app=web$", wide);
        Assert.Matches(@"(?m)^NAME\s+DESIRED\s+CURRENT\s+READY\s+AGE\s+CONTAINERS\s+IMAGES\s+SELECTOR$", wide);
        var first = System.Text.RegularExpressions.Regex.Match(wide, @"(?m)^replicaset\.apps/(web-(\w+))\s+3\s+3\s+3\s+\S+\s+app\s+kubetm/app\s+app=web,pod-template-hash=(\w+)$");
        Assert.True(first.Success, wide);
        Assert.Equal(first.Groups[2].Value, first.Groups[3].Value);
        var pods = await c.Ok("get", "pods", "-l", "app=web", "-o", "wide");
        Assert.Equal(3, System.Text.RegularExpressions.Regex.Matches(pods, $@"(?m)^{first.Groups[1].Value}-\w{{5}}\s+1/1\s+Running\s+0\s").Count);
        // The three spread over the three nodes, as the scheduler spreads them.
        Assert.Equal(3, System.Text.RegularExpressions.Regex.Matches(pods, @"k8s-worker(\d)").Select(m => m.Groups[1].Value).Distinct().Count());

        Assert.Equal("deployment.apps/web scaled\n", await c.Ok("scale", "deployment", "web", "--replicas=4"));
        await c.Ok("rollout", "status", "deployment/web", "--timeout=60s");
        Assert.Matches(@"(?m)^web\s+4/4\s+4\s+4\s", await c.Ok("get", "deploy", "web"));
        Assert.Equal("4", await c.Ok("get", "deployment", "web", "--subresource=scale", "-o", "jsonpath={.spec.replicas}"));
        Assert.Matches(@"(?m)^NAME\s+DESIRED\s+AVAILABLE\nweb\s+4\s+4\n", await c.Ok("get", "deployment", "web", "--subresource=scale"));

        Assert.Equal("deployment.apps/web image updated\n", await c.Ok("set", "image", "deployment/web", "app=kubetm/app:v2"));
        await c.Ok("rollout", "status", "deployment/web", "--timeout=60s");
        Assert.Matches(@"(?m)^web\s+4/4\s+4\s+4\s+\S+\s+app\s+kubetm/app:v2\s", await c.Ok("get", "deploy", "web", "-o", "wide"));
        Assert.Matches(@"(?m)^REVISION\s+CHANGE-CAUSE\n1\s+<none>\n2\s+<none>\n", await c.Ok("rollout", "history", "deployment/web"));

        Assert.Equal("deployment.apps/web rolled back\n", await c.Ok("rollout", "undo", "deployment/web"));
        await c.Ok("rollout", "status", "deployment/web", "--timeout=60s");
        // The first ReplicaSet serves again, now as revision 3.
        Assert.Matches($@"(?m)^{first.Groups[1].Value}\s+4\s+4\s+4\s", await c.Ok("get", "rs"));
        Assert.Matches(@"(?m)^REVISION\s+CHANGE-CAUSE\n2\s+<none>\n3\s+<none>\n", await c.Ok("rollout", "history", "deployment/web"));

        Assert.Equal("deployment.apps/web restarted\n", await c.Ok("rollout", "restart", "deployment/web"));
        await c.Ok("rollout", "status", "deployment/web", "--timeout=60s");
        var described = await c.Ok("describe", "deployment", "web");
        Assert.Matches(@"(?m)^Replicas:\s+4 desired \| 4 updated \| 4 total \| 4 available \| 0 unavailable$", described);
        Assert.Matches(@"(?m)^RollingUpdateStrategy:\s+25% max unavailable, 25% max surge$", described);
        Assert.Matches(@"(?m)^  Annotations:\s+kubectl\.kubernetes\.io/restartedAt: ", described);
        Assert.Matches(@"(?m)^  Available\s+True\s+MinimumReplicasAvailable$", described);
        Assert.Matches(@"(?m)^  Progressing\s+True\s+NewReplicaSetAvailable$", described);
        Assert.Matches(@"(?m)^NewReplicaSet:\s+web-\w+ \(4/4 replicas created\)$", described);
        Assert.Matches(@"(?m)^  Normal  ScalingReplicaSet  \S+\s+deployment-controller  Scaled up replica set web-\w+ from 0 to 3$", described);
        Assert.Matches(@"(?m)^Annotations:\s+deployment\.kubernetes\.io/revision: 4$", described);
    }

    [SkippableFact]
    public async Task A_deleted_pod_comes_back_and_deletion_cascades_unless_orphaned()
    {
        await c.Ok("create", "deployment", "heal", "--image=kubetm/app", "--replicas=2");
        await c.Ok("rollout", "status", "deployment/heal", "--timeout=60s");
        var victim = (await c.Ok("get", "pods", "-l", "app=heal", "-o", "jsonpath={.items[0].metadata.name}")).Trim();
        await c.Ok("delete", "pod", victim, "--wait=true");
        await Cluster.Tests.TestCluster.Eventually(async () =>
        {
            var names = (await c.Ok("get", "pods", "-l", "app=heal", "--field-selector=status.phase=Running", "-o", "name")).Split('\n', StringSplitOptions.RemoveEmptyEntries);
            return names.Length == 2 && !names.Contains($"pod/{victim}");
        }, TimeSpan.FromSeconds(60), "a replacement for the deleted pod");

        // --cascade=orphan leaves the ReplicaSet and its pods, without an owner.
        Assert.Equal("deployment.apps \"heal\" deleted\n", await c.Ok("delete", "deployment", "heal", "--cascade=orphan"));
        Assert.Matches(@"(?m)^heal-\w+\s+2\s+2\s+2\s", await c.Ok("get", "rs", "-l", "app=heal"));
        Assert.Equal("", await c.Ok("get", "rs", "-l", "app=heal", "-o", "jsonpath={.items[0].metadata.ownerReferences}"));
        // Deleting the ReplicaSet now takes its pods (background propagation).
        await c.Ok("delete", "rs", "-l", "app=heal", "--wait=true");
        await Cluster.Tests.TestCluster.Eventually(async () => (await c.Ok("get", "pods", "-l", "app=heal", "-o", "name")).Length == 0,
            TimeSpan.FromSeconds(60), "the orphaned pods deleted with their ReplicaSet");
    }

    [SkippableFact]
    public async Task Invalid_deployments_and_scales_are_refused_as_kube_apiserver_refuses_them()
    {
        var manifest = ApiCluster.File("""
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: bad}
            spec:
              replicas: -1
              selector: {matchLabels: {app: bad}}
              template:
                metadata: {labels: {app: other}}
                spec: {containers: [{name: app, image: kubetm/app}]}
            """);
        var refused = await c.Run("apply", "-f", manifest);
        Assert.NotEqual(0, refused.ExitCode);
        Assert.Contains("The Deployment \"bad\" is invalid: \n* spec.replicas: Invalid value: -1: must be greater than or equal to 0\n"
                        + "* spec.template.metadata.labels: Invalid value: map[string]string{\"app\":\"other\"}: `selector` does not match template `labels`", refused.Stderr, StringComparison.Ordinal);
        var notFound = await c.Run("get", "deployment", "bad");
        Assert.Contains("Error from server (NotFound): deployments.apps \"bad\" not found", notFound.Stderr, StringComparison.Ordinal);
        var scale = await c.Run("scale", "deployment", "bad", "--replicas=2");
        Assert.Contains("deployments.apps \"bad\" not found", scale.Stderr, StringComparison.Ordinal);

        await c.Ok("create", "deployment", "fixed", "--image=kubetm/app");
        var patched = await c.Run("patch", "deployment", "fixed", "-p", """{"spec":{"selector":{"matchLabels":{"app":"other"}},"template":{"metadata":{"labels":{"app":"other"}}}}}""");
        Assert.Contains("spec.selector: Invalid value: &v1.LabelSelector{MatchLabels:map[string]string{\"app\":\"other\"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable", patched.Stderr, StringComparison.Ordinal);
        var negative = await c.Run("patch", "deployment", "fixed", "--subresource=scale", "--type=merge", "-p", """{"spec":{"replicas":-3}}""");
        Assert.Contains("The Scale \"fixed\" is invalid: spec.replicas: Invalid value: -3: must be greater than or equal to 0", negative.Stderr, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Logs_show_each_request_follow_streams_them_and_previous_shows_the_container_before_a_restart()
    {
        await c.Ok("apply", "-f", ApiCluster.File("""
            apiVersion: v1
            kind: Pod
            metadata: {name: talker}
            spec:
              containers: [{name: app, image: kubetm/app, ports: [{containerPort: 8080}]}]
            """));
        await c.Ok("wait", "--for=condition=Ready", "pod/talker", "--timeout=60s");
        Assert.Equal("talker", (await c.Ok("get", "--raw", "/api/v1/namespaces/default/pods/talker:8080/proxy/hostname")).Trim());
        var logs = await c.Ok("logs", "talker");
        Assert.Matches(@"(?m)^kubetm/app talker listening on 127\.\d+\.\d+\.\d+:8080/TCP$", logs);
        Assert.Matches(@"(?m)^\S+ GET /hostname 200$", logs);
        Assert.Matches(@"^\S+ GET /hostname 200\n$", await c.Ok("logs", "talker", "--tail=1"));
        Assert.Matches(@"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z \S+ GET /hostname 200\n$", await c.Ok("logs", "talker", "--tail=1", "--timestamps"));

        // -f: lines as they come.
        using (var follow = new BackgroundKubectl(c, new Dictionary<string, string>(), "logs", "-f", "talker", "--tail=0"))
        {
            await Cluster.Tests.TestCluster.Eventually(async () =>
            {
                await c.Ok("get", "--raw", "/api/v1/namespaces/default/pods/talker:8080/proxy/client");
                return follow.Output.Contains(" GET /client 200", StringComparison.Ordinal);
            }, TimeSpan.FromSeconds(30), "kubectl logs -f printing a new request");
            Assert.DoesNotContain("GET /hostname", follow.Output, StringComparison.Ordinal);
        }

        var noPrevious = await c.Run("logs", "talker", "--previous");
        Assert.Contains("previous terminated container \"app\" in pod \"talker\" not found", noPrevious.Stderr, StringComparison.Ordinal);
        Assert.Contains("container nope is not valid for pod talker", (await c.Run("logs", "talker", "-c", "nope")).Stderr, StringComparison.Ordinal);
        Assert.Contains("pods \"ghost\" not found", (await c.Run("logs", "ghost")).Stderr, StringComparison.Ordinal);

        // The app crashes (POST /crash): kubelet starts it again, and --previous shows what the first one wrote.
        await c.Ok("create", "--raw", "/api/v1/namespaces/default/pods/talker:8080/proxy/crash", "-f", ApiCluster.File("{}"));
        await Cluster.Tests.TestCluster.Eventually(async () => await c.Ok("get", "pod", "talker", "-o", "jsonpath={.status.containerStatuses[0].restartCount}") == "1",
            TimeSpan.FromSeconds(30), "the container restarted");
        Assert.Matches(@"(?m)^\S+ POST /crash 200$", await c.Ok("logs", "talker", "--previous"));
        Assert.DoesNotContain("POST /crash", await c.Ok("logs", "talker"), StringComparison.Ordinal);
        Assert.Matches(@"(?m)^talker\s+1/1\s+Running\s+1 \(\S+ ago\)\s", await c.Ok("get", "pod", "talker"));
    }

    [SkippableFact]
    public async Task Exec_runs_the_built_in_images_commands_from_the_pods_address_and_passes_on_exit_codes()
    {
        await PodBehindService("shell", "env: [{name: GREETING, value: hello}]");
        Assert.Equal("shell\n", await c.Ok("exec", "shell", "--", "hostname"));
        Assert.Equal("shell\n", await c.Ok("exec", "shell", "-c", "app", "--", "cat", "/etc/hostname"));
        Assert.Contains("GREETING=hello\n", await c.Ok("exec", "shell", "--", "env"), StringComparison.Ordinal);
        // From inside the pod: a ClusterIP answers, and the pod sees its own address as the client.
        var clusterIP = await c.Ok("get", "svc", "shell", "-o", "jsonpath={.spec.clusterIP}");
        var podIP = await c.Ok("get", "pod", "shell", "-o", "jsonpath={.status.podIP}");
        await Cluster.Tests.TestCluster.Eventually(async () => (await c.Run("exec", "shell", "--", "wget", "-qO-", $"http://{clusterIP}:9000/hostname")).Stdout == "shell\n",
            TimeSpan.FromSeconds(30), "the ClusterIP answering from inside the pod");
        Assert.StartsWith(podIP + ":", await c.Ok("exec", "shell", "--", "curl", "-s", $"http://{podIP}:8080/client"), StringComparison.Ordinal);

        var failed = await c.Run("exec", "shell", "--", "false");
        Assert.Equal(1, failed.ExitCode);
        Assert.Contains("command terminated with exit code 1", failed.Stderr, StringComparison.Ordinal);
        var missing = await c.Run("exec", "shell", "--", "ls", "/");
        Assert.Equal(127, missing.ExitCode);
        Assert.Contains("exec: \"ls\": executable file not found in $PATH", missing.Stderr, StringComparison.Ordinal);
        Assert.Contains("container nope is not valid for pod shell", (await c.Run("exec", "shell", "-c", "nope", "--", "hostname")).Stderr, StringComparison.Ordinal);

        // kubectl's SPDY fallback (what it speaks when WebSockets are off or refused): the same answers.
        async Task<ApiCluster.Result> SpdyExec(params string[] args)
        {
            var info = new System.Diagnostics.ProcessStartInfo(ApiCluster.Kubectl()) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            info.Environment["KUBECTL_REMOTE_COMMAND_WEBSOCKETS"] = "false";
            foreach (var a in new[] { "--kubeconfig", c.Api.KubeconfigPath, "--cache-dir", c.CacheDir, "exec", "shell", "--" }.Concat(args)) info.ArgumentList.Add(a);
            return await ApiCluster.RunProcess(info, TimeSpan.FromSeconds(60));
        }
        var spdy = await SpdyExec("hostname");
        Assert.True(spdy.ExitCode == 0, spdy.Output);
        Assert.Equal("shell\n", spdy.Stdout);
        var spdyFailed = await SpdyExec("false");
        Assert.Equal(1, spdyFailed.ExitCode);
        Assert.Contains("command terminated with exit code 1", spdyFailed.Stderr, StringComparison.Ordinal);
        Assert.Contains("executable file not found", (await SpdyExec("ls")).Stderr, StringComparison.Ordinal);
        Assert.Contains("Error from server (NotFound): pods \"ghost\" not found", (await c.Run("exec", "ghost", "--", "hostname")).Stderr, StringComparison.Ordinal);
    }

    /// <summary>A kubetm/app pod labelled app=<paramref name="name"/> on 8080, a Service of the same name on 9000 for it, the pod Ready.</summary>
    [SkippableFact]
    public async Task One_off_pods_run_a_command_to_completion_as_with_busybox()
    {
        // The classic check from inside the cluster: a one-off pod fetching a ClusterIP, its answer in the pod's log.
        await c.Ok("run", "target", "--image=kubetm/app", "--port=8080");
        await c.Ok("wait", "--for=condition=Ready", "pod/target", "--timeout=30s");
        await c.Ok("expose", "pod", "target", "--port=9000", "--target-port=8080");
        var clusterIP = await c.Ok("get", "svc", "target", "-o", "jsonpath={.spec.clusterIP}");
        // The proxies program a new Service within their sync period; only then can the pod's fetch reach it.
        using (var http = new HttpClient { Timeout = TimeSpan.FromSeconds(2) })
            await Cluster.Tests.TestCluster.Eventually(async () =>
            {
                try
                {
                    return (await http.GetStringAsync($"http://{clusterIP}:9000/hostname")).Trim() == "target";
                }
                catch (Exception e) when (e is HttpRequestException or TaskCanceledException)
                {
                    return false;
                }
            }, TimeSpan.FromSeconds(30), "the ClusterIP answering");
        await c.Ok("run", "fetch", "--image=kubetm/app", "--restart=Never", "--", "wget", "-qO-", $"http://{clusterIP}:9000/hostname");
        await c.Ok("wait", "--for=jsonpath={.status.phase}=Succeeded", "pod/fetch", "--timeout=30s");
        Assert.Equal("target\n", await c.Ok("logs", "fetch"));
        Assert.Matches(@"(?m)^fetch\s+0/1\s+Completed\s+0\s", await c.Ok("get", "pod", "fetch"));

        // A command that fails: Failed with its exit code, not restarted under Never.
        await c.Ok("run", "fails", "--image=kubetm/app", "--restart=Never", "--command", "--", "false");
        await c.Ok("wait", "--for=jsonpath={.status.phase}=Failed", "pod/fails", "--timeout=30s");
        Assert.Equal("1 Error", await c.Ok("get", "pod", "fails", "-o", "jsonpath={.status.containerStatuses[0].state.terminated.exitCode} {.status.containerStatuses[0].state.terminated.reason}"));

        // A long sleep keeps the container running; deleting the pod ends it at once (SIGTERM), not after the sleep.
        await c.Ok("run", "sleeper", "--image=kubetm/app", "--", "sleep", "3600");
        await c.Ok("wait", "--for=condition=Ready", "pod/sleeper", "--timeout=30s");
        await c.Ok("delete", "pod", "sleeper", "--timeout=30s");
    }

    [SkippableFact]
    public async Task Jobs_run_their_pods_to_completion_or_to_the_backoff_limit()
    {
        Assert.Equal("job.batch/hello created\n", await c.Ok("create", "job", "hello", "--image=kubetm/app", "--", "echo", "hello from a job"));
        Assert.Equal("job.batch/hello condition met\n", await c.Ok("wait", "--for=condition=complete", "job/hello", "--timeout=30s"));
        Assert.Equal("hello from a job\n", await c.Ok("logs", "job/hello"));
        Assert.Matches(@"(?m)^NAME\s+STATUS\s+COMPLETIONS\s+DURATION\s+AGE\nhello\s+Complete\s+1/1\s+\S+\s+\S+$", await c.Ok("get", "job", "hello"));
        Assert.Matches(@"Normal\s+Completed\s+\S+\s+job-controller\s+Job completed", await c.Ok("describe", "job", "hello"));

        var manifests = ApiCluster.File("""
            apiVersion: batch/v1
            kind: Job
            metadata: {name: three}
            spec:
              completions: 3
              parallelism: 2
              template:
                spec:
                  restartPolicy: Never
                  containers: [{name: w, image: kubetm/app, command: [sleep, "1"]}]
            ---
            apiVersion: batch/v1
            kind: Job
            metadata: {name: doomed}
            spec:
              backoffLimit: 1
              template:
                spec:
                  restartPolicy: Never
                  containers: [{name: w, image: kubetm/app, command: ["false"]}]
            """);
        await c.Ok("apply", "-f", manifests);
        await c.Ok("wait", "--for=condition=complete", "job/three", "--timeout=60s");
        Assert.Equal("3", await c.Ok("get", "job", "three", "-o", "jsonpath={.status.succeeded}"));
        await c.Ok("wait", "--for=condition=failed", "job/doomed", "--timeout=60s");
        Assert.Equal("BackoffLimitExceeded 2", await c.Ok("get", "job", "doomed", "-o", "jsonpath={.status.conditions[0].reason} {.status.failed}"));

        var wrong = ApiCluster.File("""
            apiVersion: batch/v1
            kind: Job
            metadata: {name: wrong}
            spec:
              template:
                spec:
                  containers: [{name: w, image: kubetm/app}]
            """);
        Assert.Contains("The Job \"wrong\" is invalid: spec.template.spec.restartPolicy: Unsupported value: \"Always\": supported values: \"OnFailure\", \"Never\"",
            (await c.Run("apply", "-f", wrong)).Stderr, StringComparison.Ordinal);

        // kubectl deletes a Job's pods with it (propagation Background).
        await c.Ok("delete", "job", "three");
        await Cluster.Tests.TestCluster.Eventually(async () => !(await c.Ok("get", "pods", "-l", "batch.kubernetes.io/job-name=three", "-o", "name")).Contains("pod/", StringComparison.Ordinal),
            TimeSpan.FromSeconds(30), "the job's pods gone with it");
    }

    [SkippableFact]
    public async Task Attach_streams_what_the_container_writes_from_then_on()
    {
        await PodBehindService("attached");
        using var attach = c.Start("attach", "attached");
        try
        {
            // The app writes a line per request: one made through the API's pod proxy shows up on the attached stream
            // (requests are made until it does, as attach may start after the first).
            var seen = new TaskCompletionSource<string>();
            _ = Task.Run(async () =>
            {
                while (await attach.StandardOutput.ReadLineAsync() is { } line)
                {
                    if (line.Contains("/attached-probe", StringComparison.Ordinal)) seen.TrySetResult(line);
                }
            });
            for (var i = 0; i < 20 && !seen.Task.IsCompleted; i++)
            {
                await c.Run("get", "--raw", "/api/v1/namespaces/default/pods/attached:8080/proxy/attached-probe");
                await Task.WhenAny(seen.Task, Task.Delay(TimeSpan.FromSeconds(1)));
            }
            Assert.True(seen.Task.IsCompleted, "kubectl attach never printed the line the container wrote");
            Assert.Matches(@" GET /attached-probe \d{3}$", await seen.Task);

            // Attach is to one container process: when it ends (here it crashes and kubelet starts another), so does
            // the attach, and kubectl exits.
            await c.Ok("create", "--raw", "/api/v1/namespaces/default/pods/attached:8080/proxy/crash", "-f", ApiCluster.File("{}"));
            using var ended = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await attach.WaitForExitAsync(ended.Token);
            Assert.Equal(0, attach.ExitCode);
        }
        finally
        {
            attach.Kill(entireProcessTree: true);
        }
        Assert.Contains("pods \"ghost\" not found", (await c.Run("attach", "ghost")).Stderr, StringComparison.Ordinal);
    }

    private async Task PodBehindService(string name, string containerExtra = "")
    {
        var extra = containerExtra.Length > 0 ? ", " + containerExtra : "";
        await c.Ok("apply", "-f", ApiCluster.File($$$"""
            apiVersion: v1
            kind: Pod
            metadata: {name: {{{name}}}, labels: {app: {{{name}}}}}
            spec:
              containers: [{name: app, image: kubetm/app, ports: [{containerPort: 8080}]{{{extra}}}}]
            ---
            apiVersion: v1
            kind: Service
            metadata: {name: {{{name}}}}
            spec: {selector: {app: {{{name}}}}, ports: [{port: 9000, targetPort: 8080}]}
            """));
        await c.Ok("wait", "--for=condition=Ready", $"pod/{name}", "--timeout=60s");
    }

    /// <summary>A kubectl that runs on (logs -f, port-forward) until disposed, and what it printed so far.</summary>
    private class BackgroundKubectl : IDisposable
    {
        private readonly System.Diagnostics.Process _process;
        private readonly System.Text.StringBuilder _output = new();

        public BackgroundKubectl(ApiCluster c, IReadOnlyDictionary<string, string> environment, params string[] args)
        {
            var info = new System.Diagnostics.ProcessStartInfo(ApiCluster.Kubectl()) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
            foreach (var (name, value) in environment) info.Environment[name] = value;
            foreach (var a in new[] { "--kubeconfig", c.Api.KubeconfigPath, "--cache-dir", c.CacheDir }.Concat(args)) info.ArgumentList.Add(a);
            _process = System.Diagnostics.Process.Start(info)!;
            _process.OutputDataReceived += (_, e) => { lock (_output) _output.AppendLine(e.Data); };
            _process.ErrorDataReceived += (_, e) => { lock (_output) _output.AppendLine(e.Data); };
            _process.BeginOutputReadLine();
            _process.BeginErrorReadLine();
        }

        public string Output
        {
            get
            {
                lock (_output) return _output.ToString();
            }
        }

        public void Dispose()
        {
            if (!_process.HasExited) _process.Kill();
            _process.Dispose();
        }
    }

    /// <summary>kubectl port-forward in the background, and the local port it chose.</summary>
    private sealed class PortForward(ApiCluster c, bool websockets, params string[] args)
        // Without WebSockets kubectl speaks SPDY over a plain HTTP upgrade (its fallback).
        : BackgroundKubectl(c, websockets ? new Dictionary<string, string>() : new Dictionary<string, string> { ["KUBECTL_PORT_FORWARD_WEBSOCKETS"] = "false" }, ["port-forward", .. args])
    {
        public PortForward(ApiCluster c, params string[] args) : this(c, websockets: true, args)
        {
        }

        public async Task<int> LocalPort()
        {
            System.Text.RegularExpressions.Match? match = null;
            await Cluster.Tests.TestCluster.Eventually(() => (match = System.Text.RegularExpressions.Regex.Match(Output, @"Forwarding from 127\.0\.0\.1:(\d+) -> ")).Success,
                TimeSpan.FromSeconds(30), "kubectl port-forward listening");
            return int.Parse(match!.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
        }
    }

    [SkippableFact]
    public async Task Port_forward_to_a_pod_and_a_service_carries_10_MB_intact_and_reports_a_refused_port()
    {
        await PodBehindService("forwarded");
        var podIP = await c.Ok("get", "pod", "forwarded", "-o", "jsonpath={.status.podIP}");
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(60) };
        var direct = await http.GetByteArrayAsync($"http://{podIP}:8080/bytes/10485760");
        Assert.Equal(10485760, direct.Length);

        using (var forward = new PortForward(c, "pod/forwarded", ":8080"))
        {
            var port = await forward.LocalPort();
            Assert.Equal("forwarded\n", await http.GetStringAsync($"http://127.0.0.1:{port}/hostname"));
            // Several connections at once, each its own stream pair; the large one intact.
            var many = await Task.WhenAll(Enumerable.Range(0, 8).Select(_ => http.GetStringAsync($"http://127.0.0.1:{port}/hostname")));
            Assert.All(many, a => Assert.Equal("forwarded\n", a));
            Assert.Equal(direct, await http.GetByteArrayAsync($"http://127.0.0.1:{port}/bytes/10485760"));
            Assert.Contains("Handling connection for", forward.Output, StringComparison.Ordinal);
        }

        using (var forward = new PortForward(c, websockets: false, "pod/forwarded", ":8080"))
        {
            var port = await forward.LocalPort();
            Assert.Equal(direct, await http.GetByteArrayAsync($"http://127.0.0.1:{port}/bytes/10485760"));
        }

        // svc/x: kubectl picks one of the Service's pods and the target port behind the Service's port.
        using (var forward = new PortForward(c, "svc/forwarded", ":9000"))
        {
            var port = await forward.LocalPort();
            Assert.Matches(@"-> 8080\b", forward.Output);
            Assert.Equal("forwarded\n", await http.GetStringAsync($"http://127.0.0.1:{port}/hostname"));
        }

        // A port nothing listens on: the connection ends, and kubectl says why in kubelet's words.
        using (var forward = new PortForward(c, "pod/forwarded", ":9999"))
        {
            var port = await forward.LocalPort();
            await Assert.ThrowsAnyAsync<HttpRequestException>(() => http.GetStringAsync($"http://127.0.0.1:{port}/"));
            await Cluster.Tests.TestCluster.Eventually(() => forward.Output.Contains($"error forwarding port 9999 to pod forwarded_default", StringComparison.Ordinal),
                TimeSpan.FromSeconds(10), "kubectl reporting the refused port");
        }
    }

    [SkippableFact]
    public async Task Server_side_apply_creates_records_managers_refuses_conflicts_and_forces_them()
    {
        string Manifest(int replicas) => ApiCluster.File($$$"""
            apiVersion: apps/v1
            kind: Deployment
            metadata: {name: ssa, labels: {tier: web}}
            spec:
              replicas: {{{replicas}}}
              selector: {matchLabels: {app: ssa}}
              template:
                metadata: {labels: {app: ssa}}
                spec: {containers: [{name: app, image: kubetm/app}]}
            """);
        Assert.Equal("deployment.apps/ssa serverside-applied\n", await c.Ok("apply", "--server-side", "-f", Manifest(2)));
        Assert.Equal("deployment.apps/ssa serverside-applied\n", await c.Ok("apply", "--server-side", "-f", Manifest(2)));
        Assert.Equal("kubectl Apply", await c.Ok("get", "deploy", "ssa", "--show-managed-fields", "-o", "jsonpath={.metadata.managedFields[0].manager} {.metadata.managedFields[0].operation}"));
        await c.Ok("rollout", "status", "deployment/ssa", "--timeout=60s");

        var conflict = await c.Run("apply", "--server-side", "--field-manager=autoscaler", "-f", Manifest(4));
        Assert.NotEqual(0, conflict.ExitCode);
        Assert.Contains("error: Apply failed with 1 conflict: conflict with \"kubectl\": .spec.replicas", conflict.Stderr, StringComparison.Ordinal);
        Assert.Equal("2", await c.Ok("get", "deploy", "ssa", "-o", "jsonpath={.spec.replicas}"));

        Assert.Equal("deployment.apps/ssa serverside-applied\n", await c.Ok("apply", "--server-side", "--field-manager=autoscaler", "--force-conflicts", "-f", Manifest(4)));
        await c.Ok("rollout", "status", "deployment/ssa", "--timeout=60s");
        Assert.Matches(@"(?m)^ssa\s+4/4\s", await c.Ok("get", "deploy", "ssa"));
        // kubectl no longer owns replicas: its next apply with another value conflicts with the autoscaler now.
        Assert.Contains("conflict with \"autoscaler\": .spec.replicas", (await c.Run("apply", "--server-side", "-f", Manifest(2))).Stderr, StringComparison.Ordinal);
        // A write that is not an apply (kubectl scale) takes replicas over as an Update manager: the autoscaler's
        // next apply conflicts with it.
        await c.Ok("scale", "deployment", "ssa", "--replicas=5");
        var managers = await c.Ok("get", "deploy", "ssa", "--show-managed-fields", "-o", "jsonpath={range .metadata.managedFields[*]}{.manager}/{.operation} {end}");
        var scaler = System.Text.RegularExpressions.Regex.Match(managers, @"(\S+)/Update").Groups[1].Value;
        Assert.NotEqual("", scaler);
        Assert.Contains($"conflict with \"{scaler}\" using apps/v1: .spec.replicas",
            (await c.Run("apply", "--server-side", "--field-manager=autoscaler", "-f", Manifest(4))).Stderr, StringComparison.Ordinal);

        // A core object too, created by apply.
        Assert.Equal("service/ssa serverside-applied\n", await c.Ok("apply", "--server-side", "-f", ApiCluster.File("""
            apiVersion: v1
            kind: Service
            metadata: {name: ssa}
            spec: {selector: {app: ssa}, ports: [{port: 9000, targetPort: 8080}]}
            """)));
        Assert.Matches(@"^127\.\d+\.\d+\.\d+$", await c.Ok("get", "svc", "ssa", "-o", "jsonpath={.spec.clusterIP}"));
    }
}
