namespace ActorCluster.Cluster.Tests;

/// <summary>Manifests several data-plane test classes share (the seed walkthrough's are in deploy/examples/seed).</summary>
internal static class TestManifests
{
    /// <summary>A UDP NodePort Service on port 53 to the pods labelled app=<paramref name="selector"/> (port 5353).</summary>
    public static string UdpService(string name, int nodePort, string selector = "dns", string policy = "Cluster") => $"""
        apiVersion: v1
        kind: Service
        metadata:
          name: {name}
        spec:
          type: NodePort
          externalTrafficPolicy: {policy}
          selector:
            app: {selector}
          ports:
          - port: 53
            targetPort: 5353
            protocol: UDP
            nodePort: {nodePort}
        """;

    /// <summary>udp-N on node N: kubetm/app answering UDP on 5353, labelled app=dns.</summary>
    public static string UdpPod(int node) => $"""
        apiVersion: v1
        kind: Pod
        metadata:
          name: udp-{node}
          labels:
            app: dns
        spec:
          nodeSelector:
            kubernetes.io/hostname: k8s-worker{node}
          containers:
          - name: container
            image: kubetm/app
            ports:
            - containerPort: 5353
              protocol: UDP
        """;
}

/// <summary>UDP through a Service as a client meets it, whichever data path carries it.</summary>
internal static class UdpScenario
{
    /// <summary>Waits until fresh UDP client flows (each its own socket) have been answered by every one of <paramref name="pods"/>.</summary>
    public static async Task UdpFlowsSpreadOver(string host, int port, IReadOnlyCollection<string> pods, TimeSpan wait)
    {
        var seen = new HashSet<string>();
        await TestCluster.Eventually(async () =>
        {
            using var client = Traffic.UdpClient(host, port);
            if ((await Traffic.Exchange(client, "hostname")).Reply is { } name) seen.Add(name);
            return seen.SetEquals(pods);
        }, wait, $"UDP flows over {string.Join(", ", pods)}");
    }

    /// <summary>One UDP flow keeps its pod for six datagrams, and the pod sees it come from <paramref name="seenFrom"/>.</summary>
    public static async Task UdpFlowStaysOnItsPodAndSees(string host, int port, string seenFrom)
    {
        using var flow = Traffic.UdpClient(host, port);
        var first = (await Traffic.Exchange(flow, "hostname")).Reply;
        Assert.NotNull(first);
        for (var i = 0; i < 5; i++) Assert.Equal(first, (await Traffic.Exchange(flow, "hostname")).Reply);
        Assert.StartsWith(seenFrom + ":", (await Traffic.Exchange(flow, "client")).Reply, StringComparison.Ordinal);
    }
}
