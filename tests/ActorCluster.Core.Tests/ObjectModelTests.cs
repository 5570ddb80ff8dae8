using ActorCluster.Core.Objects;
using ActorCluster.Core.Store;
using k8s.Models;

namespace ActorCluster.Core.Tests;

/// <summary>Every kind ActorCluster serves goes through the wire format and back unchanged.</summary>
public class ObjectModelTests
{
    public static TheoryData<string, string> Manifests => new()
    {
        { "Node", "apiVersion: v1\nkind: Node\nmetadata:\n  name: k8s-worker1\n  labels:\n    kubernetes.io/hostname: k8s-worker1\nspec:\n  podCIDR: 127.244.1.0/24\nstatus:\n  addresses:\n  - address: 127.0.1.1\n    type: InternalIP\n  conditions:\n  - status: \"True\"\n    type: Ready" },
        { "Namespace", "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: team-a\nspec:\n  finalizers:\n  - kubernetes\nstatus:\n  phase: Active" },
        { "Event", "apiVersion: v1\nkind: Event\nmetadata:\n  name: svc-4.1\n  namespace: default\ninvolvedObject:\n  kind: Service\n  name: svc-4\n  namespace: default\nreason: AllocationFailed\nmessage: 'Failed to allocate IP for \"default/svc-4\": no available IPs'\ntype: Warning\ncount: 1" },
        { "Endpoints", "apiVersion: v1\nkind: Endpoints\nmetadata:\n  name: svc-1\n  namespace: default\nsubsets:\n- addresses:\n  - ip: 127.244.1.2\n    nodeName: k8s-worker1\n  ports:\n  - port: 8080\n    protocol: TCP" },
        { "EndpointSlice", "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: svc-1-abcde\n  namespace: default\n  labels:\n    kubernetes.io/service-name: svc-1\naddressType: IPv4\nendpoints:\n- addresses:\n  - 127.244.1.2\n  conditions:\n    ready: true\n    serving: true\n    terminating: false\n  nodeName: k8s-worker1\nports:\n- name: \"\"\n  port: 8080\n  protocol: TCP" },
        { "Pod", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: pod-1\n  labels:\n    app: pod\nspec:\n  containers:\n  - name: container\n    image: kubetm/app\n    ports:\n    - containerPort: 8080\nstatus:\n  phase: Running\n  podIP: 127.244.1.2" },
        { "Service", "apiVersion: v1\nkind: Service\nmetadata:\n  name: svc-1\nspec:\n  ports:\n  - port: 9000\n    targetPort: 8080\n  selector:\n    app: pod" },
    };

    [Theory]
    [MemberData(nameof(Manifests))]
    public void Yaml_and_json_round_trip(string kind, string yaml)
    {
        var obj = Assert.Single(KubeObjects.LoadAll(yaml));
        Assert.Equal(kind, obj.Kind);
        Assert.NotNull(ResourceKind.ByKind(obj.ApiVersion, obj.Kind));
        var again = Assert.Single(KubeObjects.LoadAll(KubeObjects.ToYaml(obj)));
        Assert.True(KubeObjects.SemanticEquals(obj, again));
        var fromJson = Assert.Single(KubeObjects.LoadAll(KubeObjects.ToJson(obj)));
        Assert.True(KubeObjects.SemanticEquals(obj, fromJson));
    }

    [Fact]
    public void A_stored_object_serves_its_journaled_text_and_only_its_own()
    {
        var svc = Yaml.Service("apiVersion: v1\nkind: Service\nmetadata:\n  name: a\n  resourceVersion: \"7\"\nspec:\n  ports:\n  - port: 80");
        var json = KubeObjects.ToJson(svc);
        var stored = new StoredObject(ResourceKind.Service, svc).WithKnownJson(json);
        Assert.Same(json, stored.ToJson());
        // An equal record around another object is not served the text (the text belongs to the instance).
        var twin = new StoredObject(ResourceKind.Service, KubeObjects.Clone(svc));
        Assert.NotSame(json, twin.ToJson());
        Assert.Equal(json, twin.ToJson());
        // A copy for the next version is a new object, parsed from the text, and changing it leaves the stored one alone.
        var next = stored.DeepCopy();
        Assert.NotSame(stored.Object, next.Object);
        next.As<k8s.Models.V1Service>().Spec.Ports[0].Port = 81;
        Assert.Same(json, stored.ToJson());
        Assert.Contains("\"port\":81", next.ToJson(), StringComparison.Ordinal);
    }

    [Fact]
    public void Clones_are_deep()
    {
        var svc = Yaml.Service("apiVersion: v1\nkind: Service\nmetadata:\n  name: a\nspec:\n  ports:\n  - port: 80");
        var copy = KubeObjects.Clone(svc);
        copy.Spec.Ports[0].Port = 81;
        Assert.Equal(80, svc.Spec.Ports[0].Port);
        Assert.False(KubeObjects.SemanticEquals(svc, copy));
    }

    [Fact]
    public void Resource_kinds_name_things_as_the_api_does()
    {
        Assert.Equal("discovery.k8s.io/v1", ResourceKind.EndpointSlice.ApiVersion);
        Assert.Equal("endpointslices.discovery.k8s.io", ResourceKind.EndpointSlice.QualifiedResource);
        Assert.Equal("deployments.apps", ResourceKind.Deployment.QualifiedResource);
        Assert.Equal(["po", "svc", "no", "ns", "ev", "ep", "cm", "sa", "rs", "deploy"], ResourceKind.All.Where(k => k.ShortName.Length > 0).Select(k => k.ShortName));
        Assert.False(ResourceKind.Node.Namespaced);
        Assert.Same(ResourceKind.Service, ResourceKind.ByKind("v1", "Service"));
    }
}
