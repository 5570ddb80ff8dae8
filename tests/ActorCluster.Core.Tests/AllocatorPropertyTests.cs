using ActorCluster.Core.Allocation;
using ActorCluster.Core.Objects;
using FsCheck.Xunit;
using k8s.Models;

namespace ActorCluster.Core.Tests;

/// <summary>Allocator invariants under random operation sequences (FsCheck picks the seeds).</summary>
public class AllocatorPropertyTests
{
    [Property(MaxTest = 300)]
    public bool Port_allocator_never_hands_out_a_value_twice(int seed, byte[] ops)
    {
        var random = new Random(seed);
        var ports = new PortAllocator(PortRange.Parse("30000-30049"), random);
        var model = new HashSet<int>();
        foreach (var op in ops ?? [])
        {
            switch (op % 3)
            {
                case 0:
                    var err = ports.AllocateNext(out var next);
                    if (err is null) { if (!model.Add(next)) return false; }
                    else if (model.Count != 50 || err.Kind != AllocationErrorKind.Full) return false;
                    break;
                case 1:
                    var want = 29995 + op % 60;
                    var e = ports.Allocate(want);
                    var expected = want is < 30000 or > 30049 ? AllocationErrorKind.NotInRange
                        : model.Contains(want) ? AllocationErrorKind.Allocated : (AllocationErrorKind?)null;
                    if (e?.Kind != expected) return false;
                    if (e is null) model.Add(want);
                    break;
                default:
                    if (model.Count == 0) break;
                    var victim = model.ElementAt(random.Next(model.Count));
                    ports.Release(victim);
                    model.Remove(victim);
                    break;
            }
            if (ports.Used != model.Count || !ports.AllocatedPorts().ToHashSet().SetEquals(model)) return false;
        }
        return true;
    }

    [Property(MaxTest = 300)]
    public bool IP_allocator_never_hands_out_a_value_twice(int seed, byte[] ops)
    {
        var random = new Random(seed);
        var ips = new IPAllocator("10.1.0.0/26", random); // 62 usable, static band 16
        var model = new HashSet<string>();
        foreach (var op in ops ?? [])
        {
            if (op % 4 != 3)
            {
                var err = ips.AllocateNext(out var ip);
                if (err is null) { if (!model.Add(ip)) return false; }
                else if (model.Count != 62) return false;
            }
            else if (model.Count > 0)
            {
                var victim = model.ElementAt(random.Next(model.Count));
                ips.Release(victim);
                model.Remove(victim);
            }
        }
        return ips.AllocatedIPs().ToHashSet().SetEquals(model) && !model.Contains("10.1.0.0") && !model.Contains("10.1.0.63");
    }

    /// <summary>A random Service manifest over small ranges, so requests collide and ranges fill up.</summary>
    private static V1Service RandomService(Random r, string name)
    {
        var type = new[] { "ClusterIP", "NodePort", "LoadBalancer", "ExternalName" }[r.Next(4)];
        var ports = new List<V1ServicePort>();
        for (var i = 0; i < r.Next(1, 3); i++)
        {
            ports.Add(new V1ServicePort
            {
                Name = r.Next(15) == 0 ? "Bad_Port" : "p" + i,
                Port = 80 + i,
                // Sometimes ask for a node port (in range, out of range, or taken); sometimes on a ClusterIP service (invalid).
                NodePort = r.Next(3) == 0 ? 29998 + r.Next(25) : null,
            });
        }
        return new V1Service
        {
            Metadata = new V1ObjectMeta { Name = r.Next(12) == 0 ? "Bad_Name" : name },
            Spec = new V1ServiceSpec
            {
                Type = type,
                ExternalName = type == "ExternalName" ? "example.com" : null,
                ClusterIP = type != "ExternalName" && r.Next(4) == 0 ? $"127.96.0.{r.Next(1, 16)}" : null,
                ExternalTrafficPolicy = type is "NodePort" or "LoadBalancer" && r.Next(2) == 0 ? "Local" : null,
                Ports = ports,
            },
        };
    }

    [Property(MaxTest = 300)]
    public bool Every_write_either_commits_or_leaves_no_trace_and_state_always_equals_a_rebuild(int seed)
    {
        var r = new Random(seed);
        var registry = new ServiceRegistry(new ServiceNetworkConfig("127.96.0.0/28", PortRange.Parse("30000-30019")), seed);
        for (var step = 0; step < 40; step++)
        {
            var beforePorts = registry.Allocator.NodePorts.AllocatedPorts().ToList();
            var beforeIPs = registry.Allocator.ClusterIPs.AllocatedIPs().ToList();
            bool ok;
            string? last = null;
            var choice = r.Next(10);
            if (choice < 5 || registry.Stored.Count == 0)
            {
                var created = registry.Create(RandomService(r, "s" + r.Next(8)));
                ok = created.Ok;
                last = "create: " + created.Error?.KubectlMessage();
            }
            else if (choice < 8)
            {
                var target = registry.Stored.Values.ElementAt(r.Next(registry.Stored.Count));
                var update = RandomService(r, target.Metadata.Name);
                update.Metadata.Name = target.Metadata.Name;
                if (r.Next(2) == 0) update.Spec.ClusterIP = target.Spec.ClusterIP; // keep, or try to change
                var oldJson = KubeObjects.ToJson(target.Spec);
                var updated = registry.Update(update);
                ok = updated.Ok;
                last = $"update of {oldJson} with {KubeObjects.ToJson(update.Spec)}: " + (updated.Error?.KubectlMessage() ?? KubeObjects.ToJson(updated.Object!.Spec));
            }
            else
            {
                registry.Delete(registry.Stored.Keys.ElementAt(r.Next(registry.Stored.Count)));
                ok = true;
            }

            var state = $"step {step}: ports [{string.Join(",", registry.Allocator.NodePorts.AllocatedPorts())}] ips [{string.Join(",", registry.Allocator.ClusterIPs.AllocatedIPs())}]; last error {last}";
            // A rejected write leaks nothing and frees nothing.
            Assert.True(ok || (beforePorts.SequenceEqual(registry.Allocator.NodePorts.AllocatedPorts())
                               && beforeIPs.SequenceEqual(registry.Allocator.ClusterIPs.AllocatedIPs())), "rejected write changed allocations: " + state);

            // Incremental state never drifts from the objects.
            var rebuilt = ServiceAllocator.Rebuild(registry.Config, registry.Stored.Values);
            Assert.True(registry.Allocator.SameAs(rebuilt),
                $"drift: rebuilt ports [{string.Join(",", rebuilt.NodePorts.AllocatedPorts())}] ips [{string.Join(",", rebuilt.ClusterIPs.AllocatedIPs())}] vs {state}");

            // No value is held by two stored Services.
            var held = registry.Stored.Values.SelectMany(s => ServiceAllocator.ServiceNodePortsOf(s).Distinct()).ToList();
            var ips = registry.Stored.Values.Where(ServiceTypes.NeedsClusterIP).SelectMany(s => s.Spec.ClusterIPs ?? []).ToList();
            Assert.True(held.Count == held.Distinct().Count() && ips.Count == ips.Distinct().Count(), "double owner: " + state);
        }
        return true;
    }
}
