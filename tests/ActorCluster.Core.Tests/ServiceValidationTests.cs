using ActorCluster.Core.Allocation;
using ActorCluster.Core.Api;
using ActorCluster.Core.Objects;
using ActorCluster.Core.Validation;
using k8s.Models;

namespace ActorCluster.Core.Tests;

/// <summary>
/// Every Service rule of kube-apiserver's ValidateService (reference 1.2) and the allocator errors (1.4),
/// each asserted as the exact line kubectl prints for it.
/// </summary>
public class ServiceValidationTests
{
    private const string Dns1035 = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
    private const string QualifiedName = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')";
    private const string LabelValue = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')";

    private static string Svc(string spec, string name = "web") =>
        $"apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\nspec:\n" + string.Join("\n", spec.Split('\n').Select(l => "  " + l));

    private const string Port80 = "ports:\n- port: 80";

    public static TheoryData<string, string> CreateErrors => new()
    {
        // metadata.name: DNS-1035 label
        { Svc(Port80, "Web_1"), $"The Service \"Web_1\" is invalid: metadata.name: Invalid value: \"Web_1\": {Dns1035}" },
        { Svc(Port80, "1web"), $"The Service \"1web\" is invalid: metadata.name: Invalid value: \"1web\": {Dns1035}" },
        { Svc(Port80, new string('a', 64)), $"The Service \"{new string('a', 64)}\" is invalid: metadata.name: Invalid value: \"{new string('a', 64)}\": must be no more than 63 characters" },
        // ports
        { Svc("selector:\n  app: x"), "The Service \"web\" is invalid: spec.ports: Required value" },
        { Svc("type: LoadBalancer\nports:\n- port: 10250"), "The Service \"web\" is invalid: spec.ports[0]: Invalid value: 10250: may not expose port 10250 externally since it is used by kubelet" },
        { Svc("type: LoadBalancer\nclusterIP: None\nports:\n- port: 80"), "The Service \"web\" is invalid: spec.clusterIPs[0]: Invalid value: \"None\": may not be set to 'None' for LoadBalancer services" },
        { Svc("type: NodePort\nclusterIP: None\nports:\n- port: 80"), "The Service \"web\" is invalid: spec.clusterIPs[0]: Invalid value: \"None\": may not be set to 'None' for NodePort services" },
        { Svc("ports:\n- port: 80\n- port: 81"), "The Service \"web\" is invalid: \n* spec.ports[0].name: Required value\n* spec.ports[1].name: Required value" },
        { Svc("ports:\n- name: http\n  port: 80\n- name: http\n  port: 81"), "The Service \"web\" is invalid: spec.ports[1].name: Duplicate value: \"http\"" },
        { Svc("ports:\n- name: Http\n  port: 80\n- name: b\n  port: 81"), "The Service \"web\" is invalid: spec.ports[0].name: Invalid value: \"Http\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')" },
        { Svc("ports:\n- port: 70000\n  targetPort: 8080"), "The Service \"web\" is invalid: spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive" },
        { Svc("ports:\n- port: 80\n  protocol: FOO"), "The Service \"web\" is invalid: spec.ports[0].protocol: Unsupported value: \"FOO\": supported values: \"SCTP\", \"TCP\", \"UDP\"" },
        { Svc("ports:\n- port: 80\n  targetPort: 70000"), "The Service \"web\" is invalid: spec.ports[0].targetPort: Invalid value: 70000: must be between 1 and 65535, inclusive" },
        { Svc("ports:\n- port: 80\n  targetPort: -http"), "The Service \"web\" is invalid: spec.ports[0].targetPort: Invalid value: \"-http\": must not begin or end with a hyphen" },
        { Svc("ports:\n- port: 80\n  targetPort: http--x"), "The Service \"web\" is invalid: spec.ports[0].targetPort: Invalid value: \"http--x\": must not contain consecutive hyphens" },
        { Svc("ports:\n- port: 80\n  targetPort: abcdefghijklmnop"), "The Service \"web\" is invalid: spec.ports[0].targetPort: Invalid value: \"abcdefghijklmnop\": must be no more than 15 characters" },
        { Svc("ports:\n- port: 80\n  targetPort: HTTP"), "The Service \"web\" is invalid: \n* spec.ports[0].targetPort: Invalid value: \"HTTP\": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)\n* spec.ports[0].targetPort: Invalid value: \"HTTP\": must contain at least one letter (a-z)" },
        { Svc("ports:\n- port: 80\n  appProtocol: a/b/c"), $"The Service \"web\" is invalid: spec.ports[0].appProtocol: Invalid value: \"a/b/c\": a qualified name {QualifiedName} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')" },
        // selector
        { Svc("selector:\n  a b: x\nports:\n- port: 80"), $"The Service \"web\" is invalid: spec.selector: Invalid value: \"a b\": name part {QualifiedName}" },
        { Svc("selector:\n  app: -x\nports:\n- port: 80"), $"The Service \"web\" is invalid: spec.selector: Invalid value: \"-x\": {LabelValue}" },
        // session affinity
        { Svc("sessionAffinity: Sticky\nports:\n- port: 80"), "The Service \"web\" is invalid: spec.sessionAffinity: Unsupported value: \"Sticky\": supported values: \"ClientIP\", \"None\"" },
        { Svc("sessionAffinity: ClientIP\nsessionAffinityConfig:\n  clientIP:\n    timeoutSeconds: 0\nports:\n- port: 80"), "The Service \"web\" is invalid: spec.sessionAffinityConfig.clientIP.timeoutSeconds: Invalid value: 0: must be greater than 0 and less than 86400" },
        { Svc("sessionAffinity: ClientIP\nsessionAffinityConfig:\n  clientIP:\n    timeoutSeconds: 86401\nports:\n- port: 80"), "The Service \"web\" is invalid: spec.sessionAffinityConfig.clientIP.timeoutSeconds: Invalid value: 86401: must be greater than 0 and less than 86400" },
        // cluster IPs
        { Svc("clusterIP: 127.96.0.10\nclusterIPs: [127.96.0.11]\nports:\n- port: 80"), "The Service \"web\" is invalid: spec.clusterIPs: Invalid value: []string{\"127.96.0.11\"}: first value must match `clusterIP`" },
        { Svc("clusterIPs: [127.96.0.11]\nports:\n- port: 80"), "The Service \"web\" is invalid: spec.clusterIPs: Invalid value: []string{\"127.96.0.11\"}: must be empty when `clusterIP` is not specified" },
        { Svc("clusterIP: None\nclusterIPs: [None, 127.96.0.5]\nports:\n- port: 80"), "The Service \"web\" is invalid: spec.clusterIPs: Invalid value: []string{\"None\", \"127.96.0.5\"}: 'None' must be the first and only value" },
        { Svc("clusterIP: 300.1.1.1\nports:\n- port: 80"), "The Service \"web\" is invalid: spec.clusterIPs[0]: Invalid value: \"300.1.1.1\": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)" },
        { Svc("ipFamilyPolicy: RequireDualStack\nports:\n- port: 80"), "The Service \"web\" is invalid: spec.ipFamilyPolicy: Invalid value: \"RequireDualStack\": this cluster is not configured for dual-stack services" },
        { Svc("ipFamilies: [IPv6]\nports:\n- port: 80"), "The Service \"web\" is invalid: spec.ipFamilies[0]: Invalid value: \"IPv6\": not configured on this cluster" },
        { Svc("ipFamilyPolicy: Sometimes\nports:\n- port: 80"), "The Service \"web\" is invalid: spec.ipFamilyPolicy: Unsupported value: \"Sometimes\": supported values: \"PreferDualStack\", \"RequireDualStack\", \"SingleStack\"" },
        { Svc("clusterIP: 10.0.0.5\nports:\n- port: 80"), "The Service \"web\" is invalid: spec.clusterIPs: Invalid value: []string{\"10.0.0.5\"}: failed to allocate IP 10.0.0.5: the provided IP (10.0.0.5) is not in the valid range. The range of valid IPs is 127.96.0.0/12" },
        // external IPs
        { Svc("externalIPs: [127.0.0.1]\nports:\n- port: 80"), "The Service \"web\" is invalid: spec.externalIPs[0]: Invalid value: \"127.0.0.1\": may not be in the loopback range (127.0.0.0/8, ::1/128)" },
        { Svc("externalIPs: [abc]\nports:\n- port: 80"), "The Service \"web\" is invalid: spec.externalIPs[0]: Invalid value: \"abc\": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)" },
        { Svc("externalIPs: [0.0.0.0]\nports:\n- port: 80"), "The Service \"web\" is invalid: spec.externalIPs[0]: Invalid value: \"0.0.0.0\": may not be unspecified (0.0.0.0)" },
        { Svc("externalIPs: [169.254.1.1]\nports:\n- port: 80"), "The Service \"web\" is invalid: spec.externalIPs[0]: Invalid value: \"169.254.1.1\": may not be in the link-local range (169.254.0.0/16, fe80::/10)" },
        { Svc("externalIPs: [224.0.0.5]\nports:\n- port: 80"), "The Service \"web\" is invalid: spec.externalIPs[0]: Invalid value: \"224.0.0.5\": may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)" },
        // type
        { Svc("type: Foo\nports:\n- port: 80"), "The Service \"web\" is invalid: spec.type: Unsupported value: \"Foo\": supported values: \"ClusterIP\", \"ExternalName\", \"LoadBalancer\", \"NodePort\"" },
        { Svc("ports:\n- port: 80\n  nodePort: 30080"), "The Service \"web\" is invalid: spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'" },
        { Svc("ports:\n- name: a\n  port: 80\n- name: b\n  port: 80"), "The Service \"web\" is invalid: spec.ports[1]: Duplicate value: core.ServicePort{Name:\"\", Protocol:\"TCP\", AppProtocol:(*string)(nil), Port:80, TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:\"\"}, NodePort:0}" },
        // ExternalName
        { Svc("type: ExternalName\nexternalName: example.com\nclusterIP: 127.96.0.9"), "The Service \"web\" is invalid: spec.clusterIPs: Forbidden: may not be set for ExternalName services" },
        { Svc("type: ExternalName\nexternalName: example.com\nipFamilyPolicy: SingleStack"), "The Service \"web\" is invalid: spec.ipFamilyPolicy: Forbidden: may not be set for ExternalName services" },
        { Svc("type: ExternalName\nexternalName: example.com\nipFamilies: [IPv4]"), "The Service \"web\" is invalid: spec.ipFamilies: Forbidden: may not be set for ExternalName services" },
        { Svc("type: ExternalName"), "The Service \"web\" is invalid: spec.externalName: Required value" },
        { Svc("type: ExternalName\nexternalName: Foo_bar"), "The Service \"web\" is invalid: spec.externalName: Invalid value: \"Foo_bar\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')" },
        // load balancer fields
        { Svc("loadBalancerSourceRanges: [10.0.0.0/8]\nports:\n- port: 80"), "The Service \"web\" is invalid: spec.LoadBalancerSourceRanges: Forbidden: may only be used when `type` is 'LoadBalancer'" },
        { Svc("type: LoadBalancer\nloadBalancerSourceRanges: [10.0.0.0/33]\nports:\n- port: 80"), "The Service \"web\" is invalid: spec.LoadBalancerSourceRanges[0]: Invalid value: \"10.0.0.0/33\": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)" },
        { Svc("type: NodePort\nallocateLoadBalancerNodePorts: false\nports:\n- port: 80"), "The Service \"web\" is invalid: spec.allocateLoadBalancerNodePorts: Forbidden: may only be used when `type` is 'LoadBalancer'" },
        { Svc("loadBalancerClass: example.com/lb\nports:\n- port: 80"), "The Service \"web\" is invalid: spec.loadBalancerClass: Forbidden: may only be used when `type` is 'LoadBalancer'" },
        // traffic policies
        { Svc("externalTrafficPolicy: Local\nports:\n- port: 80"), "The Service \"web\" is invalid: spec.externalTrafficPolicy: Invalid value: \"Local\": may only be set for externally-accessible services" },
        { Svc("type: NodePort\nexternalTrafficPolicy: Foo\nports:\n- port: 80"), "The Service \"web\" is invalid: spec.externalTrafficPolicy: Unsupported value: \"Foo\": supported values: \"Cluster\", \"Local\"" },
        { Svc("type: NodePort\nhealthCheckNodePort: 30500\nports:\n- port: 80"), "The Service \"web\" is invalid: spec.healthCheckNodePort: Invalid value: 30500: may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'" },
        { Svc("internalTrafficPolicy: Foo\nports:\n- port: 80"), "The Service \"web\" is invalid: spec.internalTrafficPolicy: Unsupported value: \"Foo\": supported values: \"Cluster\", \"Local\"" },
        { Svc("trafficDistribution: Foo\nports:\n- port: 80"), "The Service \"web\" is invalid: spec.trafficDistribution: Unsupported value: \"Foo\": supported values: \"PreferClose\"" },
        // allocator: node port range
        { Svc("type: NodePort\nports:\n- port: 80\n  nodePort: 80"), "The Service \"web\" is invalid: spec.ports[0].nodePort: Invalid value: 80: provided port is not in the valid range. The range of valid ports is 30000-32767" },
        { Svc("type: NodePort\nports:\n- name: a\n  port: 80\n  nodePort: 30010\n- name: b\n  port: 81\n  nodePort: 30010"), "The Service \"web\" is invalid: spec.ports[1].nodePort: Invalid value: 30010: provided port is already allocated" },
        // labels (reference 1.5)
        { "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  labels:\n    a/b/c: x\nspec:\n  ports:\n  - port: 80", $"The Service \"web\" is invalid: metadata.labels: Invalid value: \"a/b/c\": a qualified name {QualifiedName} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')" },
        { "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  labels:\n    /a: x\nspec:\n  ports:\n  - port: 80", "The Service \"web\" is invalid: metadata.labels: Invalid value: \"/a\": prefix part must be non-empty" },
        { "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  labels:\n    example.com/: x\nspec:\n  ports:\n  - port: 80", $"The Service \"web\" is invalid: \n* metadata.labels: Invalid value: \"example.com/\": name part must be non-empty\n* metadata.labels: Invalid value: \"example.com/\": name part {QualifiedName}" },
        { "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  labels:\n    Example.com/a: x\nspec:\n  ports:\n  - port: 80", "The Service \"web\" is invalid: metadata.labels: Invalid value: \"Example.com/a\": prefix part a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')" },
        { $"apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  labels:\n    {new string('k', 64)}: x\nspec:\n  ports:\n  - port: 80", $"The Service \"web\" is invalid: metadata.labels: Invalid value: \"{new string('k', 64)}\": name part must be no more than 63 characters" },
        { $"apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  labels:\n    k: {new string('v', 64)}\nspec:\n  ports:\n  - port: 80", $"The Service \"web\" is invalid: metadata.labels: Invalid value: \"{new string('v', 64)}\": must be no more than 63 characters" },
        { "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  annotations:\n    a/b/c: x\nspec:\n  ports:\n  - port: 80", $"The Service \"web\" is invalid: metadata.annotations: Invalid value: \"a/b/c\": a qualified name {QualifiedName} with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')" },
        { "apiVersion: v1\nkind: Service\nmetadata:\n  name: web\n  namespace: Bad_NS\nspec:\n  ports:\n  - port: 80", "Error from server (BadRequest): the namespace of the provided object does not match the namespace sent on the request" },
    };

    [Theory]
    [MemberData(nameof(CreateErrors))]
    public void Create_is_rejected_with_kubernetes_exact_message(string yaml, string expected)
    {
        var registry = new ServiceRegistry();
        Assert.Equal(expected, registry.ErrorOf(yaml));
        // A rejected create holds nothing.
        Assert.Equal(0, registry.Allocator.ClusterIPs.Used);
        Assert.Equal(0, registry.Allocator.NodePorts.Used);
    }

    [Fact]
    public void Rules_that_defaulting_hides_are_still_enforced()
    {
        // Defaults fill these in on every create, so they are checked on hand-built objects.
        V1Service Base(Action<V1ServiceSpec> change)
        {
            var svc = new V1Service
            {
                Metadata = new V1ObjectMeta { Name = "web", NamespaceProperty = "default" },
                Spec = new V1ServiceSpec
                {
                    Type = "ClusterIP", SessionAffinity = "None", InternalTrafficPolicy = "Cluster",
                    ClusterIP = "127.96.0.5", ClusterIPs = ["127.96.0.5"],
                    Ports = [new V1ServicePort { Port = 80, Protocol = "TCP", TargetPort = 80 }],
                },
            };
            change(svc.Spec);
            return svc;
        }

        string Message(V1Service svc) => ApiError.Invalid(ResourceKind.Service, "web", ServiceValidation.Validate(svc)).KubectlMessage();

        Assert.Equal("The Service \"web\" is invalid: spec.sessionAffinity: Required value",
            Message(Base(s => s.SessionAffinity = null)));
        Assert.Equal("The Service \"web\" is invalid: spec.sessionAffinityConfig: Forbidden: must not be set when session affinity is None",
            Message(Base(s => s.SessionAffinityConfig = new V1SessionAffinityConfig())));
        Assert.Equal("The Service \"web\" is invalid: spec.sessionAffinityConfig: Required value: when session affinity type is ClientIP",
            Message(Base(s => s.SessionAffinity = "ClientIP")));
        Assert.Equal("The Service \"web\" is invalid: spec.sessionAffinityConfig.clientIP: Required value: when session affinity type is ClientIP",
            Message(Base(s => { s.SessionAffinity = "ClientIP"; s.SessionAffinityConfig = new V1SessionAffinityConfig(); })));
        Assert.Equal("The Service \"web\" is invalid: spec.sessionAffinityConfig.clientIP.timeoutSeconds: Required value: when session affinity type is ClientIP",
            Message(Base(s => { s.SessionAffinity = "ClientIP"; s.SessionAffinityConfig = new V1SessionAffinityConfig { ClientIP = new V1ClientIPConfig() }; })));
        Assert.Equal("The Service \"web\" is invalid: spec.type: Required value",
            Message(Base(s => s.Type = null)));
        Assert.Equal("The Service \"web\" is invalid: spec.ports[0].protocol: Required value",
            Message(Base(s => s.Ports[0].Protocol = null)));
        Assert.Equal("The Service \"web\" is invalid: spec.internalTrafficPolicy: Required value",
            Message(Base(s => s.InternalTrafficPolicy = null)));
        Assert.Equal("The Service \"web\" is invalid: spec.clusterIPs: Required value",
            Message(Base(s => s.ClusterIPs = null)));
        Assert.Equal("The Service \"web\" is invalid: \n* spec.clusterIPs: Invalid value: []string{\"127.96.0.5\", \"127.96.0.6\", \"127.96.0.7\"}: may only hold up to 2 values\n* spec.clusterIPs: Invalid value: []string{\"127.96.0.5\", \"127.96.0.6\", \"127.96.0.7\"}: may specify no more than one IP for each IP family",
            Message(Base(s => s.ClusterIPs = ["127.96.0.5", "127.96.0.6", "127.96.0.7"])));
        Assert.Equal("The Service \"web\" is invalid: spec.clusterIPs: Invalid value: []string{\"127.96.0.5\", \"127.96.0.6\"}: may specify no more than one IP for each IP family",
            Message(Base(s => s.ClusterIPs = ["127.96.0.5", "127.96.0.6"])));
        Assert.Equal("The Service \"web\" is invalid: spec.clusterIPs[0]: Invalid value: \"127.96.0.5\": expected an IPv6 value as indicated by `ipFamilies[0]`",
            Message(Base(s => s.IpFamilies = ["IPv6"])));
        Assert.Equal("The Service \"web\" is invalid: spec.ipFamilies[1]: Duplicate value: \"IPv4\"",
            Message(Base(s => s.IpFamilies = ["IPv4", "IPv4"])));
        Assert.Equal("The Service \"web\" is invalid: spec.ports[1].nodePort: Duplicate value: 30001",
            Message(Base(s =>
            {
                s.Type = "NodePort";
                s.ExternalTrafficPolicy = "Cluster";
                s.Ports = [new V1ServicePort { Name = "a", Port = 80, Protocol = "TCP", TargetPort = 80, NodePort = 30001 },
                           new V1ServicePort { Name = "b", Port = 81, Protocol = "TCP", TargetPort = 81, NodePort = 30001 }];
            })));
        Assert.Equal("The Service \"web\" is invalid: spec.externalTrafficPolicy: Required value",
            Message(Base(s => s.Type = "NodePort")));
        Assert.Equal("The Service \"web\" is invalid: allocateLoadBalancerNodePorts: Required value",
            Message(Base(s => { s.Type = "LoadBalancer"; s.ExternalTrafficPolicy = "Cluster"; })));
        Assert.Equal("The Service \"web\" is invalid: spec.healthCheckNodePort: Required value",
            Message(Base(s => { s.Type = "LoadBalancer"; s.ExternalTrafficPolicy = "Local"; s.AllocateLoadBalancerNodePorts = true; })));
        Assert.Equal("The Service \"web\" is invalid: spec.healthCheckNodePort: Invalid value: 70000: must be between 1 and 65535, inclusive",
            Message(Base(s => { s.Type = "LoadBalancer"; s.ExternalTrafficPolicy = "Local"; s.AllocateLoadBalancerNodePorts = true; s.HealthCheckNodePort = 70000; })));
    }
}
