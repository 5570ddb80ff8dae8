using System.Globalization;
using k8s.Models;

namespace ActorCluster.Core.ControlPlane;

/// <summary>
/// What a node's machine offers, as kubelet reports it in <c>status.capacity</c>, and what it leaves for pods in
/// <c>status.allocatable</c>: capacity less kubelet's default hard eviction thresholds (<c>memory.available 100Mi</c>,
/// <c>nodefs.available 10%</c>), with no kube/system reservation. The nodes of a local cluster share one machine and
/// each reports all of it, as kind's nodes do.
/// </summary>
public sealed record NodeCapacity(int Cpu, long MemoryBytes, long EphemeralStorageBytes, int Pods = NodeCapacity.DefaultMaxPods)
{
    /// <summary>kubelet's default <c>--max-pods</c>.</summary>
    public const int DefaultMaxPods = 110;

    private const long EvictionMemoryBytes = 100L * 1024 * 1024;

    /// <summary>Only the pod count (a node that did not say what its machine has).</summary>
    public static readonly NodeCapacity PodsOnly = new(0, 0, 0);

    public Dictionary<string, ResourceQuantity> Capacity() => Quantities(MemoryBytes, EphemeralStorageBytes);

    public Dictionary<string, ResourceQuantity> Allocatable() =>
        Quantities(Math.Max(0, MemoryBytes - EvictionMemoryBytes), EphemeralStorageBytes - EphemeralStorageBytes / 10);

    // cpu in cores, memory and ephemeral-storage in Ki (quantities print in canonical form, as Kubernetes' do).
    private Dictionary<string, ResourceQuantity> Quantities(long memory, long storage)
    {
        var pods = new ResourceQuantity(Pods.ToString(CultureInfo.InvariantCulture));
        if (Cpu <= 0) return new() { ["pods"] = pods };
        return new()
        {
            ["cpu"] = new(Cpu.ToString(CultureInfo.InvariantCulture)),
            ["ephemeral-storage"] = new((storage / 1024).ToString(CultureInfo.InvariantCulture) + "Ki"),
            ["hugepages-1Gi"] = new("0"),
            ["hugepages-2Mi"] = new("0"),
            ["memory"] = new((memory / 1024).ToString(CultureInfo.InvariantCulture) + "Ki"),
            ["pods"] = pods,
        };
    }
}
