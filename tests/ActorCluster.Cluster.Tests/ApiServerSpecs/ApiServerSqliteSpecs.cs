using ActorCluster.Cluster.ApiServer;
using ActorCluster.Core.ControlPlane;
using Akka.Actor;
using Akka.Configuration;
using Akka.Persistence.Sql;
using Akka.TestKit.Xunit2;

namespace ActorCluster.Cluster.Tests.ApiServerSpecs;

/// <summary>The ApiServer on a real SQLite journal: the journal is trimmed behind snapshots, and versions survive it.</summary>
public sealed class ApiServerSqliteSpecs : TestKit
{
    private static readonly string Db = Path.Combine(Path.GetTempPath(), $"actorcluster-spec-{Guid.NewGuid():N}.db");

    private static Config SpecConfig() => SpecSystem.Config($$"""
        akka.actor.serializers.actorcluster = "ActorCluster.Cluster.Serialization.ClusterMessageSerializer, ActorCluster.Cluster"
        akka.actor.serialization-bindings { "ActorCluster.Cluster.Serialization.IClusterMessage, ActorCluster.Cluster" = actorcluster }
        akka.persistence.journal.plugin = "akka.persistence.journal.sql"
        akka.persistence.snapshot-store.plugin = "akka.persistence.snapshot-store.sql"
        akka.persistence.journal.sql { provider-name = "SQLite.MS", connection-string = "Data Source={{Db}}", auto-initialize = true, parallelism = 1 }
        akka.persistence.snapshot-store.sql { provider-name = "SQLite.MS", connection-string = "Data Source={{Db}}", auto-initialize = true }
        """).WithFallback(SqlPersistence.DefaultConfiguration);

    public ApiServerSqliteSpecs()
        : base(SpecConfig())
    {
    }

    protected override void AfterAll()
    {
        base.AfterAll();
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools();
        foreach (var f in new[] { Db, Db + "-wal", Db + "-shm" }) File.Delete(f);
    }

    private object Ask(IActorRef apiServer, object message)
    {
        var probe = CreateTestProbe();
        apiServer.Tell(message, probe.Ref);
        return probe.ReceiveOne(TimeSpan.FromSeconds(10)) ?? throw new TimeoutException(message.GetType().Name);
    }

    private static CreateObject Service(string name) => SpecSystem.Service(name);

    private long JournalRows()
    {
        using var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Db}");
        connection.Open();
        using var count = connection.CreateCommand();
        count.CommandText = "SELECT count(*) FROM journal";
        return (long)count.ExecuteScalar()!;
    }

    [Fact]
    public void The_journal_is_trimmed_behind_snapshots_and_versions_continue_above_it_after_restarts()
    {
        var settings = new ApiServerSettings(ControlPlaneConfig.Default, SnapshotEvery: 5);
        long last = 0;
        for (var run = 0; run < 3; run++)
        {
            var apiServer = Sys.ActorOf(ApiServerActor.Props(settings));
            for (var i = 0; i < 30; i++)
            {
                var reply = Assert.IsType<ObjectReply>(Ask(apiServer, Service($"run{run}-svc{i}")));
                Assert.True(reply.ResourceVersion > last, $"version {reply.ResourceVersion} after {last}");
                last = reply.ResourceVersion;
            }
            // Everything written in every run is still there.
            var list = Assert.IsType<ObjectList>(Ask(apiServer, new ListObjects("services", "default", null, null, 0, null)));
            Assert.Null(list.Continue); // one page (under 64 KiB)
            Assert.Equal(30 * (run + 1), list.Items.Count);
            Assert.Equal(last, list.ResourceVersion);
            // Each run snapshots at least once (the interval stays below 30 events here) and the journal is trimmed
            // behind it: fewer rows than this run alone wrote, whatever earlier runs left.
            AwaitCondition(() => JournalRows() < 30, TimeSpan.FromSeconds(10));
            Watch(apiServer);
            Sys.Stop(apiServer);
            ExpectTerminated(apiServer);
        }
    }
}
