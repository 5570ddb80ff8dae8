using System.Diagnostics;
using ActorCluster.Cluster.ApiServer;
using ActorCluster.Cluster.Hosting;
using Akka.Actor;

namespace ActorCluster.Benchmarks;

/// <summary>
/// How long the control plane is unavailable when the node hosting the ApiServer dies without leaving
/// (what kill -9 does), with the shipped local-cluster timings (hocon/local.conf).
/// </summary>
internal static class FailoverBenchmark
{
    public static async Task RunAsync(int rounds)
    {
        for (var round = 1; round <= rounds; round++)
        {
            var dataDir = Path.Combine(Path.GetTempPath(), "actorcluster-bench", Guid.NewGuid().ToString("N"));
            var nodes = new List<ActorClusterNode>();
            try
            {
                for (var i = 1; i <= 3; i++)
                {
                    var seeds = nodes.Count == 0 ? [] : new[] { $"{nodes[0].SelfAddress.Host}:{nodes[0].SelfAddress.Port}" };
                    nodes.Add(await ActorClusterNode.StartAsync(new NodeOptions
                    {
                        Name = $"k8s-worker{i}", Address = $"127.0.10.{i}", Port = 0, Seeds = seeds, DataDir = dataDir, PodNetworkPrefix = "127.198",
                        ExtraHocon = "akka.loglevel = ERROR\nakka.stdout-loglevel = ERROR\n" +
                                     (i == 1 ? "akka.coordinated-shutdown.run-by-actor-system-terminate = off" : ""),
                    }));
                }
                await Until(() => nodes.All(n => Akka.Cluster.Cluster.Get(n.System).State.Members.Count(m => m.Status == Akka.Cluster.MemberStatus.Up) == 3));
                await Until(async () => await nodes[1].ApiServer.Ask<object>(new CreateObject("services", "default",
                    """{"apiVersion":"v1","kind":"Service","metadata":{"name":"before"},"spec":{"ports":[{"port":80}]}}"""), TimeSpan.FromSeconds(5)) is ObjectReply);

                var sw = Stopwatch.StartNew();
                await nodes[0].System.Terminate();
                var survivor = Akka.Cluster.Cluster.Get(nodes[1].System);
                TimeSpan? unreachable = null, removed = null;
                await Until(async () =>
                {
                    if (unreachable is null && survivor.State.Unreachable.Count > 0) unreachable = sw.Elapsed;
                    if (removed is null && survivor.State.Members.Count == 2) removed = sw.Elapsed;
                    try
                    {
                        var reply = await nodes[1].ApiServer.Ask<object>(new CreateObject("services", "default",
                            $$$"""{"apiVersion":"v1","kind":"Service","metadata":{"name":"after-{{{sw.ElapsedMilliseconds}}}"},"spec":{"ports":[{"port":80}]}}"""), TimeSpan.FromMilliseconds(500));
                        return reply is ObjectReply;
                    }
                    catch (AskTimeoutException)
                    {
                        return false;
                    }
                });
                Console.WriteLine($"failover round {round}: unreachable after {unreachable?.TotalSeconds:0.0} s, removed after {removed?.TotalSeconds:0.0} s, " +
                                  $"ApiServer taking writes again after {sw.Elapsed.TotalSeconds:0.0} s");
            }
            finally
            {
                for (var i = nodes.Count - 1; i >= 1; i--) await nodes[i].DisposeAsync();
                Directory.Delete(dataDir, recursive: true);
            }
        }
    }

    private static Task Until(Func<bool> condition) => Until(() => Task.FromResult(condition()));

    private static Task Until(Func<Task<bool>> condition) => Bench.Until(condition, TimeSpan.FromMinutes(2), "failover");
}
