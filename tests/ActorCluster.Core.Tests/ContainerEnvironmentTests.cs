using ActorCluster.Core.Objects;
using ActorCluster.Core.Workloads;
using k8s.Models;

namespace ActorCluster.Core.Tests;

public class ContainerEnvironmentTests
{
    private static readonly V1Pod Pod = new()
    {
        Metadata = new V1ObjectMeta { Name = "web-1", NamespaceProperty = "shop", Uid = "u-1", Labels = new Dictionary<string, string> { ["app"] = "web", ["tier"] = "front" } },
        Spec = new V1PodSpec { NodeName = "k8s-worker2", Containers = [] },
    };

    private static readonly EnvSources Sources = new(
        new Dictionary<string, V1ConfigMap?> { ["cfg"] = new() { Data = new Dictionary<string, string> { ["B"] = "2", ["A"] = "1" } }, ["gone"] = null },
        new Dictionary<string, V1Secret?> { ["sec"] = new() { Data = new Dictionary<string, byte[]> { ["pw"] = "s3"u8.ToArray() } } });

    private static (IReadOnlyList<V1EnvVar> Env, string? Error) Resolve(V1Container c) => ContainerEnvironment.Resolve(c, Pod, "127.244.2.7", "127.0.1.2", Sources);

    private static string Lines(IReadOnlyList<V1EnvVar> env) => string.Join(",", env.Select(e => $"{e.Name}={e.Value}"));

    [Fact]
    public void EnvFrom_comes_first_with_its_prefix_and_env_overrides_in_place()
    {
        var c = new V1Container
        {
            Name = "app",
            EnvFrom = [new V1EnvFromSource { ConfigMapRef = new V1ConfigMapEnvSource { Name = "cfg" }, Prefix = "P_" }, new V1EnvFromSource { SecretRef = new V1SecretEnvSource { Name = "sec" } }],
            Env = [new V1EnvVar { Name = "P_A", Value = "x" }, new V1EnvVar { Name = "Z", Value = "$(P_B)-$(pw)-$(NOPE)-$$(P_A)-$" }],
        };
        var (env, error) = Resolve(c);
        Assert.Null(error);
        Assert.Equal("P_A=x,P_B=2,pw=s3,Z=2-s3-$(NOPE)-$(P_A)-$", Lines(env));
    }

    [Theory]
    [InlineData("metadata.name", "web-1")]
    [InlineData("metadata.namespace", "shop")]
    [InlineData("metadata.uid", "u-1")]
    [InlineData("metadata.labels['tier']", "front")]
    [InlineData("metadata.labels", "app=\"web\"\ntier=\"front\"")]
    [InlineData("spec.nodeName", "k8s-worker2")]
    [InlineData("status.podIP", "127.244.2.7")]
    [InlineData("status.hostIP", "127.0.1.2")]
    public void The_downward_API_gives_the_pods_own_fields(string path, string expected) =>
        Assert.Equal(expected, ContainerEnvironment.FieldValue(path, Pod, "127.244.2.7", "127.0.1.2"));

    [Theory]
    [InlineData("configMapKeyRef", "missing", "k", false, "configmap \"missing\" not found")]
    [InlineData("configMapKeyRef", "gone", "k", false, "configmap \"gone\" not found")]
    [InlineData("configMapKeyRef", "cfg", "C", false, "couldn't find key C in ConfigMap shop/cfg")]
    [InlineData("secretKeyRef", "nope", "pw", false, "secret \"nope\" not found")]
    [InlineData("secretKeyRef", "sec", "user", false, "couldn't find key user in Secret shop/sec")]
    [InlineData("configMapKeyRef", "missing", "k", true, null)]
    [InlineData("secretKeyRef", "sec", "user", true, null)]
    public void A_missing_source_or_key_is_kubelets_error_unless_optional(string kind, string name, string key, bool optional, string? expected)
    {
        var from = kind == "configMapKeyRef"
            ? new V1EnvVarSource { ConfigMapKeyRef = new V1ConfigMapKeySelector { Name = name, Key = key, Optional = optional } }
            : new V1EnvVarSource { SecretKeyRef = new V1SecretKeySelector { Name = name, Key = key, Optional = optional } };
        var (env, error) = Resolve(new V1Container { Name = "app", Env = [new V1EnvVar { Name = "V", ValueFrom = from }] });
        Assert.Equal(expected, error);
        if (expected is null) Assert.Empty(env);
    }

    [Fact]
    public void Referenced_lists_every_ConfigMap_and_Secret_once()
    {
        var spec = new V1PodSpec
        {
            Containers =
            [
                new V1Container { Name = "a", EnvFrom = [new V1EnvFromSource { ConfigMapRef = new V1ConfigMapEnvSource { Name = "one" } }] },
                new V1Container { Name = "b", Env = [new V1EnvVar { Name = "X", ValueFrom = new V1EnvVarSource { ConfigMapKeyRef = new V1ConfigMapKeySelector { Name = "one", Key = "k" } } },
                    new V1EnvVar { Name = "Y", ValueFrom = new V1EnvVarSource { SecretKeyRef = new V1SecretKeySelector { Name = "s", Key = "k" } } }] },
            ],
        };
        var (configMaps, secrets) = EnvSources.Referenced(spec);
        Assert.Equal(["one"], configMaps);
        Assert.Equal(["s"], secrets);
        Assert.Empty(EnvSources.Referenced(new V1PodSpec { Containers = [new V1Container { Name = "c", Env = [new V1EnvVar { Name = "A", Value = "1" }] }] }).ConfigMaps);
    }

    [Fact]
    public void Services_of_the_pods_namespace_add_kubelets_variables_after_the_containers_own()
    {
        V1Service Svc(string name, string ns, string? ip, params V1ServicePort[] ports) =>
            new() { Metadata = new V1ObjectMeta { Name = name, NamespaceProperty = ns }, Spec = new V1ServiceSpec { ClusterIP = ip, Ports = ports } };
        var services = new[]
        {
            Svc("web-front", "shop", "127.96.0.10", new V1ServicePort { Port = 9000 }, new V1ServicePort { Name = "dns-udp", Port = 53, Protocol = "UDP" }),
            Svc("headless", "shop", "None", new V1ServicePort { Port = 80 }),
            Svc("elsewhere", "other", "127.96.0.11", new V1ServicePort { Port = 80 }),
        };
        var c = new V1Container { Name = "app", Env = [new V1EnvVar { Name = "WEB_FRONT_SERVICE_PORT", Value = "mine" }, new V1EnvVar { Name = "URL", Value = "http://$(WEB_FRONT_SERVICE_HOST):$(WEB_FRONT_SERVICE_PORT)" }] };
        var (env, error) = ContainerEnvironment.Resolve(c, Pod, "127.244.2.7", "127.0.1.2", Sources, services);
        Assert.Null(error);
        Assert.Equal(
            "WEB_FRONT_SERVICE_PORT=mine,URL=http://127.96.0.10:mine,WEB_FRONT_SERVICE_HOST=127.96.0.10,WEB_FRONT_SERVICE_PORT_DNS_UDP=53,"
            + "WEB_FRONT_PORT=tcp://127.96.0.10:9000,WEB_FRONT_PORT_9000_TCP=tcp://127.96.0.10:9000,WEB_FRONT_PORT_9000_TCP_PROTO=tcp,WEB_FRONT_PORT_9000_TCP_PORT=9000,"
            + "WEB_FRONT_PORT_9000_TCP_ADDR=127.96.0.10,WEB_FRONT_PORT_53_UDP=udp://127.96.0.10:53,WEB_FRONT_PORT_53_UDP_PROTO=udp,WEB_FRONT_PORT_53_UDP_PORT=53,"
            + "WEB_FRONT_PORT_53_UDP_ADDR=127.96.0.10",
            Lines(env));
        var noLinks = KubeObjects.Clone(Pod);
        noLinks.Spec.EnableServiceLinks = false;
        Assert.Empty(ContainerEnvironment.Resolve(new V1Container { Name = "app" }, noLinks, "127.244.2.7", "127.0.1.2", Sources, services).Env);
    }
}
