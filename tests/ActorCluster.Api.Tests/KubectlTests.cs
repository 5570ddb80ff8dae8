using System.Diagnostics;

namespace ActorCluster.Api.Tests;

/// <summary>The real kubectl (v1.32) against a running cluster, asserting what it prints.</summary>
public sealed class KubectlTests(ApiCluster c) : IClassFixture<ApiCluster>
{
    [SkippableFact]
    public async Task Discovery_serves_short_names_and_the_server_version()
    {
        var resources = await c.Ok("api-resources");
        Assert.Matches(@"(?m)^services\s+svc\s+v1\s+true\s+Service$", resources);
        Assert.Matches(@"(?m)^pods\s+po\s+v1\s+true\s+Pod$", resources);
        Assert.Matches(@"(?m)^endpoints\s+ep\s+v1\s+true\s+Endpoints$", resources);
        Assert.Matches(@"(?m)^nodes\s+no\s+v1\s+false\s+Node$", resources);
        Assert.Matches(@"(?m)^namespaces\s+ns\s+v1\s+false\s+Namespace$", resources);
        Assert.Matches(@"(?m)^events\s+ev\s+v1\s+true\s+Event$", resources);
        Assert.Matches(@"(?m)^endpointslices\s+discovery.k8s.io/v1\s+true\s+EndpointSlice$", resources);
        Assert.Contains("Server Version: v1.32.0-actorcluster", await c.Ok("version"), StringComparison.Ordinal);
        foreach (var health in new[] { "/healthz", "/livez", "/readyz" }) Assert.Equal("ok", await c.Ok("get", "--raw", health));
        Assert.Contains("\"kind\":\"APIResourceList\"", await c.Ok("get", "--raw", "/apis/discovery.k8s.io/v1"), StringComparison.Ordinal);
        Assert.Contains("\"kind\": \"Node\"", await c.Ok("get", "nodes", "-o", "json"), StringComparison.Ordinal);
        var nodes = await c.Ok("get", "no");
        Assert.Matches(@"(?m)^NAME\s+STATUS\s+ROLES\s+AGE\s+VERSION$", nodes);
        Assert.Equal(3, nodes.Split('\n').Count(l => l.StartsWith("k8s-worker", StringComparison.Ordinal) && l.Contains(" Ready ", StringComparison.Ordinal)));
    }

    [SkippableFact]
    public async Task The_seed_pods_and_service_are_created_listed_and_described()
    {
        Assert.Equal("pod/pod-1 created\n", await c.Ok("create", "-f", ApiCluster.SeedFile("pod-1.yaml")));
        Assert.Equal("pod/pod-2 created\n", await c.Ok("apply", "-f", ApiCluster.SeedFile("pod-2.yaml")));
        Assert.Equal("service/svc-1 created\n", await c.Ok("apply", "-f", ApiCluster.SeedFile("svc-1-clusterip.yaml")));
        Assert.Equal("service/svc-1 unchanged\n", await c.Ok("apply", "-f", ApiCluster.SeedFile("svc-1-clusterip.yaml")));
        // kubectl wait watches the pods until their Ready condition is True.
        await c.Ok("wait", "--for=condition=Ready", "pod/pod-1", "pod/pod-2", "--timeout=60s");

        var wide = await c.Ok("get", "pods", "-o", "wide");
        Assert.Matches(@"(?m)^NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE\s+IP\s+NODE\s+NOMINATED NODE\s+READINESS GATES$", wide);
        Assert.Matches(@"(?m)^pod-1\s+1/1\s+Running\s+0\s+\S+\s+127\.\d+\.1\.\d+\s+k8s-worker1\s+<none>\s+<none>$", wide);
        Assert.Matches(@"(?m)^pod-2\s+1/1\s+Running\s+0\s+\S+\s+127\.\d+\.2\.\d+\s+k8s-worker2\s+<none>\s+<none>$", wide);

        var svc = await c.Ok("get", "svc", "svc-1", "-o", "wide");
        Assert.Matches(@"(?m)^NAME\s+TYPE\s+CLUSTER-IP\s+EXTERNAL-IP\s+PORT\(S\)\s+AGE\s+SELECTOR$", svc);
        Assert.Matches(@"(?m)^svc-1\s+ClusterIP\s+127\.\d+\.\d+\.\d+\s+<none>\s+9000/TCP\s+\S+\s+app=pod$", svc);
        var clusterIP = await c.Ok("get", "svc", "svc-1", "-o", "jsonpath={.spec.clusterIP}");
        Assert.Contains($"clusterIP: {clusterIP}", await c.Ok("get", "svc", "svc-1", "-o", "yaml"), StringComparison.Ordinal);

        var endpoints = await c.Ok("get", "ep", "svc-1");
        Assert.Matches(@"(?m)^svc-1\s+127\.\d+\.1\.\d+:8080,127\.\d+\.2\.\d+:8080\s+\S+$", endpoints);
        Assert.Contains("pod-1", await c.Ok("get", "pods", "-l", "app=pod", "-A"), StringComparison.Ordinal);
        Assert.Matches(@"(?m)^default\s+pod-1\s+", await c.Ok("get", "pods", "-A"));

        // The proxy subresources reach the workloads from outside.
        Assert.Matches(@"^pod-[12]\n$", await c.Ok("get", "--raw", "/api/v1/namespaces/default/services/svc-1:9000/proxy/hostname"));
        Assert.Contains("node: k8s-worker1", await c.Ok("get", "--raw", "/api/v1/namespaces/default/pods/pod-1:8080/proxy/"), StringComparison.Ordinal);
        var all = await c.Ok("get", "all");
        Assert.Contains("pod/pod-1", all, StringComparison.Ordinal);
        Assert.Contains("service/svc-1", all, StringComparison.Ordinal);

        var described = await c.Ok("describe", "svc", "svc-1");
        Assert.Matches(@"(?m)^Selector:\s+app=pod$", described);
        Assert.Matches(@"(?m)^Endpoints:\s+127\.\d+\.\d+\.\d+:8080,127\.\d+\.\d+\.\d+:8080$", described);
        Assert.Matches(@"(?m)^Node:\s+k8s-worker1/127\.\d+\.0\.1$", await c.Ok("describe", "pod", "pod-1"));
        // The pod's story as kubectl tells it: the scheduler's and kubelet's Events (kubelet's follow its start).
        string pod1 = "";
        await Cluster.Tests.TestCluster.Eventually(async () => (pod1 = await c.Ok("describe", "pod", "pod-1")).Contains("Started container container", StringComparison.Ordinal),
            TimeSpan.FromSeconds(30), "kubelet's Started Event");
        Assert.Matches(@"(?m)^  Normal  Scheduled  \S+\s+default-scheduler  Successfully assigned default/pod-1 to k8s-worker1$", pod1);
        Assert.Matches(@"(?m)^  Normal  Pulled     \S+\s+kubelet\s+Container image ""kubetm/app"" already present on machine$", pod1);
        Assert.Matches(@"(?m)^  Normal  Created    \S+\s+kubelet\s+Created container: container$", pod1);
        var node = await c.Ok("describe", "node", "k8s-worker1");
        Assert.Matches(@"(?m)^Name:\s+k8s-worker1$", node);
        // The machine as capacity, so the percentages of what pods request are real ones.
        Assert.Matches($@"(?m)^Capacity:\n  cpu:\s+{Environment.ProcessorCount}\n  ephemeral-storage:\s+\d+Ki\n", node);
        Assert.Matches(@"(?m)^  cpu\s+\d+m? \(\d+%\)\s+\d+m? \(\d+%\)$", node);
        Assert.Matches(@"(?m)^  memory\s+\d+\w* \(\d+%\)\s+\d+\w* \(\d+%\)$", node);
        Assert.DoesNotContain("-9223372036854775808", node, StringComparison.Ordinal);

        Assert.Equal("pod \"pod-2\" deleted\n", await c.Ok("delete", "pod", "pod-2"));
        var gone = await c.Run("get", "pod", "pod-2");
        Assert.Equal("Error from server (NotFound): pods \"pod-2\" not found\n", gone.Stderr);
    }

    [SkippableFact]
    public async Task Labels_annotations_patches_and_reapply_change_the_service()
    {
        await c.Ok("apply", "-f", ApiCluster.SeedFile("svc-2-nodeport.yaml"));
        Assert.Equal("service/svc-2 configured\n", await c.Ok("apply", "-f", ApiCluster.SeedFile("svc-2-nodeport-local.yaml")));
        Assert.Equal("Local 30002", await c.Ok("get", "svc", "svc-2", "-o", "jsonpath={.spec.externalTrafficPolicy} {.spec.ports[0].nodePort}"));
        Assert.Equal("service/svc-2 labeled\n", await c.Ok("label", "svc", "svc-2", "tier=web"));
        Assert.Equal("service/svc-2 annotated\n", await c.Ok("annotate", "svc", "svc-2", "team=blue"));
        Assert.Equal("service/svc-2 patched\n", await c.Ok("patch", "svc", "svc-2", "-p", "{\"spec\":{\"sessionAffinity\":\"ClientIP\"}}"));
        Assert.Equal("service/svc-2 patched\n", await c.Ok("patch", "svc", "svc-2", "--type=json", "-p", "[{\"op\":\"replace\",\"path\":\"/spec/ports/0/targetPort\",\"value\":8081}]"));
        Assert.Equal("web blue ClientIP 10800 8081",
            await c.Ok("get", "svc", "-l", "tier=web", "-o", "jsonpath={.items[0].metadata.labels.tier} {.items[0].metadata.annotations.team} {.items[0].spec.sessionAffinity} {.items[0].spec.sessionAffinityConfig.clientIP.timeoutSeconds} {.items[0].spec.ports[0].targetPort}"));
    }

    public static TheoryData<string, string> ErrorCases => new()
    {
        { "apiVersion: v1\nkind: Service\nmetadata:\n  name: svc-x\nspec:\n  type: NodePort\n  ports:\n  - port: 9000\n    nodePort: 80",
          "The Service \"svc-x\" is invalid: spec.ports[0].nodePort: Invalid value: 80: provided port is not in the valid range. The range of valid ports is 30000-32767" },
        { "apiVersion: v1\nkind: Service\nmetadata:\n  name: Svc_X\nspec:\n  ports:\n  - port: 9000",
          "The Service \"Svc_X\" is invalid: metadata.name: Invalid value: \"Svc_X\": a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')" },
        { "apiVersion: v1\nkind: Service\nmetadata:\n  name: svc-dup\nspec:\n  ports:\n  - name: a\n    port: 80\n  - name: b\n    port: 80",
          "The Service \"svc-dup\" is invalid: spec.ports[1]: Duplicate value: core.ServicePort{Name:\"\", Protocol:\"TCP\", AppProtocol:(*string)(nil), Port:80, TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}, NodePort:0}" },
        { "apiVersion: v1\nkind: Service\nmetadata:\n  name: svc-names\nspec:\n  ports:\n  - port: 80\n  - name: b\n    port: 81",
          "The Service \"svc-names\" is invalid: spec.ports[0].name: Required value" },
        { "apiVersion: v1\nkind: Service\nmetadata:\n  name: svc-foo\nspec:\n  foo: bar\n  ports:\n  - port: 80",
          "Error from server (BadRequest): error when creating \"{file}\": Service in version \"v1\" cannot be handled as a Service: strict decoding error: unknown field \"spec.foo\"" },
    };

    [SkippableTheory]
    [MemberData(nameof(ErrorCases))]
    public async Task Bad_manifests_get_kubernetes_exact_error_lines(string yaml, string expected)
    {
        var file = ApiCluster.File(yaml);
        var result = await c.Run("create", "-f", file);
        Assert.NotEqual(0, result.ExitCode);
        Assert.Equal(expected.Replace("{file}", file, StringComparison.Ordinal) + "\n", result.Stderr);
    }

    [SkippableFact]
    public async Task Kubectl_create_service_sends_protobuf_and_every_generator_is_understood()
    {
        // kubectl's generators send the Service as protobuf (k8s\0 + runtime.Unknown), not JSON.
        Assert.Equal("service/gen-np created\n", await c.Ok("create", "service", "nodeport", "gen-np", "--tcp=9200:8080", "--node-port=30620"));
        var np = System.Text.Json.Nodes.JsonNode.Parse(await c.Ok("get", "svc", "gen-np", "-o", "json"))!;
        Assert.Equal("NodePort", np["spec"]!["type"]!.GetValue<string>());
        Assert.Equal("gen-np", np["spec"]!["selector"]!["app"]!.GetValue<string>());
        Assert.Equal("gen-np", np["metadata"]!["labels"]!["app"]!.GetValue<string>());
        var port = np["spec"]!["ports"]![0]!;
        Assert.Equal(("9200-8080", "TCP", 9200, 8080, 30620),
            (port["name"]!.GetValue<string>(), port["protocol"]!.GetValue<string>(), port["port"]!.GetValue<int>(), port["targetPort"]!.GetValue<int>(), port["nodePort"]!.GetValue<int>()));

        Assert.Equal("service/gen-ip created\n", await c.Ok("create", "service", "clusterip", "gen-ip", "--tcp=80:http,443:8443"));
        Assert.Matches(@"(?m)^gen-ip\s+ClusterIP\s+127\.\S+\s+<none>\s+80/TCP,443/TCP\s", await c.Ok("get", "svc", "gen-ip"));
        Assert.Equal("http", await c.Ok("get", "svc", "gen-ip", "-o", "jsonpath={.spec.ports[0].targetPort}"));

        Assert.Equal("service/gen-headless created\n", await c.Ok("create", "service", "clusterip", "gen-headless", "--clusterip=None"));
        Assert.Equal("None", await c.Ok("get", "svc", "gen-headless", "-o", "jsonpath={.spec.clusterIP}"));

        Assert.Equal("service/gen-lb created\n", await c.Ok("create", "service", "loadbalancer", "gen-lb", "--tcp=5678:8080"));
        Assert.Matches(@"(?m)^gen-lb\s+LoadBalancer\s+\S+\s+<pending>\s+5678:\d+/TCP\s", await c.Ok("get", "svc", "gen-lb"));

        Assert.Equal("service/gen-ext created\n", await c.Ok("create", "service", "externalname", "gen-ext", "--external-name", "db.example.com"));
        Assert.Matches(@"(?m)^gen-ext\s+ExternalName\s+<none>\s+db\.example\.com\s+<none>\s", await c.Ok("get", "svc", "gen-ext"));

        // Server-side dry run in protobuf: the would-be object comes back, nothing is created.
        var dry = await c.Ok("create", "service", "clusterip", "gen-dry", "--tcp=80", "--dry-run=server", "-o", "jsonpath={.spec.ports[0].port}");
        Assert.Equal("80", dry);
        Assert.Contains("NotFound", (await c.Run("get", "svc", "gen-dry")).Stderr, StringComparison.Ordinal);

        // Validation answers protobuf bodies in the same words as JSON ones.
        var clash = await c.Run("create", "service", "nodeport", "gen-np2", "--tcp=9200:8080", "--node-port=30620");
        Assert.Equal("error: failed to create NodePort service: Service \"gen-np2\" is invalid: spec.ports[0].nodePort: Invalid value: 30620: provided port is already allocated\n", clash.Stderr);
    }

    [SkippableFact]
    public async Task Allocated_node_ports_existing_objects_and_missing_ones_are_refused_in_kubernetes_words()
    {
        await c.Ok("create", "-f", ApiCluster.File("apiVersion: v1\nkind: Service\nmetadata:\n  name: svc-np\nspec:\n  type: NodePort\n  ports:\n  - port: 9000\n    nodePort: 30500"));
        var clash = await c.Run("create", "-f", ApiCluster.File("apiVersion: v1\nkind: Service\nmetadata:\n  name: svc-np2\nspec:\n  type: NodePort\n  ports:\n  - port: 9000\n    nodePort: 30500"));
        Assert.Equal("The Service \"svc-np2\" is invalid: spec.ports[0].nodePort: Invalid value: 30500: provided port is already allocated\n", clash.Stderr);
        var file = ApiCluster.File("apiVersion: v1\nkind: Service\nmetadata:\n  name: svc-np\nspec:\n  ports:\n  - port: 80");
        var exists = await c.Run("create", "-f", file);
        Assert.Equal($"Error from server (AlreadyExists): error when creating \"{file}\": services \"svc-np\" already exists\n", exists.Stderr);
        var missing = await c.Run("get", "svc", "no-such-service");
        Assert.Equal("Error from server (NotFound): services \"no-such-service\" not found\n", missing.Stderr);
        var pending = await c.Ok("apply", "-f", ApiCluster.SeedFile("svc-4-loadbalancer.yaml"));
        Assert.Equal("service/svc-4 created\n", pending);
        Assert.Matches(@"(?m)^svc-4\s+LoadBalancer\s+\S+\s+<pending>\s+9000:\d+/TCP\s+", await c.Ok("get", "svc", "svc-4"));
    }

    [SkippableFact]
    public async Task Namespaces_events_slices_and_paged_lists_work_as_in_kubernetes()
    {
        Assert.Equal("namespace/team-a created\n", await c.Ok("create", "namespace", "team-a"));
        var namespaces = await c.Ok("get", "ns");
        Assert.Matches(@"(?m)^NAME\s+STATUS\s+AGE$", namespaces);
        Assert.Matches(@"(?m)^default\s+Active\s+", namespaces);
        Assert.Matches(@"(?m)^kube-system\s+Active\s+", namespaces);
        Assert.Matches(@"(?m)^team-a\s+Active\s+", namespaces);
        await c.Ok("-n", "team-a", "apply", "-f", ApiCluster.SeedFile("svc-4-loadbalancer.yaml"));
        // No pool: the LoadBalancer controller says why, as MetalLB does.
        var events = await c.Ok("-n", "team-a", "get", "events");
        Assert.Matches(@"(?m)^LAST SEEN\s+TYPE\s+REASON\s+OBJECT\s+MESSAGE$", events);
        Assert.Matches(@"(?m)^\S+\s+Warning\s+AllocationFailed\s+service/svc-4\s+Failed to allocate IP for ""team-a/svc-4"": no available IPs \(this cluster has no LoadBalancer address pool: start it with --lb-pool, e\.g\. --lb-pool 127\.0\.1\.240-127\.0\.1\.250, or set actorcluster\.load-balancer-pools\)$", events);
        var slices = await c.Ok("-n", "team-a", "get", "endpointslices");
        Assert.Matches(@"(?m)^NAME\s+ADDRESSTYPE\s+PORTS\s+ENDPOINTS\s+AGE$", slices);
        Assert.Matches(@"(?m)^svc-4-\w{5}\s+IPv4\s+8080\s+<unset>\s+", slices);
        for (var i = 0; i < 3; i++)
            await c.Ok("-n", "team-a", "create", "-f", ApiCluster.File($"apiVersion: v1\nkind: Service\nmetadata:\n  name: page-{i}\nspec:\n  ports:\n  - port: 80"));
        // One object per page: kubectl follows the continue tokens.
        var paged = await c.Ok("-n", "team-a", "get", "svc", "--chunk-size=1", "-o", "name");
        Assert.Equal("service/page-0\nservice/page-1\nservice/page-2\nservice/svc-4\n", paged);
        Assert.Equal("namespace \"team-a\" deleted\n", await c.Ok("delete", "namespace", "team-a"));
        Assert.Equal("Error from server (NotFound): namespaces \"team-a\" not found\n", (await c.Run("get", "ns", "team-a")).Stderr);
    }

    [SkippableFact]
    public async Task A_watch_from_a_forgotten_version_ends_with_410_expired()
    {
        // More changes than the 20 the ApiServer keeps for resuming (a Service without selector is one change).
        for (var i = 0; i < 30; i++)
            await c.Ok("create", "-f", ApiCluster.File($"apiVersion: v1\nkind: Service\nmetadata:\n  name: churn-{i}\nspec:\n  ports:\n  - port: 80"));
        var raw = (await c.Run(TimeSpan.FromSeconds(20), "get", "--raw", "/api/v1/namespaces/default/services?watch=true&resourceVersion=1")).Stdout;
        Assert.Contains("\"type\":\"ERROR\"", raw, StringComparison.Ordinal);
        Assert.Contains("\"reason\":\"Expired\"", raw, StringComparison.Ordinal);
        Assert.Contains("\"code\":410", raw, StringComparison.Ordinal);
        Assert.Contains("too old resource version: 1", raw, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task A_pod_whose_image_is_not_available_says_so_in_its_Events_naming_the_image_there_is()
    {
        await c.Ok("run", "web", "--image=nginx", "--port=80");
        string described = "";
        // The Events and the pod's status are two writes of the node agent: wait for both (either may land first).
        await Cluster.Tests.TestCluster.Eventually(async () => (described = await c.Ok("describe", "pod", "web")).Contains("Error: ErrImagePull", StringComparison.Ordinal)
                                                               && System.Text.RegularExpressions.Regex.IsMatch(described, @"(?m)^      Reason:\s+ErrImagePull$"),
            TimeSpan.FromSeconds(30), "kubelet's pull failure Events and the container's waiting reason");
        Assert.Matches(@"(?m)^      Reason:\s+ErrImagePull$", described);
        Assert.Matches(@"(?m)^  Normal   Pulling    \S+\s+kubelet\s+Pulling image ""nginx""$", described);
        Assert.Matches(@"(?m)^  Warning  Failed     \S+\s+kubelet\s+Failed to pull image ""nginx"": image ""nginx"" is not available: ActorCluster runs the built-in image kubetm/app only$", described);
        Assert.Matches(@"(?m)^  Warning  Failed     \S+\s+kubelet\s+Error: ErrImagePull$", described);
        await c.Ok("delete", "pod", "web", "--wait=false");
    }

    [SkippableFact]
    public async Task Explain_describes_every_served_kind_with_Kubernetes_own_field_docs()
    {
        var type = await c.Ok("explain", "service.spec.type");
        Assert.Matches(@"(?m)^KIND:\s+Service\n^VERSION:\s+v1$", type);
        Assert.Matches(@"(?m)^FIELD: type <string>$", type);
        Assert.Contains("type determines how the Service is exposed. Defaults to ClusterIP.", type.Replace("\n    ", " ", StringComparison.Ordinal), StringComparison.Ordinal);
        Assert.Matches(@"(?m)^FIELD: ports <\[\]ContainerPort>$", await c.Ok("explain", "pod.spec.containers.ports"));
        Assert.Matches(@"(?m)^  nodeName\t<string>$", await c.Ok("explain", "pod.spec"));
        var lease = await c.Ok("explain", "lease.spec");
        Assert.Matches(@"(?m)^GROUP:\s+coordination\.k8s\.io$", lease);
        Assert.Matches(@"(?m)^  renewTime\t<string>$", lease);
        Assert.Matches(@"(?m)^FIELD: endpoints <\[\]Endpoint>$", await c.Ok("explain", "endpointslices.endpoints"));
        foreach (var kind in new[] { "node", "namespace", "event", "endpoints" }) Assert.Matches(@"(?m)^DESCRIPTION:$", await c.Ok("explain", kind));
        // A field that does not exist: kubectl's own words.
        var missing = await c.Run("explain", "service.spec.nosuch");
        Assert.NotEqual(0, missing.ExitCode);
        Assert.Contains("field \"nosuch\" does not exist", missing.Stderr, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Every_node_heartbeats_through_its_Lease_as_kubelet_does()
    {
        // Each node renews kube-node-lease/<node> (created once it registered); describe node shows it.
        string leases = "";
        await Cluster.Tests.TestCluster.Eventually(async () =>
        {
            leases = await c.Ok("get", "leases", "-n", "kube-node-lease");
            return c.Cluster.Nodes.Count == Enumerable.Range(1, c.Cluster.Nodes.Count).Count(i =>
                System.Text.RegularExpressions.Regex.IsMatch(leases, $@"(?m)^k8s-worker{i}\s+k8s-worker{i}\s+\S+$"));
        }, TimeSpan.FromSeconds(30), "a Lease per node");
        Assert.Matches(@"(?m)^NAME\s+HOLDER\s+AGE$", leases);
        var node = await c.Ok("describe", "node", "k8s-worker2");
        Assert.Matches(@"(?m)^Lease:\n  HolderIdentity:\s+k8s-worker2\n  AcquireTime:\s+<unset>\n  RenewTime:\s+\w{3}, \d{2} \w{3} \d{4} ", node);
        Assert.Equal("40", await c.Ok("get", "lease", "-n", "kube-node-lease", "k8s-worker2", "-o", "jsonpath={.spec.leaseDurationSeconds}"));
        Assert.Equal("Node/k8s-worker2", await c.Ok("get", "lease", "-n", "kube-node-lease", "k8s-worker2", "-o", "jsonpath={.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}"));
        // The renewals go on: a later read shows a later renewTime.
        var first = await c.Ok("get", "lease", "-n", "kube-node-lease", "k8s-worker2", "-o", "jsonpath={.spec.renewTime}");
        await Cluster.Tests.TestCluster.Eventually(async () =>
            await c.Ok("get", "lease", "-n", "kube-node-lease", "k8s-worker2", "-o", "jsonpath={.spec.renewTime}") != first, TimeSpan.FromSeconds(30), "a renewal");

        // Leases are an API like any other, validated with kube-apiserver's words.
        var bad = await c.Run("create", "-f", ApiCluster.File("apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata:\n  name: mine\nspec:\n  leaseDurationSeconds: 0"));
        Assert.Equal("The Lease \"mine\" is invalid: spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0\n", bad.Stderr);
        await c.Ok("create", "-f", ApiCluster.File("apiVersion: coordination.k8s.io/v1\nkind: Lease\nmetadata:\n  name: mine\nspec:\n  holderIdentity: me\n  leaseDurationSeconds: 15"));
        Assert.Matches(@"(?m)^mine\s+me\s+\S+$", await c.Ok("get", "leases"));
        await c.Ok("delete", "lease", "mine");
    }

    [SkippableFact]
    public async Task Metrics_export_replica_latency_and_proxy_counters()
    {
        await c.Ok("create", "-f", ApiCluster.File("apiVersion: v1\nkind: Service\nmetadata:\n  name: metered\nspec:\n  type: NodePort\n  selector:\n    app: none\n  ports:\n  - port: 80\n    nodePort: 30555"));
        var address = c.Cluster.NodeAddress(1);
        string metrics = "";
        await Cluster.Tests.TestCluster.Eventually(async () =>
        {
            // No endpoint: the connection is refused, and counted.
            using (var client = new System.Net.Sockets.TcpClient())
            {
                try
                {
                    await client.ConnectAsync(address, 30555);
                    _ = await client.GetStream().ReadAsync(new byte[1]); // a reset ends it at once
                }
                catch (Exception e) when (e is System.Net.Sockets.SocketException or IOException)
                {
                }
            }
            metrics = await c.Ok("get", "--raw", "/metrics");
            return System.Text.RegularExpressions.Regex.IsMatch(metrics,
                $"(?m)^actorcluster_proxy_refused_total\\{{service=\"default/metered\",protocol=\"TCP\",listener=\"NodePort\",address=\"{System.Text.RegularExpressions.Regex.Escape(address)}:30555\",reason=\"no_endpoints\",node=\"k8s-worker1\"\\}} [1-9][0-9]*$");
        }, TimeSpan.FromSeconds(30), "a counted refusal");
        // A real histogram: cumulative buckets up to +Inf, whose count is the number of changes applied.
        Assert.Matches(@"(?m)^# TYPE actorcluster_replica_apply_latency_seconds histogram$", metrics);
        Assert.Matches(@"(?m)^actorcluster_replica_apply_latency_seconds_bucket\{node=""k8s-worker1"",le=""0.0005""\} [0-9]+$", metrics);
        var inf = System.Text.RegularExpressions.Regex.Match(metrics, @"(?m)^actorcluster_replica_apply_latency_seconds_bucket\{node=""k8s-worker1"",le=""\+Inf""\} ([1-9][0-9]*)$");
        Assert.True(inf.Success, metrics);
        Assert.Matches($@"(?m)^actorcluster_replica_apply_latency_seconds_count\{{node=""k8s-worker1""\}} {inf.Groups[1].Value}$", metrics);
        Assert.Matches(@"(?m)^actorcluster_replica_resource_version\{node=""k8s-worker1""\} [1-9][0-9]*$", metrics);
        Assert.Matches(@"(?m)^actorcluster_proxy_bytes_total\{service=""default/metered"",protocol=""TCP"",listener=""NodePort"",address=""[0-9.]+:30555"",direction=""in"",node=""k8s-worker1""\} 0$", metrics);
        Assert.Matches(@"(?m)^actorcluster_tunnel_connections_total\{node=""k8s-worker1""\} [0-9]+$", metrics);
        // Which data path carries Service traffic (kube-proxy's --proxy-mode): the relay, the default.
        Assert.Matches(@"(?m)^actorcluster_proxy_mode\{mode=""userspace"",node=""k8s-worker1""\} 1$", metrics);
        Assert.Matches(@"(?m)^actorcluster_proxy_mode\{mode=""nftables"",node=""k8s-worker1""\} 0$", metrics);
        // Membership as this node sees it: every node of the cluster, up and reachable (what `up` waits on before
        // restarting a crashed node).
        foreach (var n in Enumerable.Range(1, c.Cluster.Nodes.Count))
            Assert.Matches($@"(?m)^actorcluster_cluster_members\{{member=""akka\.ssl\.tcp://actorcluster@{System.Text.RegularExpressions.Regex.Escape(c.Cluster.NodeAddress(n))}:[0-9]+"",status=""up"",reachable=""true"",node=""k8s-worker1""\}} 1$", metrics);
        Assert.Equal(c.Cluster.Nodes.Count, System.Text.RegularExpressions.Regex.Matches(metrics, "(?m)^actorcluster_cluster_members\\{").Count);
    }

    [SkippableFact]
    public async Task Get_watch_sees_a_change()
    {
        ApiCluster.Kubectl();
        using var watch = c.Start("get", "svc", "-w");
        try
        {
            var seen = new TaskCompletionSource<string>();
            _ = Task.Run(async () =>
            {
                while (await watch.StandardOutput.ReadLineAsync() is { } line)
                {
                    if (line.StartsWith("watched", StringComparison.Ordinal)) seen.TrySetResult(line);
                }
            });
            // The watch may start just after the create, so create until it reports one (bounded).
            for (var i = 0; i < 20 && !seen.Task.IsCompleted; i++)
            {
                await c.Ok("create", "-f", ApiCluster.File($"apiVersion: v1\nkind: Service\nmetadata:\n  name: watched-{i}\nspec:\n  ports:\n  - port: 80"));
                await Task.WhenAny(seen.Task, Task.Delay(TimeSpan.FromSeconds(1)));
            }
            Assert.True(seen.Task.IsCompleted, "kubectl get -w never printed the new service");
            Assert.Matches(@"^watched-\d+\s+ClusterIP\s+127\.", await seen.Task);
        }
        finally
        {
            watch.Kill(entireProcessTree: true);
        }
    }

    [SkippableFact]
    public async Task Requests_without_the_token_are_unauthorized()
    {
        ApiCluster.Kubectl();
        var config = await File.ReadAllTextAsync(c.Api.KubeconfigPath);
        var noToken = ApiCluster.File(config.Replace($"token: {c.Api.Token}", "token: wrong", StringComparison.Ordinal));
        var info = new ProcessStartInfo(ApiCluster.Kubectl()) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "--kubeconfig", noToken, "--cache-dir", Path.Combine(c.CacheDir, "no-token"), "get", "pods" }) info.ArgumentList.Add(a);
        using var p = Process.Start(info)!;
        var stderr = await p.StandardError.ReadToEndAsync();
        await p.WaitForExitAsync();
        Assert.NotEqual(0, p.ExitCode);
        Assert.Contains("error: You must be logged in to the server", stderr, StringComparison.Ordinal);
    }
}
