using ActorCluster.Api;
using ActorCluster.Cluster.Hosting;
using ActorCluster.Host;

// actorcluster node ...: one node in the foreground until Ctrl-C or SIGTERM, then a graceful leave.
ActorCluster.Proxy.SocketTuning.PreferInlineCompletions();
if (args.Length == 0 || args[0] is "-h" or "--help" or "help")
{
    Console.WriteLine("usage: actorcluster up [options] | actorcluster node [options]   (--help after a command lists its options)");
    return args.Length == 0 ? 2 : 0;
}

switch (args[0])
{
    case "node":
        if (args.Skip(1).Any(a => a is "-h" or "--help"))
        {
            Console.WriteLine(CommandLine.NodeUsage);
            return 0;
        }
        NodeOptions options;
        int apiPort;
        string? token;
        ActorClusterNode node;
        try
        {
            (options, apiPort, token) = CommandLine.ParseNode(args.Skip(1).ToList(), Environment.GetEnvironmentVariable);
            node = ActorClusterNode.Start(options);
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"actorcluster node: {e.Message}");
            return 2;
        }
        KubernetesApi api;
        try
        {
            api = await KubernetesApi.StartAsync(node, new ApiOptions(options.Address, apiPort, options.DataDir, token));
        }
        catch (IOException e)
        {
            Console.Error.WriteLine($"actorcluster node: cannot serve the API on {options.Address}:{apiPort}: {e.Message}");
            await node.StopAsync();
            return 2;
        }
        Console.WriteLine($"actorcluster node {options.Name} running at {node.SelfAddress}; API {api.Url}; kubeconfig {Path.GetFullPath(api.KubeconfigPath)}");
        var stopped = new TaskCompletionSource();
        using (System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, c => { c.Cancel = true; stopped.TrySetResult(); }))
        using (System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGINT, c => { c.Cancel = true; stopped.TrySetResult(); }))
        {
            await Task.WhenAny(stopped.Task, node.System.WhenTerminated);
        }
        Console.WriteLine($"actorcluster node {options.Name} stopping");
        await api.DisposeAsync();
        await node.StopAsync();
        return 0;
    case "up":
        if (args.Skip(1).Any(a => a is "-h" or "--help"))
        {
            Console.WriteLine("usage: actorcluster up [--nodes N (3)] [--data-dir DIR (./.actorcluster)] [--lb-pool CIDR|first-last]... [--config FILE]");
            return 0;
        }
        UpOptions up;
        try
        {
            up = LocalCluster.Parse(args.Skip(1).ToList());
        }
        catch (ArgumentException e)
        {
            Console.Error.WriteLine($"actorcluster up: {e.Message}");
            return 2;
        }
        return await new LocalCluster(up).RunAsync();
    default:
        Console.Error.WriteLine($"actorcluster: unknown command \"{args[0]}\" (commands: node, up)");
        return 2;
}
