using ActorCluster.Proxy;
using System.Net;
using Akka.Configuration;

namespace ActorCluster.Cluster.Proxy;

/// <summary>How connections reach pods on other nodes.</summary>
public enum CrossNodeMode
{
    /// <summary>Tunnel to nodes whose address is not loopback (other hosts); dial directly on one machine.</summary>
    Auto,

    /// <summary>Always dial the pod address (pod addresses are routable between nodes).</summary>
    Direct,

    /// <summary>Always go through the pod's node tunnel.</summary>
    Tunnel,
}

/// <summary>Which data path carries Service traffic on a node (kube-proxy's --proxy-mode).</summary>
public enum ProxyMode
{
    /// <summary>The relay, in this process (epoll loops: works everywhere, needs no privilege).</summary>
    Userspace,

    /// <summary>The kernel's nftables DNAT rules, written from the Service actors' routing tables.</summary>
    Nftables,

    /// <summary>nftables where the process may program it (probed at start), the relay otherwise.</summary>
    Auto,
}

/// <summary>The service proxy's settings (<c>actorcluster.proxy</c> in HOCON).</summary>
public sealed record ProxySettings(string NodeName, IPAddress NodeAddress, CrossNodeMode CrossNode, int TunnelPort, UdpFlowLimits Udp)
{
    /// <summary>kube-proxy's --min-sync-period: changes arriving within it of the last sync are applied together.</summary>
    public TimeSpan MinSyncPeriod { get; init; } = TimeSpan.FromMilliseconds(100);

    /// <summary>This node's proof for other nodes' tunnels: its node certificate and key (none: it cannot use them).</summary>
    public TunnelCredentials? TunnelCredentials { get; init; }

    /// <summary>The node address a tunnel peer's certificate names, if it is a node certificate of this cluster's CA.</summary>
    public Func<System.Security.Cryptography.X509Certificates.X509Certificate2, IPAddress?>? TunnelPeer { get; init; }

    /// <summary>The data path asked for (actorcluster.proxy.mode); the node resolves Auto by probing at start.</summary>
    public ProxyMode Mode { get; init; } = ProxyMode.Userspace;

    /// <summary>How often an address another program holds (or the node tunnel's port) is tried again.</summary>
    public TimeSpan BindRetryInterval { get; init; } = TimeSpan.FromSeconds(2);

    public static ProxySettings From(Config config, string nodeName, string nodeAddress)
    {
        var mode = config.GetString("actorcluster.proxy.cross-node", "auto");
        var crossNode = mode switch
        {
            "auto" => CrossNodeMode.Auto,
            "direct" => CrossNodeMode.Direct,
            "tunnel" => CrossNodeMode.Tunnel,
            _ => throw new FormatException($"actorcluster.proxy.cross-node = \"{mode}\": use auto, direct or tunnel"),
        };
        var port = config.GetInt("actorcluster.proxy.tunnel-port");
        if (port is < 1 or > 65535) throw new FormatException($"actorcluster.proxy.tunnel-port = {port}: not a port number");
        var idle = config.GetTimeSpan("actorcluster.proxy.udp-idle-timeout", UdpFlowLimits.Default.IdleTimeout, allowInfinite: false);
        if (idle <= TimeSpan.Zero) throw new FormatException("actorcluster.proxy.udp-idle-timeout must be positive");
        var maxFlows = config.GetInt("actorcluster.proxy.udp-max-flows", UdpFlowLimits.Default.MaxFlows);
        if (maxFlows < 1) throw new FormatException($"actorcluster.proxy.udp-max-flows = {maxFlows}: must be at least 1");
        var minSync = config.GetTimeSpan("actorcluster.proxy.min-sync-period", TimeSpan.FromMilliseconds(100), allowInfinite: false);
        if (minSync < TimeSpan.Zero) throw new FormatException("actorcluster.proxy.min-sync-period must not be negative");
        var proxyMode = config.GetString("actorcluster.proxy.mode", "userspace") switch
        {
            "userspace" => ProxyMode.Userspace,
            "nftables" => ProxyMode.Nftables,
            "auto" => ProxyMode.Auto,
            var other => throw new FormatException($"actorcluster.proxy.mode = \"{other}\": use auto, nftables or userspace"),
        };
        return new ProxySettings(nodeName, IPAddress.Parse(nodeAddress), crossNode, port, new UdpFlowLimits(idle, maxFlows)) { MinSyncPeriod = minSync, Mode = proxyMode };
    }

    /// <summary>Whether a connection to a pod on the node at <paramref name="address"/> goes through that node's tunnel.</summary>
    public bool TunnelsTo(IPAddress address) => CrossNode switch
    {
        CrossNodeMode.Tunnel => true,
        CrossNodeMode.Direct => false,
        _ => !IPAddress.IsLoopback(address),
    };
}
