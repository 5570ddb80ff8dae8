using System.Globalization;
using ActorCluster.Benchmarks;

// dotnet run -c Release --project tests/ActorCluster.Benchmarks -- control-plane [services] [pods] [nodes] [changes]
// dotnet run -c Release --project tests/ActorCluster.Benchmarks -- failover [rounds]
// dotnet run -c Release --project tests/ActorCluster.Benchmarks -- api-refusals [rounds]
// dotnet run -c Release --project tests/ActorCluster.Benchmarks -- data-plane [seconds] [connections] [rounds] [keep-alive|close|services|all]
// The node in this process runs its sockets as `actorcluster` does.
ActorCluster.Proxy.SocketTuning.PreferInlineCompletions();
int Arg(int i, int fallback) => args.Length > i ? int.Parse(args[i], CultureInfo.InvariantCulture) : fallback;
switch (args.FirstOrDefault())
{
    case "control-plane":
        await ControlPlaneBenchmark.RunAsync(services: Arg(1, 10000), pods: Arg(2, 1000), nodes: Arg(3, 5), changes: Arg(4, 1000));
        return 0;
    case "failover":
        await FailoverBenchmark.RunAsync(rounds: Arg(1, 3));
        return 0;
    case "api-refusals":
        await ApiRefusalBenchmark.RunAsync(rounds: Arg(1, 20));
        return 0;
    case "data-plane":
        await DataPlaneBenchmark.RunAsync(seconds: Arg(1, 10), connections: Arg(2, 64), rounds: Arg(3, 3), phase: args.Length > 4 ? args[4] : "all");
        return 0;
    case "backend":
        await DataPlaneBenchmark.RunBackendAsync(args[1], int.Parse(args[2], CultureInfo.InvariantCulture));
        return 0;
    default:
        Console.Error.WriteLine("usage: ActorCluster.Benchmarks control-plane [services=10000] [pods=1000] [nodes=5] [changes=1000] | failover [rounds=3] | api-refusals [rounds=20] | data-plane [seconds=10] [connections=64] [rounds=3] [keep-alive|close|services|all]");
        return 2;
}
