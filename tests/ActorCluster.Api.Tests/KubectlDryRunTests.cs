namespace ActorCluster.Api.Tests;

/// <summary>Server-side dry-run as kubectl uses it: diff, and create/apply/delete with --dry-run=server change nothing.</summary>
public sealed class KubectlDryRunTests(ApiCluster c) : IClassFixture<ApiCluster>
{
    private const string Service = """
        apiVersion: v1
        kind: Service
        metadata:
          name: dry-svc
          labels:
            stage: one
        spec:
          type: NodePort
          selector:
            app: dry
          ports:
          - port: 9000
            targetPort: 8080
        """;

    [SkippableFact]
    public async Task Server_dry_runs_and_diff_change_nothing()
    {
        var file = ApiCluster.File(Service);

        // create and apply of a new object: printed as Kubernetes prints them, nothing stored.
        Assert.Equal("service/dry-svc created (server dry run)\n", await c.Ok("create", "-f", file, "--dry-run=server"));
        Assert.Equal("service/dry-svc created (server dry run)\n", await c.Ok("apply", "-f", file, "--dry-run=server"));
        var absent = await c.Run("get", "svc", "dry-svc");
        Assert.Equal("Error from server (NotFound): services \"dry-svc\" not found\n", absent.Stderr);
        // The would-be object shows what the server would allocate.
        Assert.Matches(@"^127\.\d+\.\d+\.\d+ 3\d{4}$", await c.Ok("create", "-f", file, "--dry-run=server", "-o", "jsonpath={.spec.clusterIP} {.spec.ports[0].nodePort}"));

        Assert.Equal("service/dry-svc created\n", await c.Ok("apply", "-f", file));
        var live = await c.Ok("get", "svc", "dry-svc", "-o", "yaml");

        // diff of a change: reports it (exit 1) and leaves the live object as it was.
        var changed = ApiCluster.File(Service.Replace("stage: one", "stage: two", StringComparison.Ordinal));
        var diff = await c.Run("diff", "-f", changed);
        Assert.True(diff.ExitCode == 1, $"kubectl diff: {diff.Output}");
        Assert.Contains("-    stage: one", diff.Stdout, StringComparison.Ordinal);
        Assert.Contains("+    stage: two", diff.Stdout, StringComparison.Ordinal);
        Assert.Equal(live, await c.Ok("get", "svc", "dry-svc", "-o", "yaml"));

        // apply --dry-run=server of the change: reported, not made.
        Assert.Equal("service/dry-svc configured (server dry run)\n", await c.Ok("apply", "-f", changed, "--dry-run=server"));
        Assert.Equal("one", await c.Ok("get", "svc", "dry-svc", "-o", "jsonpath={.metadata.labels.stage}"));

        // delete --dry-run=server: reported, not done.
        Assert.Equal("service \"dry-svc\" deleted (server dry run)\n", await c.Ok("delete", "svc", "dry-svc", "--dry-run=server"));
        Assert.Equal(live, await c.Ok("get", "svc", "dry-svc", "-o", "yaml"));

        Assert.Equal("service \"dry-svc\" deleted\n", await c.Ok("delete", "svc", "dry-svc"));
    }
}
