using ActorCluster.Cluster.ApiServer;
using ActorCluster.Cluster.Serialization;
using ActorCluster.Core.Objects;
using Akka.Actor;
using Akka.TestKit.Xunit2;

namespace ActorCluster.Cluster.Tests;

/// <summary>The wire and journal format, and watches that resume instead of listing again.</summary>
public sealed class SerializationAndWatchTests
{
    [Fact]
    public async Task Every_message_type_that_crosses_nodes_goes_through_the_explicit_serializer_and_back()
    {
        // Every IClusterMessage, found by reflection (a new message cannot be forgotten here), with a sample built
        // from its constructor, on an ActorSystem configured as a node's.
        var config = Hosting.NodeConfiguration.Layers(new Hosting.NodeOptions
        {
            Name = "k8s-worker1", DataDir = Path.GetTempPath(), ExtraHocon = "akka.remote.dot-netty.tcp { hostname = 127.0.0.1, port = 0 }",
        });
        using var system = (ExtendedActorSystem)ActorSystem.Create("serialization-" + Guid.NewGuid().ToString("N"), config);
        var types = typeof(IClusterMessage).Assembly.GetTypes()
            .Where(t => typeof(IClusterMessage).IsAssignableFrom(t) && t is { IsAbstract: false, IsInterface: false }).ToList();
        Assert.Contains(typeof(CreateObject), types);
        Assert.Contains(typeof(Node.PodProxyRequest), types);
        var someRef = system.ActorOf(Props.Empty, "sample");
        foreach (var type in types)
        {
            var sample = Sample(type, someRef);
            var serializer = system.Serialization.FindSerializerFor(sample);
            Assert.True(serializer is ClusterMessageSerializer, $"{type.Name} goes through {serializer.GetType().Name}");
            var manifest = Akka.Serialization.Serialization.ManifestFor(serializer, sample);
            Assert.Equal(type.Name, manifest);
            var bytes = serializer.ToBinary(sample);
            var back = system.Serialization.Deserialize(bytes, serializer.Identifier, manifest);
            Assert.IsType(type, back);
            Assert.Equal(System.Text.Encoding.UTF8.GetString(bytes), System.Text.Encoding.UTF8.GetString(serializer.ToBinary(back)));
        }
        await system.Terminate();
    }

    [Fact]
    public async Task A_store_snapshot_is_written_compressed_and_one_written_before_compression_still_reads()
    {
        var config = Hosting.NodeConfiguration.Layers(new Hosting.NodeOptions
        {
            Name = "k8s-worker1", DataDir = Path.GetTempPath(), ExtraHocon = "akka.remote.dot-netty.tcp { hostname = 127.0.0.1, port = 0 }",
        });
        using var system = (ExtendedActorSystem)ActorSystem.Create("snapshot-" + Guid.NewGuid().ToString("N"), config);
        var objects = Enumerable.Range(0, 500).Select(i => new WatchedObject("services",
            $$$"""{"apiVersion":"v1","kind":"Service","metadata":{"name":"svc-{{{i}}}","namespace":"default","resourceVersion":"{{{i + 1}}}"},"spec":{"selector":{"app":"svc-{{{i}}}"},"ports":[{"port":80,"targetPort":8080,"protocol":"TCP"}],"clusterIP":"10.96.{{{i / 250}}}.{{{i % 250 + 1}}}","type":"ClusterIP"}}""")).ToList();
        var snapshot = new StoreSnapshot(objects, 500);
        var serializer = (ClusterMessageSerializer)system.Serialization.FindSerializerFor(snapshot);

        var bytes = serializer.ToBinary(snapshot);
        var plain = System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(snapshot);
        Assert.Equal(new byte[] { 0x1f, 0x8b }, bytes[..2]);
        Assert.True(bytes.Length * 5 < plain.Length, $"{bytes.Length} bytes compressed, {plain.Length} as JSON");
        foreach (var written in new[] { bytes, plain })
        {
            var back = (StoreSnapshot)serializer.FromBinary(written, nameof(StoreSnapshot));
            Assert.Equal(500, back.ResourceVersion);
            Assert.Equal(objects.Select(o => (o.Resource, o.Json)), back.Objects.Select(o => (o.Resource, o.Json)));
        }
        await system.Terminate();
    }

    /// <summary>A value of <paramref name="type"/> with every constructor argument filled (JSON-carrying strings get JSON).</summary>
    private static object Sample(Type type, IActorRef someRef, string? parameter = null)
    {
        if (type == typeof(string)) return parameter?.Contains("json", StringComparison.OrdinalIgnoreCase) == true ? "{\"kind\":\"Service\"}" : "text";
        if (type == typeof(int) || type == typeof(long) || type == typeof(double)) return Convert.ChangeType(7, type, System.Globalization.CultureInfo.InvariantCulture);
        if (type == typeof(bool)) return true;
        if (type == typeof(DateTime)) return new DateTime(2026, 12, 6, 12, 0, 0, DateTimeKind.Utc);
        if (type == typeof(byte[])) return new byte[] { 1, 2, 3 };
        if (typeof(IActorRef).IsAssignableFrom(type)) return someRef;
        if (Nullable.GetUnderlyingType(type) is { } inner) return Sample(inner, someRef, parameter);
        if (type.IsEnum) return Enum.GetValues(type).GetValue(0)!;
        if (type.IsGenericType && type.GetGenericTypeDefinition() is var open
            && (open == typeof(IReadOnlyList<>) || open == typeof(List<>) || open == typeof(IEnumerable<>) || open == typeof(IReadOnlyCollection<>)))
        {
            var element = type.GetGenericArguments()[0];
            var list = (System.Collections.IList)Activator.CreateInstance(typeof(List<>).MakeGenericType(element))!;
            list.Add(Sample(element, someRef, parameter));
            return list;
        }
        var constructor = type.GetConstructors().OrderByDescending(c => c.GetParameters().Length).First();
        return constructor.Invoke(constructor.GetParameters().Select(p => Sample(p.ParameterType, someRef, p.Name)).ToArray());
    }

    [Fact]
    public async Task A_replica_that_sees_a_gap_lists_again_and_catches_up()
    {
        var cluster = await TestCluster.StartAsync(1);
        try
        {
            var replica = cluster[0].Replica;
            var before = await TestCluster.Ask<Replica.ReplicaStats>(replica, Replica.GetReplicaStats.Instance);
            Assert.True(before.Synced);
            // A change that claims to follow a version the replica never saw: a lost message.
            replica.Tell(new WatchChange("Added", "namespaces", "{\"apiVersion\":\"v1\",\"kind\":\"Namespace\",\"metadata\":{\"name\":\"ghost\"}}",
                before.ResourceVersion + 10, before.ResourceVersion + 5, 0));
            await TestCluster.Eventually(async () =>
            {
                var stats = await TestCluster.Ask<Replica.ReplicaStats>(replica, Replica.GetReplicaStats.Instance);
                return stats.Relists == before.Relists + 1 && stats.Synced;
            }, TimeSpan.FromSeconds(20), "a relist");
            // The bogus change was not applied, and later changes flow again.
            await cluster.Create<k8s.Models.V1Service>(ResourceKind.Service, "apiVersion: v1\nkind: Service\nmetadata:\n  name: after-gap\nspec:\n  ports:\n  - port: 80");
            await TestCluster.Eventually(async () =>
            {
                var stats = await TestCluster.Ask<Replica.ReplicaStats>(replica, Replica.GetReplicaStats.Instance);
                return stats.ChangesApplied > 0 && stats.Relists == before.Relists + 1;
            }, TimeSpan.FromSeconds(20), "changes after the relist");
        }
        finally
        {
            await cluster.DisposeAsync();
            cluster.DeleteData();
        }
    }

    [Fact]
    public async Task A_watch_resumes_from_a_recent_resource_version_and_expires_when_too_old()
    {
        var cluster = await TestCluster.StartAsync(1);
        try
        {
            var first = await cluster.Create<k8s.Models.V1Service>(ResourceKind.Service, "apiVersion: v1\nkind: Service\nmetadata:\n  name: a\nspec:\n  ports:\n  - port: 80");
            var rv = long.Parse(first.Metadata.ResourceVersion, System.Globalization.CultureInfo.InvariantCulture);
            await cluster.Create<k8s.Models.V1Service>(ResourceKind.Service, "apiVersion: v1\nkind: Service\nmetadata:\n  name: b\nspec:\n  ports:\n  - port: 80");

            using var kit = new TestKit(cluster[0].System);
            var probe = kit.CreateTestProbe();
            cluster[0].ApiServer.Tell(new StartWatch(probe.Ref, "", rv));
            // Only what came after rv: service b (and its endpoints and slice), chained by previous versions.
            var change = probe.ExpectMsg<WatchChange>(TimeSpan.FromSeconds(10));
            Assert.Equal(rv, change.PreviousResourceVersion);
            Assert.True(change.ResourceVersion > rv);
            var names = new List<string> { KubeObjects.FromJson<k8s.Models.V1Service>(change.Json).Metadata.Name };
            Assert.Contains("b", names);

            cluster[0].ApiServer.Tell(new StartWatch(probe.Ref, "", 0));
            var snapshot = probe.FishForMessage<WatchSnapshot>(_ => true, TimeSpan.FromSeconds(10));
            Assert.True(snapshot.Last);
            Assert.Contains(snapshot.Objects, o => o.Resource == "services" && o.Json.Contains("\"name\":\"a\"", StringComparison.Ordinal));
        }
        finally
        {
            await cluster.DisposeAsync();
            cluster.DeleteData();
        }
    }
}
