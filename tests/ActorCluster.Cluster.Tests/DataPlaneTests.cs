using System.Net.Sockets;
using ActorCluster.Cluster.Proxy;
using ActorCluster.Core.Objects;
using k8s.Models;

namespace ActorCluster.Cluster.Tests;

/// <summary>The walkthrough's traffic through real listeners: ClusterIP, NodePort on every node, Local vs Cluster.</summary>
public sealed class DataPlaneTests : IAsyncLifetime
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);
    private TestCluster _cluster = null!;

    // 127.0.3.0/28 as the LoadBalancer pool: loopback, so the elected node can bind the addresses.
    public async Task InitializeAsync() =>
        _cluster = await TestCluster.StartAsync(3, extraHocon: "actorcluster.load-balancer-pools = [\"127.0.3.1-127.0.3.14\"]");

    public async Task DisposeAsync()
    {
        await _cluster.DisposeAsync();
        _cluster.DeleteData();
    }


    /// <summary>The walkthrough's pod-1 (node 1) and pod-2 (node 2) Running, and svc-2 (NodePort 30000, Cluster) created.</summary>
    private async Task<V1Service> SeedPodsAndNodePort()
    {
        await _cluster.Create<V1Pod>(ResourceKind.Pod, TestCluster.Seed("pod-1.yaml"));
        await _cluster.Create<V1Pod>(ResourceKind.Pod, TestCluster.Seed("pod-2.yaml"));
        var svc2 = await _cluster.Create<V1Service>(ResourceKind.Service, TestCluster.Seed("svc-2-nodeport.yaml"));
        await _cluster.Running("pod-1");
        await _cluster.Running("pod-2");
        return svc2;
    }

    [Fact]
    public async Task A_ClusterIP_spreads_its_connections_over_every_pod_of_its_selector()
    {
        await SeedPodsAndNodePort();
        var svc1 = await _cluster.Create<V1Service>(ResourceKind.Service, TestCluster.Seed("svc-1-clusterip.yaml"));
        await TestCluster.Eventually(async () => (await Traffic.Responders(svc1.Spec.ClusterIP, 9000, 10)).Count == 2, Wait, "ClusterIP spreading over both pods");
    }

    [Fact]
    public async Task A_NodePort_answers_on_every_node_from_every_pod_and_under_Cluster_the_pod_sees_the_node()
    {
        await SeedPodsAndNodePort();
        // Node 3 has no pod of its own and still answers from both.
        for (var n = 1; n <= 3; n++)
        {
            var address = _cluster.NodeAddress(n);
            await TestCluster.Eventually(async () => (await Traffic.Responders(address, 30000, 10)).SetEquals(["pod-1", "pod-2"]), Wait, $"NodePort on node {n} spreading");
        }
        // Under Cluster the pod sees the receiving node as the client (SNAT).
        Assert.StartsWith(_cluster.NodeAddress(1) + ":", await Traffic.Get(_cluster.NodeAddress(1), 30000, "/client", fromAddress: "127.0.0.9"), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Switched_to_Local_each_node_answers_only_from_its_own_pod_with_the_clients_address_and_a_node_without_one_resets()
    {
        await SeedPodsAndNodePort();
        await TestCluster.Eventually(async () => await Traffic.Get(_cluster.NodeAddress(1), 30000, "/hostname") is not null, Wait, "30000 open on node 1");

        // The walkthrough's update: externalTrafficPolicy: Local, on NodePort 30002 instead of 30000.
        var local = KubeObjects.LoadAll(TestCluster.Seed("svc-2-nodeport-local.yaml")).Cast<V1Service>().Single();
        local.Metadata.ResourceVersion = null;
        var updated = await TestCluster.Ask<object>(_cluster[0].ApiServer, new ApiServer.UpdateObject("services", "default", "svc-2", KubeObjects.ToJson(local), false));
        Assert.IsType<ApiServer.ObjectReply>(updated);
        // Each node applies the update from its own replica, so each is waited for: until then 30002 is not bound there.
        await TestCluster.Eventually(async () => (await Traffic.Responders(_cluster.NodeAddress(1), 30002, 10)).SetEquals(["pod-1"]), Wait, "node 1 local");
        await TestCluster.Eventually(async () => (await Traffic.Responders(_cluster.NodeAddress(2), 30002, 10)).SetEquals(["pod-2"]), Wait, "node 2 local");
        // Node 3 serves the port and refuses at once, never a hang.
        await TestCluster.Eventually(async () => (await _cluster.NodesBinding($"{_cluster.NodeAddress(3)}:30002")).SequenceEqual([3]), Wait, "node 3 serving 30002");
        Assert.Equal(TestCluster.NoEndpointRefusal, await Traffic.Refusal(_cluster.NodeAddress(3), 30002));
        // Under Local the pod sees the client's own address.
        Assert.StartsWith("127.0.0.9:", await Traffic.Get(_cluster.NodeAddress(1), 30002, "/client", fromAddress: "127.0.0.9"), StringComparison.Ordinal);
        // The old NodePort is closed.
        await TestCluster.Eventually(async () => await Traffic.Get(_cluster.NodeAddress(1), 30000, "/hostname") is null, Wait, "30000 closed");
    }

    private static async Task<(int Status, string Body)> HealthCheck(string host, int port)
    {
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(5) };
        using var response = await http.GetAsync($"http://{host}:{port}/");
        Assert.Equal("nosniff", response.Headers.GetValues("X-Content-Type-Options").Single());
        return ((int)response.StatusCode, await response.Content.ReadAsStringAsync());
    }

    /// <summary>
    /// pod-1 and pod-2 Running and svc-4 as LoadBalancer with externalTrafficPolicy Local; returns its address, its
    /// healthCheckNodePort and the one node (1 or 2: a node with a pod) that binds the address.
    /// </summary>
    private async Task<(string Ip, int HealthCheckPort, int Binding)> LocalLoadBalancer()
    {
        await _cluster.Create<V1Pod>(ResourceKind.Pod, TestCluster.Seed("pod-1.yaml"));
        await _cluster.Create<V1Pod>(ResourceKind.Pod, TestCluster.Seed("pod-2.yaml"));
        await _cluster.Running("pod-1");
        await _cluster.Running("pod-2");
        var local = TestCluster.Seed("svc-4-loadbalancer.yaml").Replace("type: LoadBalancer", "type: LoadBalancer\n  externalTrafficPolicy: Local", StringComparison.Ordinal);
        await _cluster.Create<V1Service>(ResourceKind.Service, local);
        V1Service? svc = null;
        await TestCluster.Eventually(async () =>
        {
            svc = await _cluster.TryGet<V1Service>(ResourceKind.Service, "default", "svc-4");
            return svc?.Status?.LoadBalancer?.Ingress is { Count: 1 };
        }, Wait, "svc-4 to get an address");
        var lb = svc!.Status.LoadBalancer.Ingress[0].Ip;
        Assert.Equal("127.0.3.1", lb);

        // Exactly one node announces it, and under Local it is a node with a pod (worker1 or worker2).
        List<int> binding = [];
        await TestCluster.Eventually(async () => (binding = await _cluster.NodesBinding($"{lb}:9000")).Count == 1, Wait, "one node to bind the LoadBalancer IP");
        Assert.Contains(binding[0], new[] { 1, 2 });
        return (lb, svc.Spec.HealthCheckNodePort!.Value, binding[0]);
    }

    [Fact]
    public async Task A_LoadBalancer_IP_is_bound_by_one_node_with_a_pod_and_its_health_check_says_which_nodes_have_one()
    {
        var (lb, hc, binding) = await LocalLoadBalancer();
        Assert.Equal([$"pod-{binding}"], await Traffic.Responders(lb, 9000, 10));

        // healthCheckNodePort: 200 with one local endpoint where a pod runs, 503 where none does.
        await TestCluster.Eventually(async () =>
        {
            try
            {
                return (await HealthCheck(_cluster.NodeAddress(1), hc)).Status == 200;
            }
            catch (HttpRequestException)
            {
                return false;
            }
        }, Wait, "the health check on node 1");
        var (status1, body1) = await HealthCheck(_cluster.NodeAddress(1), hc);
        Assert.Equal(200, status1);
        Assert.Equal("{\n\t\"service\": {\n\t\t\"namespace\": \"default\",\n\t\t\"name\": \"svc-4\"\n\t},\n\t\"localEndpoints\": 1,\n\t\"serviceProxyHealthy\": true\n}\n", body1);
        Assert.Equal(503, (await HealthCheck(_cluster.NodeAddress(3), hc)).Status);
    }

    [Fact]
    public async Task A_LoadBalancer_IP_moves_to_the_other_node_with_a_pod_when_its_node_leaves()
    {
        var (lb, _, leaving) = await LocalLoadBalancer();
        await _cluster[leaving - 1].StopAsync();
        var other = leaving == 1 ? 2 : 1;
        await TestCluster.Eventually(async () =>
        {
            var survivors = new List<int>();
            for (var i = 0; i < _cluster.Nodes.Count; i++)
            {
                if (i == leaving - 1) continue;
                var bound = await TestCluster.Ask<ProxyListeners>(_cluster[i].ServiceProxy, GetProxyListeners.Instance);
                if (bound.Bound.ContainsKey($"{lb}:9000")) survivors.Add(i + 1);
            }
            return survivors.SequenceEqual([other]);
        }, TimeSpan.FromSeconds(60), $"node {other} to take {lb}");
        await TestCluster.Eventually(async () => (await Traffic.Responders(lb, 9000, 5)).SetEquals([$"pod-{other}"]), Wait, "the address answering again");
        _cluster.Nodes.RemoveAt(leaving - 1);
    }

    [Fact]
    public async Task A_100_MB_upload_crosses_nodes_intact_and_a_half_close_still_gets_its_answer()
    {
        // A backend on node 1's pod network that reads to end of stream, then answers with the SHA-256 of what it got.
        var backend = new TcpListener(System.Net.IPAddress.Parse($"{_cluster.PodPrefix}.1.200"), 7000);
        backend.Start();
        var serving = Task.Run(async () =>
        {
            using var conn = await backend.AcceptTcpClientAsync();
            var stream = conn.GetStream();
            using var sha = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
            var buffer = new byte[81920];
            int n;
            while ((n = await stream.ReadAsync(buffer)) > 0) sha.AppendData(buffer, 0, n);
            await stream.WriteAsync(System.Text.Encoding.ASCII.GetBytes(Convert.ToHexString(sha.GetHashAndReset())));
        });
        try
        {
            // A selector-less Service with a hand-made EndpointSlice (as Kubernetes allows) pointing at it.
            await _cluster.Create<V1Service>(ResourceKind.Service,
                "apiVersion: v1\nkind: Service\nmetadata:\n  name: bulk\nspec:\n  type: NodePort\n  ports:\n  - port: 7000\n    nodePort: 30700");
            var slice = $"apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: bulk-manual\n  labels:\n    kubernetes.io/service-name: bulk\n" +
                        $"addressType: IPv4\nendpoints:\n- addresses: [\"{_cluster.PodPrefix}.1.200\"]\n  nodeName: k8s-worker1\n  conditions: {{ready: true}}\nports:\n- name: \"\"\n  port: 7000\n  protocol: TCP";
            var created = await TestCluster.Ask<object>(_cluster[0].ApiServer, new ApiServer.CreateObject("endpointslices", "default",
                KubeObjects.ToJson(KubeObjects.LoadAll(slice).Single())));
            Assert.IsType<ApiServer.ObjectReply>(created);
            await TestCluster.Eventually(async () =>
            {
                var bound = await TestCluster.Ask<ProxyListeners>(_cluster[1].ServiceProxy, GetProxyListeners.Instance);
                return bound.Bound.ContainsKey($"{_cluster.NodeAddress(2)}:30700");
            }, Wait, "node 2 listening on 30700");

            // In through node 2, out to node 1's endpoint: 100 MB, then a half-close, then the answer.
            var data = new byte[100 * 1024 * 1024];
            new Random(7).NextBytes(data);
            var expected = Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(data));
            using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(120));
            await client.ConnectAsync(_cluster.NodeAddress(2), 30700, cts.Token);
            for (var offset = 0; offset < data.Length;)
                offset += await client.SendAsync(data.AsMemory(offset, Math.Min(1 << 20, data.Length - offset)), SocketFlags.None, cts.Token);
            client.Shutdown(SocketShutdown.Send);
            var answer = new byte[64];
            var read = 0;
            while (read < answer.Length)
            {
                var n = await client.ReceiveAsync(answer.AsMemory(read), SocketFlags.None, cts.Token);
                if (n == 0) break;
                read += n;
            }
            Assert.Equal(expected, System.Text.Encoding.ASCII.GetString(answer, 0, read));
            await serving.WaitAsync(TimeSpan.FromSeconds(10));
        }
        finally
        {
            backend.Stop();
        }
    }

    private const string Empty = "apiVersion: v1\nkind: Service\nmetadata:\n  name: empty\nspec:\n  type: NodePort\n  selector:\n    app: nothing\n  ports:\n  - port: 80\n    nodePort: 30444";

    private async Task<bool> Binds(int node, string endPoint) =>
        (await TestCluster.Ask<ProxyListeners>(_cluster[node - 1].ServiceProxy, GetProxyListeners.Instance)).Bound.ContainsKey(endPoint);

    [Fact]
    public async Task A_service_without_endpoints_refuses_a_connection_at_once()
    {
        await _cluster.Create<V1Service>(ResourceKind.Service, Empty);
        await TestCluster.Eventually(() => Binds(2, $"{_cluster.NodeAddress(2)}:30444"), Wait, "node 2 listening");
        // Refused at once, not a hang: kube-proxy's REJECT for a Service with no endpoints.
        Assert.Equal(TestCluster.NoEndpointRefusal, await Traffic.Refusal(_cluster.NodeAddress(2), 30444));
    }

    [SkippableFact]
    public async Task A_NodePort_another_program_holds_is_reported_as_an_Event_and_bound_once_free()
    {
        // The kernel's DNAT takes a NodePort before any program's socket sees it, as in kube-proxy's nftables mode.
        Skip.If(TestCluster.ProxyMode == "nftables", "nftables mode binds no NodePort, so no program can hold one first");
        // Another program holds node 1's port 30444 before the service exists.
        var holder = new TcpListener(System.Net.IPAddress.Parse(_cluster.NodeAddress(1)), 30444);
        holder.Start();
        try
        {
            await _cluster.Create<V1Service>(ResourceKind.Service, Empty);
            // Node 1 knows it could not bind, and reports the conflict as an Event on the Service.
            await TestCluster.Eventually(async () =>
                (await TestCluster.Ask<ProxyListeners>(_cluster[0].ServiceProxy, GetProxyListeners.Instance)).Failed.Contains($"{_cluster.NodeAddress(1)}:30444"),
                Wait, "node 1 to know its NodePort is taken");
            await TestCluster.Eventually(async () =>
            {
                var list = await TestCluster.Ask<object>(_cluster[0].ApiServer, new ApiServer.ListObjects("events", "default", null, "involvedObject.name=empty", 0, null));
                return list is ApiServer.ObjectList l && l.Items.Any(i => i.Json.Contains("FailedToBindPort", StringComparison.Ordinal)
                                                                       && i.Json.Contains("address already in use", StringComparison.Ordinal));
            }, Wait, "the FailedToBindPort event");
            Assert.False(await Binds(1, $"{_cluster.NodeAddress(1)}:30444"));
        }
        finally
        {
            holder.Stop();
        }
        // Once the port is free, node 1 binds it.
        await TestCluster.Eventually(() => Binds(1, $"{_cluster.NodeAddress(1)}:30444"), Wait, "node 1 binding after the port freed");
    }

    [Fact]
    public async Task An_SCTP_port_is_reported_as_not_supported_rather_than_failing()
    {
        // SCTP passes validation but is not proxied: an Event says so.
        await _cluster.Create<V1Service>(ResourceKind.Service,
            "apiVersion: v1\nkind: Service\nmetadata:\n  name: sctp\nspec:\n  selector:\n    app: pod\n  ports:\n  - port: 3868\n    protocol: SCTP");
        await TestCluster.Eventually(async () =>
        {
            var list = await TestCluster.Ask<object>(_cluster[0].ApiServer, new ApiServer.ListObjects("events", "default", null, "involvedObject.name=sctp,reason=ProtocolNotSupported", 0, null));
            return list is ApiServer.ObjectList l && l.Items.Any(i => i.Json.Contains("SCTP is not supported by the ActorCluster service proxy;", StringComparison.Ordinal));
        }, Wait, "the ProtocolNotSupported event");
    }
}
