// actorcluster up | node: see Cli.cs (`actorcluster --help`).
ActorCluster.Proxy.SocketTuning.PreferInlineCompletions();
return await ActorCluster.Host.Cli.RunAsync(args);
