using System.Net;
using Akka.Cluster;

namespace ActorCluster.Cluster.Proxy;

/// <summary>
/// The cluster members whose addresses the node tunnel admits (Akka membership, itself mutual TLS). Kept per
/// incarnation: a node restarted at the same address joins before its old incarnation's MemberRemoved arrives,
/// and removing by address dropped the new incarnation too, so the tunnel refused the restarted node for good.
/// </summary>
public sealed class TunnelMembers
{
    private readonly Dictionary<UniqueAddress, IPAddress> _members = new();

    /// <summary>Applies a membership event; true when the set of admitted addresses may have changed.</summary>
    public bool Apply(ClusterEvent.IMemberEvent e) => e is ClusterEvent.MemberRemoved or ClusterEvent.MemberDowned
        ? Removed(e.Member.UniqueAddress)
        : Joined(e.Member.UniqueAddress);

    public bool Joined(UniqueAddress member)
    {
        if (!IPAddress.TryParse(member.Address.Host, out var address)) return false;
        _members[member] = address;
        return true;
    }

    public bool Removed(UniqueAddress member) => _members.Remove(member);

    /// <summary>The addresses of every current incarnation.</summary>
    public IReadOnlySet<IPAddress> Addresses => _members.Values.ToHashSet();
}
