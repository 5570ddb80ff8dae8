using ActorCluster.Core.Allocation;
using ActorCluster.Core.Objects;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using k8s.Models;

namespace ActorCluster.Core.Tests;

/// <summary>
/// Allocator invariants under generated operation sequences: FsCheck generates the operations (and shrinks a
/// failing sequence by dropping operations); the allocators' own random picks come from a generated seed.
/// </summary>
public class AllocatorPropertyTests
{
    /// <summary>One allocator operation: 0 = the next free value, 1 = a value asked for by number, 2 = a release.</summary>
    public sealed record Op(int Kind, int Value);

    private static readonly Gen<Op> Ops = from kind in Gen.Choose(0, 2) from value in Gen.Choose(0, 59) select new Op(kind, value);

    [Property(MaxTest = 300)]
    public Property Port_allocator_never_hands_out_a_value_twice(int seed) => Prop.ForAll(Generators.ShrinkingList(Ops, 120), ops =>
    {
        var ports = new PortAllocator(PortRange.Parse("30000-30049"), new Random(seed));
        var model = new HashSet<int>();
        foreach (var op in ops)
        {
            switch (op.Kind)
            {
                case 0:
                    var err = ports.AllocateNext(out var next);
                    if (err is null) { if (!model.Add(next)) return false; }
                    else if (model.Count != 50 || err.Kind != AllocationErrorKind.Full) return false;
                    break;
                case 1:
                    var want = 29995 + op.Value;
                    var e = ports.Allocate(want);
                    var expected = want is < 30000 or > 30049 ? AllocationErrorKind.NotInRange
                        : model.Contains(want) ? AllocationErrorKind.Allocated : (AllocationErrorKind?)null;
                    if (e?.Kind != expected) return false;
                    if (e is null) model.Add(want);
                    break;
                default:
                    if (model.Count == 0) break;
                    var victim = model.Order().ElementAt(op.Value % model.Count);
                    ports.Release(victim);
                    model.Remove(victim);
                    break;
            }
            if (ports.Used != model.Count || !ports.AllocatedPorts().ToHashSet().SetEquals(model)) return false;
        }
        return true;
    });

    [Property(MaxTest = 300)]
    public Property IP_allocator_never_hands_out_a_value_twice(int seed) => Prop.ForAll(Generators.ShrinkingList(Ops, 120), ops =>
    {
        var ips = new IPAllocator("10.1.0.0/26", new Random(seed)); // 62 usable, static band 16
        var model = new HashSet<string>();
        foreach (var op in ops)
        {
            if (op.Kind != 2)
            {
                var err = ips.AllocateNext(out var ip);
                if (err is null) { if (!model.Add(ip)) return false; }
                else if (model.Count != 62) return false;
            }
            else if (model.Count > 0)
            {
                var victim = model.Order(StringComparer.Ordinal).ElementAt(op.Value % model.Count);
                ips.Release(victim);
                model.Remove(victim);
            }
        }
        return ips.AllocatedIPs().ToHashSet().SetEquals(model) && !model.Contains("10.1.0.0") && !model.Contains("10.1.0.63");
    });

    /// <summary>A Service manifest over small ranges, so requests collide and ranges fill up; now and then invalid.</summary>
    public sealed record ServiceDraft(string Type, bool BadName, int?[] NodePorts, bool BadPortName, int? ClusterIPHost, bool Local)
    {
        public V1Service Build(string name) => new()
        {
            Metadata = new V1ObjectMeta { Name = BadName ? "Bad_Name" : name },
            Spec = new V1ServiceSpec
            {
                Type = Type,
                ExternalName = Type == "ExternalName" ? "example.com" : null,
                ClusterIP = Type != "ExternalName" && ClusterIPHost is { } host ? $"127.96.0.{host}" : null,
                ExternalTrafficPolicy = Type is "NodePort" or "LoadBalancer" && Local ? "Local" : null,
                // Sometimes a node port (in range, out of range, or taken); on a ClusterIP service it is invalid.
                Ports = NodePorts.Select((nodePort, i) => new V1ServicePort { Name = BadPortName && i == 0 ? "Bad_Port" : "p" + i, Port = 80 + i, NodePort = nodePort }).ToList(),
            },
        };
    }

    private static readonly Gen<ServiceDraft> Drafts =
        from type in Gen.Elements("ClusterIP", "NodePort", "LoadBalancer", "ExternalName")
        from badName in Gen.Frequency((11, Gen.Constant(false)), (1, Gen.Constant(true)))
        from ports in Gen.Choose(1, 2)
        from nodePorts in Gen.ArrayOf(Gen.Frequency((2, Gen.Constant<int?>(null)), (1, Gen.Choose(29998, 30022).Select(p => (int?)p))), ports)
        from badPortName in Gen.Frequency((14, Gen.Constant(false)), (1, Gen.Constant(true)))
        from clusterIP in Gen.Frequency((3, Gen.Constant<int?>(null)), (1, Gen.Choose(1, 15).Select(h => (int?)h)))
        from local in Gen.Elements(false, true)
        select new ServiceDraft(type, badName, nodePorts, badPortName, clusterIP, local);

    /// <summary>One write: 0-4 create "s{Name}", 5-7 update a stored Service (keeping its ClusterIP or not), 8-9 delete one.</summary>
    public sealed record Step(int Kind, int Name, int Target, ServiceDraft Draft, bool KeepClusterIP);

    private static readonly Gen<Step> Steps =
        from kind in Gen.Choose(0, 9)
        from name in Gen.Choose(0, 7)
        from target in Gen.Choose(0, 63)
        from draft in Drafts
        from keep in Gen.Elements(false, true)
        select new Step(kind, name, target, draft, keep);

    [Property(MaxTest = 300)]
    public Property Every_write_either_commits_or_leaves_no_trace_and_state_always_equals_a_rebuild(int seed) => Prop.ForAll(Generators.ShrinkingList(Steps, 40), steps =>
    {
        var registry = new ServiceRegistry(new ServiceNetworkConfig("127.96.0.0/28", PortRange.Parse("30000-30019")), seed);
        for (var step = 0; step < steps.Count; step++)
        {
            var w = steps[step];
            var beforePorts = registry.Allocator.NodePorts.AllocatedPorts().ToList();
            var beforeIPs = registry.Allocator.ClusterIPs.AllocatedIPs().ToList();
            bool ok;
            string? last = null;
            if (w.Kind < 5 || registry.Stored.Count == 0)
            {
                var created = registry.Create(w.Draft.Build("s" + w.Name));
                ok = created.Ok;
                last = "create: " + created.Error?.KubectlMessage();
            }
            else if (w.Kind < 8)
            {
                var target = registry.Stored.Values.ElementAt(w.Target % registry.Stored.Count);
                var update = w.Draft.Build(target.Metadata.Name);
                update.Metadata.Name = target.Metadata.Name;
                if (w.KeepClusterIP) update.Spec.ClusterIP = target.Spec.ClusterIP; // keep, or try to change
                var oldJson = KubeObjects.ToJson(target.Spec);
                var updated = registry.Update(update);
                ok = updated.Ok;
                last = $"update of {oldJson} with {KubeObjects.ToJson(update.Spec)}: " + (updated.Error?.KubectlMessage() ?? KubeObjects.ToJson(updated.Object!.Spec));
            }
            else
            {
                registry.Delete(registry.Stored.Keys.ElementAt(w.Target % registry.Stored.Count));
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
    });
}
