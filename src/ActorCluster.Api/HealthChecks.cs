using System.Text;
using ActorCluster.Cluster.Hosting;
using ActorCluster.Cluster.Replica;
using Akka.Actor;
using Microsoft.AspNetCore.Http;

namespace ActorCluster.Api;

/// <summary>
/// kube-apiserver's health endpoints, unauthenticated as there. <c>/livez</c> (and the older <c>/healthz</c>): the
/// process serves. <c>/readyz</c>: this node can serve the API correctly: its replica follows the ApiServer without a
/// gap, and the ApiServer is reachable. Answers as kube-apiserver does: <c>ok</c>, or with <c>?verbose</c> one
/// <c>[+]name ok</c> line per check and <c>readyz check passed</c>; a failing check makes it 500 with
/// <c>[-]name failed: reason withheld</c> and <c>readyz check failed</c>. <c>/readyz/{check}</c> runs one check;
/// <c>?exclude=name</c> skips one.
/// </summary>
internal sealed class HealthChecks(ActorClusterNode node, ApiServerLink apiServer)
{
    private static readonly TimeSpan CheckTimeout = TimeSpan.FromSeconds(2);

    private delegate Task<bool> Check();

    public static bool Handles(string path) => path is "/healthz" or "/livez" or "/readyz" || path.StartsWith("/readyz/", StringComparison.Ordinal)
        || path.StartsWith("/livez/", StringComparison.Ordinal) || path.StartsWith("/healthz/", StringComparison.Ordinal);

    public async Task Handle(HttpContext ctx, string path)
    {
        var endpoint = path.Split('/', StringSplitOptions.RemoveEmptyEntries)[0];
        var checks = new List<(string Name, Check Run)> { ("ping", () => Task.FromResult(true)) };
        if (endpoint == "readyz")
        {
            checks.Add(("apiserver-reachable", ApiServerReachable));
            checks.Add(("replica-synced", ReplicaSynced));
        }
        var only = path[(endpoint.Length + 1)..].TrimStart('/');
        if (only.Length > 0)
        {
            checks = checks.Where(c => c.Name == only).ToList();
            if (checks.Count == 0)
            {
                await Write(ctx, 404, "404 page not found\n");
                return;
            }
        }
        var excluded = ctx.Request.Query["exclude"].Select(e => e ?? "").ToHashSet();
        var results = new List<(string Name, bool Ok)>();
        foreach (var (name, run) in checks.Where(c => !excluded.Contains(c.Name)))
        {
            bool ok;
            try
            {
                ok = await run();
            }
            catch (Exception e) when (e is AskTimeoutException or TaskCanceledException)
            {
                ok = false;
            }
            results.Add((name, ok));
        }
        var passed = results.All(r => r.Ok);
        if (passed && !ctx.Request.Query.ContainsKey("verbose"))
        {
            await Write(ctx, 200, "ok");
            return;
        }
        var text = new StringBuilder();
        foreach (var (name, ok) in results) text.Append(ok ? $"[+]{name} ok\n" : $"[-]{name} failed: reason withheld\n");
        foreach (var name in excluded) text.Append($"[+]{name} excluded: ok\n");
        text.Append($"{endpoint} check {(passed ? "passed" : "failed")}\n");
        await Write(ctx, passed ? 200 : 500, text.ToString());
    }

    private async Task<bool> ApiServerReachable() => await apiServer.Current(CheckTimeout) is { Stopped.IsCompleted: false };

    private async Task<bool> ReplicaSynced() => (await node.Replica.Ask<ReplicaStats>(GetReplicaStats.Instance, CheckTimeout)).Synced;

    private static async Task Write(HttpContext ctx, int status, string text)
    {
        ctx.Response.StatusCode = status;
        ctx.Response.ContentType = "text/plain; charset=utf-8";
        ctx.Response.Headers["X-Content-Type-Options"] = "nosniff";
        await ctx.Response.WriteAsync(text);
    }
}
