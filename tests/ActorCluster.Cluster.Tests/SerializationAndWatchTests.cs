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
    public async Task Every_protocol_message_goes_through_the_explicit_serializer_and_back()
    {
        await using var cluster = await TestCluster.StartAsync(1);
        var system = (ExtendedActorSystem)cluster[0].System;
        var serialization = system.Serialization;
        var samples = new object[]
        {
            new CreateObject("services", "default", "{\"kind\":\"Service\"}"),
            new ObjectsChanged([new PersistedChange("Added", "services", "{}")], 42),
            new StartWatch(cluster[0].Replica, "k8s-worker1", 7),
            new WatchChange("Modified", "pods", "{}", 9, 8, 1234),
            new StoreSnapshot([new WatchedObject("nodes", "{}")], 3),
            new WatchResumed(11),
        };
        foreach (var sample in samples)
        {
            var serializer = serialization.FindSerializerFor(sample);
            Assert.IsType<ClusterMessageSerializer>(serializer);
            var manifest = Akka.Serialization.Serialization.ManifestFor(serializer, sample);
            Assert.Equal(sample.GetType().Name, manifest);
            var bytes = serializer.ToBinary(sample);
            var back = serialization.Deserialize(bytes, serializer.Identifier, manifest);
            Assert.IsType(sample.GetType(), back);
            Assert.Equal(bytes, serializer.ToBinary(back));
        }
        cluster.DeleteData();
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
