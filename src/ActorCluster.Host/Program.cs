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
        // The actor system can end on its own (downed by the split-brain resolver, a fatal error): the process ends
        // with it, non-zero, so whoever supervises it (`up`, Docker) starts a fresh node; the API never outlives it.
        var systemEnded = !stopped.Task.IsCompleted;
        Console.WriteLine(systemEnded ? $"actorcluster node {options.Name}: the actor system terminated; exiting" : $"actorcluster node {options.Name} stopping");
        await api.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(10)).ContinueWith(_ => { }, TaskScheduler.Default);
        await node.StopAsync().WaitAsync(TimeSpan.FromSeconds(30)).ContinueWith(_ => { }, TaskScheduler.Default);
        return systemEnded ? 1 : 0;
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
