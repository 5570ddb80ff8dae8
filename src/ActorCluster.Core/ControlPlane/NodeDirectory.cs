using System.Net;
using ActorCluster.Core.Objects;
using ActorCluster.Core.Store;
using k8s.Models;

namespace ActorCluster.Core.ControlPlane;

/// <summary>What the data plane and the control plane need to know of one node, read from its Node object once.</summary>
/// <param name="InternalIP">status.addresses[type=InternalIP]: where its NodePorts, API and tunnel listen</param>
/// <param name="AkkaAddress">the <see cref="ControlPlane.AkkaAddressAnnotation"/>: where its actors live</param>
public sealed record NodeInfo(string Name, IPAddress? InternalIP, string? AkkaAddress, bool Ready);

/// <summary>
/// The cluster's nodes by name, as a store holds them: the one place that reads a Node's InternalIP, Akka address
/// and readiness. Two directories are equal when every node's facts are, so a proxy can tell whether a change of
/// Node objects changes anything routing depends on.
/// </summary>
public sealed class NodeDirectory : IEquatable<NodeDirectory>
{
    private readonly SortedDictionary<string, NodeInfo> _nodes;

    private NodeDirectory(SortedDictionary<string, NodeInfo> nodes) => _nodes = nodes;

    public static readonly NodeDirectory Empty = new(new SortedDictionary<string, NodeInfo>(StringComparer.Ordinal));

    public static NodeDirectory Of(IEnumerable<V1Node> nodes) =>
        new(new SortedDictionary<string, NodeInfo>(nodes.ToDictionary(n => n.Metadata.Name, Info), StringComparer.Ordinal));

    public static NodeDirectory Of(ObjectStore store) => Of(store.All<V1Node>(ResourceKind.Node));

    public static NodeInfo Info(V1Node node) => new(
        node.Metadata.Name,
        IPAddress.TryParse(node.Status?.Addresses?.FirstOrDefault(a => a.Type == "InternalIP")?.Address, out var ip) ? ip : null,
        node.Metadata.Annotations?.TryGetValue(ControlPlane.AkkaAddressAnnotation, out var akka) == true ? akka : null,
        Scheduler.IsReady(node));

    public NodeInfo? this[string? name] => name is not null && _nodes.TryGetValue(name, out var info) ? info : null;

    public IEnumerable<NodeInfo> All => _nodes.Values;

    public IEnumerable<string> ReadyNames => _nodes.Values.Where(n => n.Ready).Select(n => n.Name);

    /// <summary>The node whose actors live at <paramref name="akkaAddress"/>.</summary>
    public NodeInfo? AtAkkaAddress(string akkaAddress) => _nodes.Values.FirstOrDefault(n => n.AkkaAddress == akkaAddress);

    public bool Equals(NodeDirectory? other) => other is not null && _nodes.Values.SequenceEqual(other._nodes.Values);

    public override bool Equals(object? obj) => obj is NodeDirectory other && Equals(other);

    public override int GetHashCode() => _nodes.Count;
}
