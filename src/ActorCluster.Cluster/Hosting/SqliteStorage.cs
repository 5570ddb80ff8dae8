using Akka.Persistence.Sql.Hosting;
using LinqToDB;
using Microsoft.Data.Sqlite;

namespace ActorCluster.Cluster.Hosting;

/// <summary>
/// The embedded storage of a data directory: the journal in <c>actorcluster.db</c>, the ApiServer's snapshots in
/// <c>snapshots.db</c>, both in WAL mode.
/// <para>
/// Why two files: SQLite admits one writer per file, and a snapshot of a large store (megabytes) written while the
/// ApiServer keeps journaling made the journal wait for it. Why <c>busy_timeout</c>: Microsoft.Data.Sqlite answers a
/// locked database by sleeping 150 ms before it tries again; SQLite's own busy handler retries after 1, 2, 5, ...
/// ms, so a journal write that meets the journal's trim behind a snapshot waits for the trim, not for 150 ms.
/// Measured: propagation max ~155 ms whenever a snapshot fell in the window; 16-28 ms with this and the thread-pool
/// minimum of Directory.Build.props (docs/benchmarks.md).
/// </para>
/// </summary>
internal static class SqliteStorage
{
    public const string JournalFile = "actorcluster.db";
    public const string SnapshotFile = "snapshots.db";

    /// <summary>As long as a command may wait for a lock in any case (Microsoft.Data.Sqlite's default command timeout).</summary>
    private const int BusyTimeoutMs = 30_000;

    private const string SnapshotTable = "snapshot";

    public static string ConnectionString(string dataDir, string file) => $"Data Source={Path.GetFullPath(Path.Combine(dataDir, file))}";

    /// <summary>Creates the data directory, puts both files in WAL mode (a file property, set once) and moves snapshots an older version kept in the journal's file.</summary>
    public static void Prepare(string dataDir)
    {
        Directory.CreateDirectory(dataDir);
        foreach (var file in new[] { JournalFile, SnapshotFile })
        {
            using var connection = new SqliteConnection(ConnectionString(dataDir, file));
            connection.Open();
            Execute(connection, "PRAGMA journal_mode=WAL;");
        }
        MoveSnapshotsOutOfJournal(dataDir);
    }

    /// <summary>
    /// The journal and the snapshot store, each on its own file, each connection with SQLite's own busy wait.
    /// <paramref name="providerName"/> is the configured one (persistence-sqlite.conf), said there once.
    /// </summary>
    public static (SqlJournalOptions Journal, SqlSnapshotOptions Snapshots) Options(string dataDir, string providerName)
    {
        var journal = ConnectionString(dataDir, JournalFile);
        var snapshots = ConnectionString(dataDir, SnapshotFile);
        return (new SqlJournalOptions(isDefaultPlugin: true) { ConnectionString = journal, ProviderName = providerName, DataOptions = DataOptions(providerName, journal) },
                new SqlSnapshotOptions(isDefaultPlugin: true) { ConnectionString = snapshots, ProviderName = providerName, DataOptions = DataOptions(providerName, snapshots) });
    }

    private static DataOptions DataOptions(string providerName, string connectionString) =>
        new DataOptions()
            .UseConnectionString(providerName, connectionString)
            .UseAfterConnectionOpened(
                connection => Execute(connection, BusyTimeout),
                async (connection, cancellation) =>
                {
                    await using var command = connection.CreateCommand();
                    command.CommandText = BusyTimeout;
                    await command.ExecuteNonQueryAsync(cancellation).ConfigureAwait(false);
                });

    private static readonly string BusyTimeout = $"PRAGMA busy_timeout = {BusyTimeoutMs};";

    /// <summary>
    /// Until December 2026 snapshots lived in the journal's file, and the journal is trimmed behind each snapshot:
    /// such a snapshot must move, or the events before it would be gone. Copies the table (its own DDL) and rows into
    /// snapshots.db, then empties the old table; a crash in between leaves both copies, and the next start sees
    /// snapshots.db holding them and does nothing.
    /// </summary>
    private static void MoveSnapshotsOutOfJournal(string dataDir)
    {
        // Not pooled: the journal's file stays attached to this connection until it closes.
        using var connection = new SqliteConnection(ConnectionString(dataDir, SnapshotFile) + ";Pooling=False");
        connection.Open();
        using (var attach = connection.CreateCommand())
        {
            attach.CommandText = "ATTACH DATABASE $file AS old;";
            attach.Parameters.AddWithValue("$file", Path.GetFullPath(Path.Combine(dataDir, JournalFile)));
            attach.ExecuteNonQuery();
        }
        if (Scalar(connection, $"SELECT count(*) FROM old.sqlite_master WHERE type = 'table' AND name = '{SnapshotTable}'") == 0
            || Scalar(connection, $"SELECT count(*) FROM old.{SnapshotTable}") == 0)
            return;
        using (var transaction = connection.BeginTransaction())
        {
            if (Scalar(connection, $"SELECT count(*) FROM main.sqlite_master WHERE type = 'table' AND name = '{SnapshotTable}'") == 0)
            {
                // The table first, then its indexes, as the journal's file has them (Akka.Persistence.Sql's schema).
                var ddl = new List<string>();
                using (var read = connection.CreateCommand())
                {
                    read.CommandText = $"SELECT sql FROM old.sqlite_master WHERE tbl_name = '{SnapshotTable}' AND sql IS NOT NULL ORDER BY type = 'index'";
                    using var reader = read.ExecuteReader();
                    while (reader.Read()) ddl.Add(reader.GetString(0));
                }
                foreach (var statement in ddl) Execute(connection, statement);
            }
            else if (Scalar(connection, $"SELECT count(*) FROM main.{SnapshotTable}") > 0)
            {
                return; // moved already (a crash after the copy); the old rows are a leftover
            }
            var columns = new List<string>();
            using (var read = connection.CreateCommand())
            {
                read.CommandText = $"SELECT name FROM pragma_table_info('{SnapshotTable}', 'old')";
                using var reader = read.ExecuteReader();
                while (reader.Read()) columns.Add($"[{reader.GetString(0)}]");
            }
            var list = string.Join(", ", columns);
            Execute(connection, $"INSERT INTO main.{SnapshotTable} ({list}) SELECT {list} FROM old.{SnapshotTable};");
            transaction.Commit();
        }
        Execute(connection, $"DELETE FROM old.{SnapshotTable};");
    }

    private static long Scalar(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return (long)command.ExecuteScalar()!;
    }

    private static void Execute(System.Data.Common.DbConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }
}
