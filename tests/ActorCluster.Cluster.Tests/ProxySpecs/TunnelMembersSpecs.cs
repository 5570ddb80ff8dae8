using System.Net;
using ActorCluster.Cluster.Proxy;
using Akka.Actor;
using Akka.Cluster;

namespace ActorCluster.Cluster.Tests.ProxySpecs;

/// <summary>The members the node tunnel admits, across a node restarted at the same address.</summary>
public sealed class TunnelMembersSpecs
{
    private static UniqueAddress Incarnation(string host, int uid) => new(new Address("akka.ssl.tcp", "actorcluster", host, 4053), uid);

    [Fact]
    public void A_node_restarted_at_the_same_address_stays_admitted_when_its_old_incarnation_is_removed_afterwards()
    {
        var members = new TunnelMembers();
        Assert.True(members.Joined(Incarnation("127.0.1.1", 1)));
        Assert.True(members.Joined(Incarnation("127.0.1.3", 10)));

        // Akka publishes the new incarnation's join before the old one's removal when both are in one gossip.
        Assert.True(members.Joined(Incarnation("127.0.1.3", 11)));
        Assert.True(members.Removed(Incarnation("127.0.1.3", 10)));
        Assert.Equal(new HashSet<IPAddress> { IPAddress.Parse("127.0.1.1"), IPAddress.Parse("127.0.1.3") }, members.Addresses);

        // Once the node itself leaves, it is no longer admitted.
        Assert.True(members.Removed(Incarnation("127.0.1.3", 11)));
        Assert.Equal(new HashSet<IPAddress> { IPAddress.Parse("127.0.1.1") }, members.Addresses);
    }

    [Fact]
    public void A_member_without_an_IP_address_is_not_admitted()
    {
        var members = new TunnelMembers();
        Assert.False(members.Joined(Incarnation("node-a.example", 1)));
        Assert.Empty(members.Addresses);
    }
}
