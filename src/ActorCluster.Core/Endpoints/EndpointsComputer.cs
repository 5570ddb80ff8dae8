using System.Security.Cryptography;
using System.Text;
using ActorCluster.Core.Objects;
using ActorCluster.Core.Selectors;
using k8s.Models;

namespace ActorCluster.Core.Endpoints;

/// <summary>
/// Selector x pods x targetPort -> the Service's v1 Endpoints and discovery.k8s.io/v1 EndpointSlices, as the
/// endpoints and endpointslice controllers compute them. Pure: the same inputs always give the same objects
/// (slice names included), so recomputing one Service never disturbs another.
/// </summary>
public static class EndpointsComputer
{
    public const int MaxEndpointsPerSlice = 100;
    public const int MaxEndpointsAddresses = 1000;
    public const string ServiceNameLabel = "kubernetes.io/service-name";
    public const string ManagedByLabel = "endpointslice.kubernetes.io/managed-by";
    public const string ManagedByController = "endpointslice-controller.k8s.io";
    public const string OverCapacityAnnotation = "endpoints.kubernetes.io/over-capacity";
    public const string HeadlessLabel = "service.kubernetes.io/headless";

    /// <summary>Whether the endpoint controllers manage this Service at all (a selector, and not ExternalName).</summary>
    public static bool Manages(V1Service svc) =>
        svc.Spec?.Type != ServiceTypes.ExternalName && svc.Spec?.Selector is { Count: > 0 };

    /// <summary>The pods a Service selects, from those of its namespace.</summary>
    public static IEnumerable<PodEndpointView> Select(V1Service svc, IEnumerable<PodEndpointView> pods)
    {
        var selector = LabelSelector.FromSet(svc.Spec?.Selector);
        if (selector is null || !Manages(svc)) return [];
        var ns = svc.Metadata?.NamespaceProperty ?? "";
        return pods.Where(p => p.Namespace == ns && selector.Matches(p.Labels));
    }

    /// <summary>One pod's endpoint for a Service: its address, conditions and the ports it resolves.</summary>
    private sealed record PodEndpoint(PodEndpointView Pod, bool Ready, bool Serving, IReadOnlyList<(V1ServicePort ServicePort, int Port)> Ports)
    {
        public string PortKey => string.Join(";", Ports.Select(p => $"{p.ServicePort.Name}/{p.ServicePort.Protocol}/{p.Port}"));
    }

    private static List<PodEndpoint> PodEndpoints(V1Service svc, IEnumerable<PodEndpointView> pods)
    {
        var publishNotReady = svc.Spec?.PublishNotReadyAddresses == true;
        var result = new List<PodEndpoint>();
        foreach (var pod in Select(svc, pods))
        {
            if (pod.IP is null || pod.Finished) continue;
            var ports = new List<(V1ServicePort, int)>();
            foreach (var sp in svc.Spec?.Ports ?? [])
            {
                var port = pod.ResolveTargetPort(sp.TargetPort, sp.Protocol ?? ServiceTypes.TCP);
                if (port is { } p) ports.Add((sp, p));
            }
            // The EndpointSlice conditions (KEP-1672): serving follows readiness, ready also requires not terminating.
            var serving = pod.Ready || publishNotReady;
            var ready = serving && (!pod.Terminating || publishNotReady);
            result.Add(new PodEndpoint(pod, ready, serving, ports));
        }
        return result.OrderBy(e => e.Pod.IP, StringComparer.Ordinal).ThenBy(e => e.Pod.Name, StringComparer.Ordinal).ToList();
    }

    private static V1ObjectReference TargetRef(PodEndpointView pod) =>
        new() { Kind = "Pod", NamespaceProperty = pod.Namespace, Name = pod.Name, Uid = pod.Uid };

    /// <summary>
    /// The legacy Endpoints object: ready addresses and notReadyAddresses (terminating pods left out), grouped
    /// into subsets by identical port sets, capped at 1000 addresses with the over-capacity annotation.
    /// </summary>
    public static V1Endpoints ComputeEndpoints(V1Service svc, IEnumerable<PodEndpointView> pods)
    {
        var endpoints = new V1Endpoints
        {
            ApiVersion = "v1",
            Kind = "Endpoints",
            Metadata = new V1ObjectMeta
            {
                Name = svc.Metadata.Name,
                NamespaceProperty = svc.Metadata.NamespaceProperty,
                Labels = svc.Metadata.Labels is { Count: > 0 } l ? new Dictionary<string, string>(l) : null,
            },
        };
        var members = PodEndpoints(svc, pods).Where(e => !e.Pod.Terminating && e.Ports.Count > 0).ToList();
        var total = 0;
        var truncated = false;
        var subsets = new List<V1EndpointSubset>();
        foreach (var group in members.GroupBy(e => e.PortKey).OrderBy(g => g.First().Pod.IP, StringComparer.Ordinal))
        {
            var ready = new List<V1EndpointAddress>();
            var notReady = new List<V1EndpointAddress>();
            // Ready addresses first, so truncation keeps the ones that serve.
            foreach (var e in group.OrderByDescending(e => e.Ready))
            {
                if (total == MaxEndpointsAddresses)
                {
                    truncated = true;
                    break;
                }
                total++;
                var address = new V1EndpointAddress { Ip = e.Pod.IP, NodeName = e.Pod.NodeName, TargetRef = TargetRef(e.Pod) };
                (e.Ready ? ready : notReady).Add(address);
            }
            if (ready.Count == 0 && notReady.Count == 0) continue;
            var first = group.First();
            subsets.Add(new V1EndpointSubset
            {
                Addresses = ready.Count == 0 ? null : ready.OrderBy(a => a.Ip, StringComparer.Ordinal).ToList(),
                NotReadyAddresses = notReady.Count == 0 ? null : notReady.OrderBy(a => a.Ip, StringComparer.Ordinal).ToList(),
                Ports = first.Ports.Select(p => new Corev1EndpointPort
                {
                    Name = string.IsNullOrEmpty(p.ServicePort.Name) ? null : p.ServicePort.Name,
                    Port = p.Port,
                    Protocol = p.ServicePort.Protocol,
                    AppProtocol = p.ServicePort.AppProtocol,
                }).ToList(),
            });
        }
        endpoints.Subsets = subsets.Count == 0 ? null : subsets;
        if (truncated)
        {
            endpoints.Metadata.Annotations ??= new Dictionary<string, string>();
            endpoints.Metadata.Annotations[OverCapacityAnnotation] = "truncated";
        }
        return endpoints;
    }

    /// <summary>
    /// The EndpointSlices: one group per resolved port set, chunks of at most 100 endpoints, with
    /// ready/serving/terminating conditions, the service-name and managed-by labels and an owner reference.
    /// A Service that selects nothing still gets one empty slice, as Kubernetes keeps one.
    /// </summary>
    public static IReadOnlyList<V1EndpointSlice> ComputeSlices(V1Service svc, IEnumerable<PodEndpointView> pods)
    {
        var members = PodEndpoints(svc, pods);
        var groups = members.GroupBy(e => e.PortKey).OrderBy(g => g.Key, StringComparer.Ordinal).ToList();
        var slices = new List<V1EndpointSlice>();
        foreach (var group in groups)
        {
            var list = group.ToList();
            for (var chunk = 0; chunk * MaxEndpointsPerSlice < list.Count; chunk++)
            {
                var part = list.Skip(chunk * MaxEndpointsPerSlice).Take(MaxEndpointsPerSlice).ToList();
                slices.Add(NewSlice(svc, group.Key, chunk, part.First().Ports.Select(p => p).ToList(), part));
            }
        }
        if (slices.Count == 0)
        {
            // No endpoints: an empty slice carrying the service's ports (or none), as the controller keeps.
            var ports = (svc.Spec?.Ports ?? [])
                .Where(sp => PortValue.TryNumber(sp.TargetPort, out _))
                .Select(sp => (sp, int.Parse(sp.TargetPort!.Value, System.Globalization.CultureInfo.InvariantCulture)))
                .ToList();
            slices.Add(NewSlice(svc, "", 0, ports, []));
        }
        return slices;
    }

    private static V1EndpointSlice NewSlice(V1Service svc, string portKey, int chunk,
        IReadOnlyList<(V1ServicePort ServicePort, int Port)> ports, IReadOnlyList<PodEndpoint> endpoints)
    {
        var labels = new Dictionary<string, string>();
        foreach (var (k, v) in svc.Metadata.Labels ?? new Dictionary<string, string>()) labels[k] = v;
        labels[ServiceNameLabel] = svc.Metadata.Name;
        labels[ManagedByLabel] = ManagedByController;
        if (ServiceTypes.IsHeadless(svc)) labels[HeadlessLabel] = "";
        return new V1EndpointSlice
        {
            ApiVersion = "discovery.k8s.io/v1",
            Kind = "EndpointSlice",
            AddressType = "IPv4",
            Metadata = new V1ObjectMeta
            {
                Name = SliceName(svc, portKey, chunk),
                NamespaceProperty = svc.Metadata.NamespaceProperty,
                GenerateName = svc.Metadata.Name + "-",
                Labels = labels,
                OwnerReferences =
                [
                    new V1OwnerReference
                    {
                        ApiVersion = "v1", Kind = "Service", Name = svc.Metadata.Name, Uid = svc.Metadata.Uid,
                        Controller = true, BlockOwnerDeletion = true,
                    },
                ],
            },
            Endpoints = endpoints.Select(e => new V1Endpoint
            {
                Addresses = [e.Pod.IP!],
                Conditions = new V1EndpointConditions { Ready = e.Ready, Serving = e.Serving, Terminating = e.Pod.Terminating },
                NodeName = e.Pod.NodeName,
                TargetRef = TargetRef(e.Pod),
            }).ToList(),
            Ports = ports.Select(p => new Discoveryv1EndpointPort
            {
                Name = p.ServicePort.Name ?? "",
                Port = p.Port,
                Protocol = p.ServicePort.Protocol,
                AppProtocol = p.ServicePort.AppProtocol,
            }).ToList(),
        };
    }

    /// <summary>
    /// A stable name in the controller's shape (<c>&lt;service&gt;-&lt;5 chars&gt;</c>): derived from the Service's uid,
    /// port set and chunk, so recomputing gives the same slice and only its content changes.
    /// </summary>
    private static string SliceName(V1Service svc, string portKey, int chunk)
    {
        const string alphabet = "bcdfghjklmnpqrstvwxz2456789";
        var hash = SHA256.HashData(Encoding.UTF8.GetBytes($"{svc.Metadata.Uid}|{svc.Metadata.Name}|{portKey}|{chunk}"));
        var suffix = new char[5];
        for (var i = 0; i < 5; i++) suffix[i] = alphabet[hash[i] % alphabet.Length];
        var prefix = svc.Metadata.Name.Length > 57 ? svc.Metadata.Name[..57] : svc.Metadata.Name;
        return prefix + "-" + new string(suffix);
    }
}
