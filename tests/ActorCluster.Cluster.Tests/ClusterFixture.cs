using ActorCluster.Cluster.ApiServer;
using ActorCluster.Cluster.Hosting;
using ActorCluster.Core.Objects;
using ActorCluster.Core.Store;
using Akka.Actor;
using k8s;
using k8s.Models;

// Every test here starts real nodes that bind pod addresses: run them one at a time.
[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace ActorCluster.Cluster.Tests;

/// <summary>Three (or more) ActorCluster nodes in this process, joined into one cluster over real remoting.</summary>
internal sealed class TestCluster : IAsyncDisposable
{
    // Each test assembly takes its own pod ranges, so assemblies running side by side never share a pod address.
    private static int _network = typeof(TestCluster).Assembly.GetName().Name!.Contains("Api", StringComparison.Ordinal) ? 70 : 10;

    private TestCluster(string dataDir, string podPrefix, string persistence, string? postgres)
    {
        DataDir = dataDir;
        PodPrefix = podPrefix;
        Persistence = persistence;
        Postgres = postgres;
    }

    public string Persistence { get; }

    /// <summary>HOCON every node of this cluster gets (on top of <see cref="FastHocon"/>).</summary>
    public string ExtraHocon { get; init; } = "";

    public string? Postgres { get; }

    public string DataDir { get; }

    public string PodPrefix { get; }

    public List<ActorClusterNode> Nodes { get; } = [];

    public ActorClusterNode this[int i] => Nodes[i];

    /// <summary>Timings for a test cluster: fast failure detection and membership ticks, so tests stay short.</summary>
    public const string FastHocon = """
        akka.cluster.failure-detector.acceptable-heartbeat-pause = 2s
        akka.cluster.failure-detector.heartbeat-interval = 500ms
        akka.cluster.split-brain-resolver.stable-after = 3s
        akka.cluster.down-removal-margin = 1s
        # Membership moves on the leader's ticks (1 s by default): joining Up and leaving Removed take a few of them.
        akka.cluster.gossip-interval = 200ms
        akka.cluster.leader-actions-interval = 200ms
        akka.cluster.periodic-tasks-initial-delay = 100ms
        akka.loglevel = WARNING
        akka.stdout-loglevel = WARNING
        """;

    public static TestCluster Create(string? dataDir = null, string persistence = "sqlite", string? postgres = null)
    {
        var n = Interlocked.Increment(ref _network);
        var dir = dataDir ?? Path.Combine(Path.GetTempPath(), "actorcluster-tests", Guid.NewGuid().ToString("N"));
        return new TestCluster(dir, $"127.{100 + n % 150}", persistence, postgres);
    }

    public string NodeAddress(int index) => $"{PodPrefix}.0.{index}";

    /// <summary>A manifest of the seed walkthrough (deploy/examples/seed), as text.</summary>
    public static string Seed(string file)
    {
        var dir = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(dir, "ActorCluster.sln"))) dir = Path.GetDirectoryName(dir)!;
        return File.ReadAllText(Path.Combine(dir, "deploy", "examples", "seed", file));
    }

    /// <summary>How a node is started; the API tests start some nodes with their API in the same host.</summary>
    public Func<NodeOptions, Task<ActorClusterNode>> Starter { get; init; } = options => ActorClusterNode.StartAsync(options);

    /// <summary>The options node <paramref name="index"/> starts with (node i at &lt;prefix&gt;.0.i; its pods at &lt;prefix&gt;.i.x).</summary>
    public NodeOptions NodeOptions(int index, string extraHocon = "") => new()
    {
        Name = $"k8s-worker{index}",
        Address = NodeAddress(index),
        Port = 0,
        Seeds = Nodes.Count == 0 ? [] : [$"{Nodes[0].SelfAddress.Host}:{Nodes[0].SelfAddress.Port}"],
        DataDir = DataDir,
        PodNetworkPrefix = PodPrefix,
        Persistence = Persistence,
        PostgresConnectionString = Postgres,
        ExtraHocon = extraHocon + "\n" + ExtraHocon + "\n" + FastHocon + ProxyModeHocon,
    };

    /// <summary>
    /// The data path the test clusters use: the relay unless ACTORCLUSTER_TEST_PROXY_MODE says otherwise (the kernel
    /// data path's test runs the data-plane tests again that way, inside a network namespace of its own).
    /// </summary>
    public static string? ProxyMode { get; } = Environment.GetEnvironmentVariable("ACTORCLUSTER_TEST_PROXY_MODE");

    /// <summary>
    /// How a TCP connection to an address without endpoints is refused: the relay accepts it and resets it; the kernel's
    /// rule answers the SYN with a reset, which the client sees as refused. Both at once, never a hang.
    /// </summary>
    public static System.Net.Sockets.SocketError NoEndpointRefusal =>
        ProxyMode == "nftables" ? System.Net.Sockets.SocketError.ConnectionRefused : System.Net.Sockets.SocketError.ConnectionReset;

    /// <summary>
    /// The tests run inside a network namespace of their own (ActorCluster.Proxy.Tests' child runs set
    /// ACTORCLUSTER_TEST_NETNS=1): a test may add addresses to its loopback, which it must never do on the host.
    /// </summary>
    public static bool InPrivateNetworkNamespace { get; } = Environment.GetEnvironmentVariable("ACTORCLUSTER_TEST_NETNS") == "1";

    private static string ProxyModeHocon => ProxyMode is { } mode ? $"\nactorcluster.proxy.mode = {mode}\n" : "";

    public async Task<ActorClusterNode> StartNode(int index, string extraHocon = "")
    {
        var node = await Starter(NodeOptions(index, extraHocon));
        Nodes.Add(node);
        return node;
    }

    public static async Task<TestCluster> StartAsync(int nodes = 3, string? dataDir = null, string persistence = "sqlite", string? postgres = null, string extraHocon = "",
        Func<NodeOptions, Task<ActorClusterNode>>? starter = null)
    {
        var cluster = Create(dataDir, persistence, postgres);
        cluster = new TestCluster(cluster.DataDir, cluster.PodPrefix, persistence, postgres) { ExtraHocon = extraHocon, Starter = starter ?? (o => ActorClusterNode.StartAsync(o)) };
        for (var i = 1; i <= nodes; i++) await cluster.StartNode(i);
        await cluster.WaitForReadyNodes(nodes);
        return cluster;
    }

    public async Task WaitForReadyNodes(int count, ActorClusterNode? via = null)
    {
        // Membership first: every node must see every other as Up (the split-brain resolver counts only Up members).
        await Eventually(() => Nodes.All(n =>
            Akka.Cluster.Cluster.Get(n.System).State.Members.Count(m => m.Status == Akka.Cluster.MemberStatus.Up) >= count),
            TimeSpan.FromSeconds(60), $"{count} members Up");
        await Eventually(async () =>
        {
            var ready = 0;
            for (var i = 1; i <= count; i++)
            {
                var node = await TryGet<V1Node>(ResourceKind.Node, null, $"k8s-worker{i}", via);
                if (node?.Status?.Conditions?.Any(c => c.Type == "Ready" && c.Status == "True") == true) ready++;
            }
            return ready == count;
        }, TimeSpan.FromSeconds(60), $"{count} Ready nodes");
    }

    public static async Task<T> Ask<T>(IActorRef target, object message) =>
        await target.Ask<T>(message, TimeSpan.FromSeconds(10));

    /// <summary>Every object of a list, page by page: the ApiServer cuts a page at 64 KiB even without a limit.</summary>
    public static async Task<List<RawObject>> ListAll(IActorRef apiServer, string resource, string? ns)
    {
        var items = new List<RawObject>();
        string? next = null;
        do
        {
            var page = await Ask<ObjectList>(apiServer, new ListObjects(resource, ns, null, null, 0, next));
            items.AddRange(page.Items);
            next = page.Continue;
        } while (next is not null);
        return items;
    }

    public async Task<T?> TryGet<T>(ResourceKind kind, string? ns, string name, ActorClusterNode? via = null) where T : class, IKubernetesObject<V1ObjectMeta>
    {
        try
        {
            var reply = await (via ?? Nodes[0]).ApiServer.Ask<object>(new GetObject(kind.Resource, ns, name), TimeSpan.FromSeconds(5));
            return reply is ObjectReply o ? StoredObject.FromJson(o.Resource, o.Json).As<T>() : null;
        }
        catch (Akka.Actor.AskTimeoutException)
        {
            return null;
        }
    }

    public async Task<T> Create<T>(ResourceKind kind, string yaml, ActorClusterNode? via = null) where T : class, IKubernetesObject<V1ObjectMeta>
    {
        var obj = KubeObjects.LoadAll(yaml).Single();
        var reply = await Ask<object>((via ?? Nodes[0]).ApiServer, new CreateObject(kind.Resource, "default", KubeObjects.ToJson(obj)));
        return reply switch
        {
            ObjectReply o => StoredObject.FromJson(o.Resource, o.Json).As<T>(),
            ApiErrorReply e => throw new InvalidOperationException(e.StatusJson),
            _ => throw new InvalidOperationException(reply.ToString()),
        };
    }

    /// <summary>Waits (up to <paramref name="timeout"/>, default 30 s) for a pod of namespace default to be Ready.</summary>
    public async Task<V1Pod> Running(string name, TimeSpan? timeout = null)
    {
        V1Pod? pod = null;
        await Eventually(async () =>
        {
            pod = await TryGet<V1Pod>(ResourceKind.Pod, "default", name);
            return pod?.Status?.Conditions?.Any(c => c.Type == "Ready" && c.Status == "True") == true;
        }, timeout ?? TimeSpan.FromSeconds(30), name + " ready");
        return pod!;
    }

    /// <summary>Which nodes (1-based) have a listener bound on <paramref name="endPoint"/> ("ip:port").</summary>
    public async Task<List<int>> NodesBinding(string endPoint)
    {
        var nodes = new List<int>();
        for (var i = 0; i < Nodes.Count; i++)
        {
            var bound = await Ask<Proxy.ProxyListeners>(Nodes[i].ServiceProxy, Proxy.GetProxyListeners.Instance);
            if (bound.Bound.ContainsKey(endPoint)) nodes.Add(i + 1);
        }
        return nodes;
    }

    /// <summary>Waits for a condition with a deadline (never a fixed sleep): polls every 100 ms.</summary>
    public static async Task Eventually(Func<Task<bool>> condition, TimeSpan timeout, string what)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            if (await condition()) return;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"timed out after {timeout.TotalSeconds:0}s waiting for {what}");
            await Task.Delay(100);
        }
    }

    public static Task Eventually(Func<bool> condition, TimeSpan timeout, string what) =>
        Eventually(() => Task.FromResult(condition()), timeout, what);

    public async ValueTask DisposeAsync()
    {
        // Youngest first, one at a time: each leave is confirmed by a leader that is still there.
        for (var i = Nodes.Count - 1; i >= 0; i--) await Nodes[i].DisposeAsync();
        Nodes.Clear();
    }

    public void DeleteData()
    {
        try
        {
            Directory.Delete(DataDir, recursive: true);
        }
        catch (IOException)
        {
        }
    }
}
