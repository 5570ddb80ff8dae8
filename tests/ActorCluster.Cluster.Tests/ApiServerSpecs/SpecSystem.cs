using ActorCluster.Cluster.ApiServer;
using ActorCluster.Core.Objects;
using Akka.Configuration;
using k8s.Models;

namespace ActorCluster.Cluster.Tests.ApiServerSpecs;

/// <summary>What the ApiServer specs share: an ActorSystem of one cluster member on a free port, and a plain Service.</summary>
internal static class SpecSystem
{
    /// <summary>The member's configuration with the given persistence lines (journal and snapshot store).</summary>
    public static Config Config(string persistence) => ConfigurationFactory.ParseString($"""
        akka.actor.provider = cluster
        akka.remote.dot-netty.tcp.hostname = 127.0.0.1
        akka.remote.dot-netty.tcp.port = 0
        akka.loglevel = WARNING
        {persistence}
        """);

    public static CreateObject Service(string name, bool dryRun = false, string? clusterIP = null) =>
        new("services", "default", KubeObjects.ToJson(new V1Service
        {
            ApiVersion = "v1", Kind = "Service",
            Metadata = new V1ObjectMeta { Name = name },
            Spec = new V1ServiceSpec { ClusterIP = clusterIP, Ports = [new V1ServicePort { Port = 80 }] },
        }), dryRun);
}
