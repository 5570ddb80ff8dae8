using Npgsql;

namespace ActorCluster.Cluster.Tests;

/// <summary>
/// A fresh PostgreSQL database per test, on the server named by ACTORCLUSTER_TEST_POSTGRES (.ci/postgres.sh
/// starts Debian's PostgreSQL and prints it). Without it the test is skipped, except under CI, where it fails.
/// </summary>
internal sealed class PostgresDatabase : IAsyncDisposable
{
    private readonly string _admin;

    private PostgresDatabase(string admin, string name)
    {
        _admin = admin;
        Name = name;
        ConnectionString = new NpgsqlConnectionStringBuilder(admin) { Database = name }.ConnectionString;
    }

    public string Name { get; }

    public string ConnectionString { get; }

    public static async Task<PostgresDatabase> CreateAsync()
    {
        var admin = Environment.GetEnvironmentVariable("ACTORCLUSTER_TEST_POSTGRES");
        if (string.IsNullOrEmpty(admin))
        {
            if (Environment.GetEnvironmentVariable("CI") is { Length: > 0 })
                throw new InvalidOperationException("CI must provide ACTORCLUSTER_TEST_POSTGRES (see .ci/postgres.sh)");
            Skip.If(true, "ACTORCLUSTER_TEST_POSTGRES is not set: PostgreSQL tests skipped");
        }
        var name = "actorcluster_" + Guid.NewGuid().ToString("N")[..12];
        await using var connection = new NpgsqlConnection(admin);
        await connection.OpenAsync();
        await using var create = new NpgsqlCommand($"CREATE DATABASE {name}", connection);
        await create.ExecuteNonQueryAsync();
        return new PostgresDatabase(admin!, name);
    }

    public async ValueTask DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        await using var connection = new NpgsqlConnection(_admin);
        await connection.OpenAsync();
        await using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS {Name} WITH (FORCE)", connection);
        await drop.ExecuteNonQueryAsync();
    }
}
