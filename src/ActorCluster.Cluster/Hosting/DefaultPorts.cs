namespace ActorCluster.Cluster.Hosting;

/// <summary>
/// The ports a node listens on unless told otherwise, said once: remoting and the API here (flags override them),
/// the node tunnel in hocon/actorcluster.conf (<c>actorcluster.proxy.tunnel-port</c>), read through
/// <see cref="Tunnel"/> where no configuration is at hand.
/// </summary>
public static class DefaultPorts
{
    /// <summary>Akka remoting (cluster membership, the ApiServer's messages).</summary>
    public const int Remoting = 4053;

    /// <summary>The Kubernetes API (HTTPS), as kube-apiserver's 6443.</summary>
    public const int Api = 6443;

    /// <summary>The node tunnel other nodes reach this node's pods through: the shipped configuration's value.</summary>
    public static int Tunnel => NodeConfiguration.Defaults.GetInt("actorcluster.proxy.tunnel-port");
}
