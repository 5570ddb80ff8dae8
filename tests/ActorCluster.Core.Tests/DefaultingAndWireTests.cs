using ActorCluster.Core.Api;
using ActorCluster.Core.Defaulting;
using ActorCluster.Core.Objects;
using ActorCluster.Core.Registry;
using k8s.Models;

namespace ActorCluster.Core.Tests;

public class DefaultingAndWireTests
{
    [Fact]
    public void MicroTime_fields_are_written_with_six_fractional_digits_as_Go_clients_require()
    {
        var t = new DateTime(2026, 12, 6, 14, 4, 31, DateTimeKind.Utc).AddTicks(1_234_560);
        var lease = new V1Lease { ApiVersion = "coordination.k8s.io/v1", Kind = "Lease", Metadata = new V1ObjectMeta { Name = "n", CreationTimestamp = t.AddTicks(-1_234_560) },
            Spec = new V1LeaseSpec { HolderIdentity = "n", RenewTime = t, AcquireTime = t.AddTicks(-1_234_560) } };
        var json = KubeObjects.ToJson(lease);
        Assert.Contains("\"renewTime\":\"2026-12-06T14:04:31.123456Z\"", json, StringComparison.Ordinal);
        Assert.Contains("\"acquireTime\":\"2026-12-06T14:04:31.000000Z\"", json, StringComparison.Ordinal);
        Assert.Contains("\"creationTimestamp\":\"2026-12-06T14:04:31Z\"", json, StringComparison.Ordinal); // metav1.Time: seconds
        Assert.Equal(t, KubeObjects.FromJson<V1Lease>(json).Spec.RenewTime);
        var ev = new Corev1Event { ApiVersion = "v1", Kind = "Event", Metadata = new V1ObjectMeta { Name = "e" }, EventTime = t, InvolvedObject = new V1ObjectReference() };
        Assert.Contains("\"eventTime\":\"2026-12-06T14:04:31.123456Z\"", KubeObjects.ToJson(ev), StringComparison.Ordinal);
    }

    [Fact]
    public void Seed_manifests_load_as_typed_objects_in_one_multi_document_stream()
    {
        var all = string.Join("\n---\n", new[] { "pod-1.yaml", "pod-2.yaml", "svc-1-clusterip.yaml", "svc-2-nodeport.yaml", "svc-2-nodeport-local.yaml", "svc-4-loadbalancer.yaml" }
            .Select(Yaml.SeedManifest));
        var objects = KubeObjects.LoadAll(all);
        Assert.Equal(["Pod", "Pod", "Service", "Service", "Service", "Service"], objects.Select(o => o.Kind));
        var pod1 = (V1Pod)objects[0];
        Assert.Equal("k8s-worker1", pod1.Spec.NodeSelector["kubernetes.io/hostname"]);
        var svc2 = (V1Service)objects[3];
        Assert.Equal(30000, svc2.Spec.Ports[0].NodePort);
        Assert.Equal("8080", svc2.Spec.Ports[0].TargetPort.Value);
    }

    [Fact]
    public void Unknown_kinds_and_broken_yaml_are_bad_requests()
    {
        var e1 = Assert.Throws<ApiErrorException>(() => KubeObjects.LoadAll("apiVersion: v9\nkind: Nope\nmetadata:\n  name: x"));
        Assert.Equal(400, e1.Error.Code);
        var e2 = Assert.Throws<ApiErrorException>(() => KubeObjects.LoadAll("apiVersion: v1\nkind: Service\nspec: [unclosed"));
        Assert.Equal("BadRequest", e2.Error.Reason);
    }

    [Fact]
    public void Service_defaults_are_what_kubectl_get_shows()
    {
        var registry = new ServiceRegistry();
        var svc1 = registry.Ok(Yaml.SeedManifest("svc-1-clusterip.yaml"));
        Assert.Equal("ClusterIP", svc1.Spec.Type);
        Assert.Equal("TCP", svc1.Spec.Ports[0].Protocol);
        Assert.Equal("None", svc1.Spec.SessionAffinity);
        Assert.Equal("Cluster", svc1.Spec.InternalTrafficPolicy);
        Assert.Null(svc1.Spec.ExternalTrafficPolicy);
        Assert.Equal(["IPv4"], svc1.Spec.IpFamilies);
        Assert.Equal("SingleStack", svc1.Spec.IpFamilyPolicy);
        Assert.Equal("default", svc1.Metadata.NamespaceProperty);
        Assert.Equal("uid-1", svc1.Metadata.Uid);
        Assert.Equal(1, svc1.Metadata.Generation);
        Assert.Equal(new DateTime(2026, 11, 26, 12, 0, 0, DateTimeKind.Utc), svc1.Metadata.CreationTimestamp);

        var svc4 = registry.Ok(Yaml.SeedManifest("svc-4-loadbalancer.yaml"));
        Assert.Equal("Cluster", svc4.Spec.ExternalTrafficPolicy);
        Assert.True(svc4.Spec.AllocateLoadBalancerNodePorts);
        Assert.NotNull(svc4.Spec.Ports[0].NodePort);
        Assert.Empty(svc4.Status.LoadBalancer.Ingress ?? []); // <pending> until a pool assigns one

        var yaml = KubeObjects.ToYaml(svc1);
        Assert.Contains("sessionAffinity: None", yaml, StringComparison.Ordinal);
        Assert.Contains("targetPort: 8080", yaml, StringComparison.Ordinal);
        Assert.Contains("clusterIPs:", yaml, StringComparison.Ordinal);
        Assert.Contains("loadBalancer: {}", yaml, StringComparison.Ordinal);
        var json = KubeObjects.ToJson(svc1);
        Assert.Contains("\"creationTimestamp\":\"2026-11-26T12:00:00Z\"", json, StringComparison.Ordinal);
    }

    [Fact]
    public void Client_ip_affinity_gets_the_three_hour_default()
    {
        var svc = ServiceDefaults.Apply(Yaml.Service("apiVersion: v1\nkind: Service\nmetadata:\n  name: a\nspec:\n  sessionAffinity: ClientIP\n  ports:\n  - port: 80\n    targetPort: http"));
        Assert.Equal(10800, svc.Spec.SessionAffinityConfig.ClientIP.TimeoutSeconds);
        Assert.Equal("http", svc.Spec.Ports[0].TargetPort.Value);
        var none = ServiceDefaults.Apply(Yaml.Service("apiVersion: v1\nkind: Service\nmetadata:\n  name: a\nspec:\n  sessionAffinityConfig:\n    clientIP:\n      timeoutSeconds: 5\n  ports:\n  - port: 80"));
        Assert.Null(none.Spec.SessionAffinityConfig); // None clears the config
    }

    [Fact]
    public void Defaulting_never_changes_its_input()
    {
        var input = Yaml.Service(Yaml.SeedManifest("svc-2-nodeport.yaml"));
        var before = KubeObjects.ToJson(input);
        ServiceDefaults.Apply(input);
        PodDefaults.Apply(Yaml.Pod(Yaml.SeedManifest("pod-1.yaml")));
        Assert.Equal(before, KubeObjects.ToJson(input));
    }

    [Fact]
    public void Pod_defaults_and_initial_status_are_what_kubectl_get_shows()
    {
        var result = PodAdmission.Create(Yaml.Pod(Yaml.SeedManifest("pod-1.yaml")), null, WriteContext.For("default"));
        Assert.True(result.Ok, result.Error?.KubectlMessage());
        var pod = result.Object!;
        Assert.Equal("Always", pod.Spec.RestartPolicy);
        Assert.Equal("ClusterFirst", pod.Spec.DnsPolicy);
        Assert.Equal("default-scheduler", pod.Spec.SchedulerName);
        Assert.Equal(30, pod.Spec.TerminationGracePeriodSeconds);
        Assert.True(pod.Spec.EnableServiceLinks);
        var c = pod.Spec.Containers[0];
        Assert.Equal("Always", c.ImagePullPolicy);
        Assert.Equal("/dev/termination-log", c.TerminationMessagePath);
        Assert.Equal("File", c.TerminationMessagePolicy);
        Assert.Equal("TCP", c.Ports[0].Protocol);
        Assert.Equal(["node.kubernetes.io/not-ready", "node.kubernetes.io/unreachable"], pod.Spec.Tolerations.Select(t => t.Key));
        Assert.All(pod.Spec.Tolerations, t => Assert.Equal(300, t.TolerationSeconds));
        Assert.Equal("Pending", pod.Status.Phase);
        Assert.Equal("BestEffort", pod.Status.QosClass);
        Assert.Equal("IfNotPresent", PodDefaults.DefaultPullPolicy("registry:5000/app:1.2"));
        Assert.Equal("Always", PodDefaults.DefaultPullPolicy("registry:5000/app"));
        Assert.Equal("Always", PodDefaults.DefaultPullPolicy("app:latest"));
    }

    [Fact]
    public void Status_objects_have_the_kubernetes_shape()
    {
        var invalid = ApiError.Invalid(ResourceKind.Service, "web",
            [Api.FieldError.Invalid(Api.FieldPath.Spec.Child("ports").Index(0).Child("nodePort"), 80, "provided port is not in the valid range. The range of valid ports is 30000-32767")]);
        var json = invalid.ToJson();
        Assert.Equal(
            "{\"kind\":\"Status\",\"apiVersion\":\"v1\",\"metadata\":{},\"status\":\"Failure\",\"message\":\"Service \\\"web\\\" is invalid: spec.ports[0].nodePort: Invalid value: 80: provided port is not in the valid range. The range of valid ports is 30000-32767\",\"reason\":\"Invalid\",\"details\":{\"name\":\"web\",\"kind\":\"Service\",\"causes\":[{\"reason\":\"FieldValueInvalid\",\"message\":\"Invalid value: 80: provided port is not in the valid range. The range of valid ports is 30000-32767\",\"field\":\"spec.ports[0].nodePort\"}]},\"code\":422}",
            json);
        // The official client reads it back as a V1Status, as kubectl's Go client does.
        var read = KubeObjects.FromJson<V1Status>(json);
        Assert.Equal("Invalid", read.Reason);
        Assert.Equal("spec.ports[0].nodePort", read.Details.Causes[0].Field);
        var notFound = ApiError.NotFound(ResourceKind.Service, "web");
        Assert.Equal(404, notFound.Code);
        Assert.Equal("Error from server (NotFound): services \"web\" not found", notFound.KubectlMessage());
        Assert.Equal("services", notFound.ToStatus().Details.Kind);
        Assert.Equal("endpointslices.discovery.k8s.io \"s\" not found", ApiError.NotFound(ResourceKind.EndpointSlice, "s").Message);
        Assert.Equal(400, ApiError.BadRequest("x").Code);
        Assert.Equal("Error from server (AlreadyExists): pods \"pod-1\" already exists", ApiError.AlreadyExists(ResourceKind.Pod, "pod-1").KubectlMessage());
    }
}
