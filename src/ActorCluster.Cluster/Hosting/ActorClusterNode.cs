using ActorCluster.Cluster.ApiServer;
using ActorCluster.Cluster.Node;
using ActorCluster.Cluster.Proxy;
using ActorCluster.Cluster.Replica;
using Akka.Actor;
using Akka.Hosting;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace ActorCluster.Cluster.Hosting;

/// <summary>
/// One running ActorCluster node: the .NET host that holds it (<see cref="NodeHosting"/>) and its actors, as the
/// <see cref="ActorRegistry"/> knows them. <c>actorcluster node</c> and the tests start nodes the same way; several
/// run side by side in one process, each in its own host.
/// </summary>
public sealed class ActorClusterNode : IAsyncDisposable
{
    public const string SystemName = NodeHosting.SystemName;

    private int _disposed;

    private ActorClusterNode(IHost host)
    {
        Host = host;
        System = host.Services.GetRequiredService<ActorSystem>();
        Options = host.Services.GetRequiredService<NodeOptions>();
        Metrics = host.Services.GetRequiredService<NodeMetrics>();
        var registry = ActorRegistry.For(System);
        ApiServer = registry.Get<ApiServerActor>();
        Replica = registry.Get<NodeReplica>();
        Agent = registry.Get<NodeAgent>();
        ServiceProxy = registry.Get<ServiceProxyActor>();
    }

    /// <summary>The host: the ActorSystem's hosted service, and whatever else was added (Kestrel for the API).</summary>
    public IHost Host { get; }

    public ActorSystem System { get; }

    public NodeOptions Options { get; }

    /// <summary>The ApiServer singleton, through this node's proxy.</summary>
    public IActorRef ApiServer { get; }

    public IActorRef Replica { get; }

    public IActorRef Agent { get; }

    /// <summary>This node's kube-proxy: listeners on ClusterIPs and NodePorts.</summary>
    public IActorRef ServiceProxy { get; }

    /// <summary>This node's Prometheus registry and the metrics recorded where they happen (served at /metrics).</summary>
    public NodeMetrics Metrics { get; }

    public Address SelfAddress => Akka.Cluster.Cluster.Get(System).SelfAddress;

    /// <summary>
    /// Starts a node in its own host and joins (or starts) the cluster. <paramref name="extend"/> adds to the host
    /// (the API adds Kestrel); <paramref name="logging"/> chooses where the log goes (nowhere unless told).
    /// Throws <see cref="ArgumentException"/> for bad options or configuration, before anything starts.
    /// </summary>
    public static async Task<ActorClusterNode> StartAsync(NodeOptions options, Action<IHostBuilder>? extend = null, Action<ILoggingBuilder>? logging = null)
    {
        var builder = new HostBuilder()
            .ConfigureServices(services =>
            {
                services.AddActorClusterNode(options);
                // The process's signals belong to whoever runs the node (`actorcluster node` handles SIGTERM itself),
                // and several nodes share one test process: no console lifetime per node.
                services.AddSingleton<IHostLifetime, QuietLifetime>();
            })
            .ConfigureLogging(l =>
            {
                l.ClearProviders();
                logging?.Invoke(l);
            });
        extend?.Invoke(builder);
        var host = builder.Build();
        await host.StartAsync().ConfigureAwait(false);
        return new ActorClusterNode(host);
    }

    /// <summary>Leaves the cluster gracefully (hands the singleton over), stops the host and everything in it.</summary>
    public async Task StopAsync()
    {
        if (Volatile.Read(ref _disposed) == 1) return;
        await Host.StopAsync().ConfigureAwait(false);
        // A node whose host is stopped by the ActorSystem ending first still has to finish its shutdown.
        await CoordinatedShutdown.Get(System).Run(CoordinatedShutdown.ClrExitReason.Instance).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
        await StopAsync().ConfigureAwait(false);
        Host.Dispose();
    }

    private sealed class QuietLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
