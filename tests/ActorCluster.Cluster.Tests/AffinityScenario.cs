using ActorCluster.Core.Objects;
using k8s.Models;

namespace ActorCluster.Cluster.Tests;

/// <summary>
/// sessionAffinity: ClientIP as a client meets it, whichever data path carries it (the relay's memory or the
/// kernel's timed sets): pod-1 and pod-2 Running behind a NodePort with a one-second timeout; one client keeps its
/// pod while it keeps coming, and is routed afresh once it has been idle past the timeout.
/// </summary>
internal static class AffinityScenario
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);

    /// <summary>The walkthrough's pod-1 (node 1) and pod-2 (node 2), Running.</summary>
    public static async Task SeedPodsRunning(TestCluster cluster)
    {
        await cluster.Create<V1Pod>(ResourceKind.Pod, TestCluster.Seed("pod-1.yaml"));
        await cluster.Create<V1Pod>(ResourceKind.Pod, TestCluster.Seed("pod-2.yaml"));
        await cluster.Running("pod-1");
        await cluster.Running("pod-2");
    }

    public static async Task HoldsAndExpires(TestCluster cluster, string nodeAddress)
    {
        await SeedPodsRunning(cluster);
        await cluster.Create<V1Service>(ResourceKind.Service, """
            apiVersion: v1
            kind: Service
            metadata:
              name: sticky
            spec:
              type: NodePort
              selector:
                app: pod
              sessionAffinity: ClientIP
              sessionAffinityConfig:
                clientIP:
                  timeoutSeconds: 1
              ports:
              - port: 9000
                targetPort: 8080
                nodePort: 30010
            """);
        // Both pods are endpoints once fresh clients (each its own address) reach both.
        var clients = 0;
        await TestCluster.Eventually(async () =>
        {
            var seen = new HashSet<string>();
            for (var i = 0; i < 10; i++)
            {
                if (await Traffic.Get(nodeAddress, 30010, "/hostname", $"127.0.5.{++clients % 250 + 1}") is { } name) seen.Add(name);
            }
            return seen.Count == 2;
        }, Wait, "both pods behind the sticky service");

        // Holds: one client, twenty connections in a row, one pod.
        var held = await Traffic.Responders(nodeAddress, 30010, 20, fromAddress: "127.0.6.1");
        var pod = Assert.Single(held);

        // Expires: after more than timeoutSeconds without a connection the next one is routed afresh, so it
        // reaches the other pod with probability 1/2 each time (bounded: 20 tries fail with probability 2^-20).
        var moved = false;
        for (var i = 0; i < 20 && !moved; i++)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(1300)); // the idle time is what is under test
            moved = await Traffic.Get(nodeAddress, 30010, "/hostname", "127.0.6.1") is { } name && name != pod;
        }
        Assert.True(moved, "affinity never expired");
    }
}
