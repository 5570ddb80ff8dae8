using System.Diagnostics;
using System.Net;
using System.Text;
using System.Text.RegularExpressions;
using ActorCluster.Core.Routing;
using k8s.Models;

namespace ActorCluster.Proxy.Tests;

/// <summary>
/// The partial syncs (<see cref="NftablesRules.Transaction"/>) against the real kernel: random sequences of Service
/// changes (created, changed in type, protocol, policy, affinity and endpoints, deleted) applied one transaction per
/// step must each be accepted by nft and must leave exactly the table that writing the final state afresh gives. Each
/// sequence runs in a network namespace of its own (unshare --net); seeded, so a failure names a sequence to replay.
/// </summary>
public sealed partial class NftablesTransactionTests
{
    private static readonly KernelNode Node = KernelNode.For("k8s-worker1", IPAddress.Parse("127.0.1.1"));
    private static readonly string[] Names = ["svc-a", "svc-b", "svc-c"];
    private static readonly (string IP, string Node)[] Pods =
        [("127.244.1.2", "k8s-worker1"), ("127.244.1.3", "k8s-worker1"), ("127.244.2.2", "k8s-worker2"), ("127.244.2.3", "k8s-worker2")];

    [SkippableFact]
    public async Task Random_sequences_of_partial_syncs_leave_the_table_a_fresh_write_of_the_final_state_gives()
    {
        Skip.IfNot(Environment.UserName == "root" && File.Exists("/usr/sbin/nft") && File.Exists("/usr/bin/unshare"),
            "needs root, nft (Debian package nftables) and unshare: each sequence runs in a network namespace of its own");
        for (var seed = 1; seed <= 25; seed++)
        {
            var random = new Random(seed);
            var steps = new List<string>();
            var current = Names.ToDictionary(n => n, _ => (ServiceRules?)null);
            for (var step = 0; step < 8; step++)
            {
                var script = new StringBuilder();
                foreach (var name in Names.Where(_ => random.Next(3) > 0))
                {
                    var next = random.Next(5) == 0 ? null : RandomRules(random, name);
                    script.Append(NftablesRules.Transaction(Node, current[name], next));
                    current[name] = next;
                }
                steps.Add(script.ToString());
            }
            var fresh = string.Concat(Names.Select(n => NftablesRules.Transaction(Node, null, current[n])));
            var create = NftablesRules.CreateTable(Node, new ClusterIPShare(0, 1), "test");
            var incremental = await ApplyInFreshNamespace([create, .. steps]);
            var whole = await ApplyInFreshNamespace([create, fresh]);
            Assert.True(incremental.Ok, $"seed {seed}: a partial sync was refused: {incremental.Output}");
            Assert.True(whole.Ok, $"seed {seed}: the fresh write was refused: {whole.Output}");
            Assert.Equal(Normalize(whole.Output), Normalize(incremental.Output));
        }
    }

    /// <summary>A Service in a random shape, with a random subset of the pods (some not ready) as endpoints.</summary>
    private static ServiceRules RandomRules(Random random, string name)
    {
        var udp = random.Next(3) == 0;
        var nodePort = random.Next(2) == 0;
        var affinity = random.Next(3) == 0;
        var svc = new V1Service
        {
            Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = "default" },
            Spec = new V1ServiceSpec
            {
                Type = nodePort ? "NodePort" : "ClusterIP",
                ClusterIP = $"127.96.0.{10 + Array.IndexOf(Names, name)}",
                ExternalTrafficPolicy = random.Next(2) == 0 ? "Cluster" : "Local",
                InternalTrafficPolicy = random.Next(4) == 0 ? "Local" : "Cluster",
                SessionAffinity = affinity ? "ClientIP" : "None",
                SessionAffinityConfig = affinity ? new V1SessionAffinityConfig { ClientIP = new V1ClientIPConfig { TimeoutSeconds = random.Next(2) == 0 ? 10 : 60 } } : null,
                LoadBalancerSourceRanges = random.Next(3) switch { 0 => ["127.0.9.0/24"], 1 => ["127.0.9.0/24", "10.1.0.0/16"], _ => null },
                Ports = [new V1ServicePort { Port = 80, Protocol = udp ? "UDP" : "TCP", NodePort = nodePort ? 30000 + Array.IndexOf(Names, name) : null }],
            },
        };
        var slice = new V1EndpointSlice
        {
            AddressType = "IPv4",
            Metadata = new V1ObjectMeta { Name = name + "-0" },
            Ports = [new Discoveryv1EndpointPort { Port = 8080, Protocol = udp ? "UDP" : "TCP" }],
            Endpoints = [.. Pods.Where(_ => random.Next(2) == 0).Select(p => new V1Endpoint
            {
                Addresses = [p.IP], NodeName = p.Node, Conditions = new V1EndpointConditions { Ready = random.Next(4) > 0 },
            })],
        };
        var loadBalancerIPs = random.Next(4) == 0 ? new[] { $"127.0.4.{1 + Array.IndexOf(Names, name)}" } : [];
        return NftablesRules.Render(Node, RoutingTable.Build(svc, [slice], Node.NodeName), svc.Spec.ClusterIP, loadBalancerIPs);
    }

    /// <summary>Applies each script with its own <c>nft -f</c> in a new network namespace, then lists the node's table.</summary>
    private static async Task<(bool Ok, string Output)> ApplyInFreshNamespace(IReadOnlyList<string> scripts)
    {
        var dir = Directory.CreateTempSubdirectory("nft-sync-");
        try
        {
            var files = new List<string>();
            for (var i = 0; i < scripts.Count; i++)
            {
                var file = Path.Combine(dir.FullName, $"{i:D2}.nft");
                await File.WriteAllTextAsync(file, scripts[i]);
                files.Add(file);
            }
            // Stops at the first script nft refuses, printing which.
            var shell = string.Join(" && ", files.Select(f => $"nft -f {f}")) + $" && nft list table ip {Node.Table}";
            var info = new ProcessStartInfo("unshare", ["--net", "--", "sh", "-c", shell]) { RedirectStandardOutput = true, RedirectStandardError = true };
            using var p = Process.Start(info)!;
            var stdout = p.StandardOutput.ReadToEndAsync();
            var stderr = p.StandardError.ReadToEndAsync();
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
            await p.WaitForExitAsync(timeout.Token);
            return (p.ExitCode == 0, p.ExitCode == 0 ? await stdout : await stderr + await stdout);
        }
        finally
        {
            dir.Delete(recursive: true);
        }
    }

    /// <summary>
    /// The table's objects (maps, sets, chains) by kind and name, each with its rules in order and its elements
    /// sorted: what must match, whatever order the objects were created in.
    /// </summary>
    private static SortedDictionary<string, string> Normalize(string listing)
    {
        var objects = new SortedDictionary<string, string>(StringComparer.Ordinal);
        string? name = null;
        var body = new List<string>();
        var depth = 0;
        foreach (var line in listing.Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0))
        {
            var opens = line.Count(c => c == '{') - line.Count(c => c == '}');
            if (depth == 1 && name is null && line.EndsWith('{'))
            {
                name = line[..^1].Trim();
                body.Clear();
            }
            else if (depth == 2 && opens < 0 && line == "}" && name is not null)
            {
                objects[name] = Elements().Replace(string.Join(" ", body), m =>
                    "elements = { " + string.Join(", ", m.Groups[1].Value.Split(',').Select(e => e.Trim()).Order(StringComparer.Ordinal)) + " }");
                name = null;
            }
            else if (name is not null)
            {
                body.Add(line);
            }
            depth += opens;
        }
        return objects;
    }

    [GeneratedRegex(@"elements = \{ ([^}]*) \}")]
    private static partial Regex Elements();
}
