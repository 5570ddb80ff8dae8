using System.Text.Json.Nodes;
using ActorCluster.Core.Objects;
using ActorCluster.Core.Store;
using k8s.Models;

namespace ActorCluster.Core.Tables;

/// <summary>One column of a server-side Table (metav1.TableColumnDefinition).</summary>
public sealed record TableColumn(string Name, string Type, string Format, string Description, int Priority = 0);

/// <summary>
/// Server-side printing (k/k pkg/printers/internalversion/printers.go): the columns and cells kubectl shows for
/// each kind, as a meta.k8s.io/v1 Table. Columns with priority 1 appear only with -o wide.
/// </summary>
public static class TableConverter
{
    private const string None = "<none>";

    private static readonly TableColumn NameColumn = new("Name", "string", "name", "Name must be unique within a namespace.");
    private static readonly TableColumn AgeColumn = new("Age", "string", "", "CreationTimestamp is a timestamp representing the server time when this object was created.");

    public static IReadOnlyList<TableColumn> Columns(ResourceKind kind) => kind.Resource switch
    {
        "pods" =>
        [
            NameColumn, new("Ready", "string", "", "The aggregate readiness state of this pod for accepting traffic."),
            new("Status", "string", "", "The aggregate status of the containers in this pod."),
            new("Restarts", "string", "", "The number of times the containers in this pod have been restarted and when the last container in this pod has restarted."),
            AgeColumn, new("IP", "string", "", "IP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.", 1),
            new("Node", "string", "", "NodeName is a request to schedule this pod onto a specific node.", 1),
            new("Nominated Node", "string", "", "nominatedNodeName is set only when this pod preempts other pods on the node.", 1),
            new("Readiness Gates", "string", "", "If specified, all readiness gates will be evaluated for pod readiness.", 1),
        ],
        "services" =>
        [
            NameColumn, new("Type", "string", "", "type determines how the Service is exposed."),
            new("Cluster-IP", "string", "", "clusterIP is the IP address of the service and is usually assigned randomly."),
            new("External-IP", "string", "", "externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service."),
            new("Port(s)", "string", "", "The list of ports that are exposed by this service."), AgeColumn,
            new("Selector", "string", "", "Route service traffic to pods with label keys and values matching this selector.", 1),
        ],
        "endpoints" => [NameColumn, new("Endpoints", "string", "", "Endpoints of the service"), AgeColumn],
        "nodes" =>
        [
            NameColumn, new("Status", "string", "", "The status of the node"), new("Roles", "string", "", "The roles of the node"),
            AgeColumn, new("Version", "string", "", "Kubelet Version reported by the node."),
            new("Internal-IP", "string", "", "List of addresses reachable to the node.", 1),
            new("External-IP", "string", "", "List of addresses reachable to the node.", 1),
            new("OS-Image", "string", "", "OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).", 1),
            new("Kernel-Version", "string", "", "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).", 1),
            new("Container-Runtime", "string", "", "ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).", 1),
        ],
        "namespaces" => [NameColumn, new("Status", "string", "", "The status of the namespace"), AgeColumn],
        "endpointslices" =>
        [
            NameColumn, new("AddressType", "string", "", "addressType specifies the type of address carried by this EndpointSlice."),
            new("Ports", "string", "", "ports specifies the list of network ports exposed by each endpoint in this slice."),
            new("Endpoints", "string", "", "endpoints is a list of unique endpoints in this slice."), AgeColumn,
        ],
        "events" =>
        [
            new("Last Seen", "string", "", "Time when last Event occurred"), new("Type", "string", "", "Type of this event (Normal, Warning), new types could be added in the future."),
            new("Reason", "string", "", "Reason why this event was generated."), new("Object", "string", "", "The object that this event is about."),
            new("Subobject", "string", "", "The subobject that this event is about.", 1), new("Source", "string", "", "The component reporting this event.", 1),
            new("Message", "string", "", "A human-readable description of the status of this operation."),
            new("First Seen", "string", "", "Time when first Event occurred", 1), new("Count", "string", "", "The number of times this event has occurred.", 1),
            new("Name", "string", "name", "Name must be unique within a namespace.", 1),
        ],
        "leases" => [NameColumn, new("Holder", "string", "", "holderIdentity contains the identity of the holder of a current lease."), AgeColumn],
        "configmaps" =>
        [
            NameColumn,
            new("Data", "string", "", "Data contains the configuration data. Each key must consist of alphanumeric characters, '-', '_' or '.'. Values with non-UTF-8 byte sequences must use the BinaryData field. The keys stored in Data must not overlap with the keys in the BinaryData field, this is enforced during validation process."),
            AgeColumn,
        ],
        "jobs" =>
        [
            NameColumn,
            new("Status", "string", "", "Status of the job."),
            new("Completions", "string", "", "The number of pods which reached phase Succeeded."),
            new("Duration", "string", "", "Time required to complete the job."),
            AgeColumn, .. TemplateColumns("A label query over pods that should match the pod count. Normally, the system sets this field for you. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/labels/#label-selectors"),
        ],
        "serviceaccounts" =>
        [
            NameColumn,
            new("Secrets", "string", "", "Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use."),
            AgeColumn,
        ],
        "secrets" =>
        [
            NameColumn,
            new("Type", "string", "", "Used to facilitate programmatic handling of secret data. More info: https://kubernetes.io/docs/concepts/configuration/secret/#secret-types"),
            new("Data", "string", "", "Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' or '.'. The serialized form of the secret data is a base64 encoded string, representing the arbitrary (possibly non-string) data value here. Described in https://tools.ietf.org/html/rfc4648#section-4"),
            AgeColumn,
        ],
        "deployments" =>
        [
            NameColumn, new("Ready", "string", "", "Number of the pod with ready state"),
            new("Up-to-date", "string", "", "Total number of non-terminated pods targeted by this deployment that have the desired template spec."),
            new("Available", "string", "", "Total number of available pods (ready for at least minReadySeconds) targeted by this deployment."),
            AgeColumn, .. TemplateColumns("Label selector for pods. Existing ReplicaSets whose pods are selected by this will be the ones affected by this deployment."),
        ],
        "replicasets" =>
        [
            NameColumn, new("Desired", "integer", "", "Replicas is the number of desired replicas. This is a pointer to distinguish between explicit zero and unspecified. Defaults to 1."),
            new("Current", "integer", "", "Replicas is the most recently observed number of replicas."),
            new("Ready", "integer", "", "The number of ready replicas for this replica set."),
            AgeColumn, .. TemplateColumns("Selector is a label query over pods that should match the replica count. If the selector is empty, it is defaulted to the labels present on the pod template."),
        ],
        _ => [NameColumn, AgeColumn],
    };

    public static IReadOnlyList<object> Cells(StoredObject obj, DateTime now) => obj.Object switch
    {
        V1Pod p => PodCells(p, now),
        V1Service s => ServiceCells(s, now),
        V1Endpoints e => [e.Metadata.Name, EndpointsCell(e), HumanDuration.Age(e.Metadata.CreationTimestamp, now)],
        V1Node n => NodeCells(n, now),
        V1Namespace ns => [ns.Metadata.Name, ns.Status?.Phase ?? "Active", HumanDuration.Age(ns.Metadata.CreationTimestamp, now)],
        V1EndpointSlice s => SliceCells(s, now),
        Corev1Event e => EventCells(e, now),
        V1Lease l => [l.Metadata.Name, l.Spec?.HolderIdentity ?? "", HumanDuration.Age(l.Metadata.CreationTimestamp, now)],
        V1ConfigMap cm => [cm.Metadata.Name, (long)((cm.Data?.Count ?? 0) + (cm.BinaryData?.Count ?? 0)), HumanDuration.Age(cm.Metadata.CreationTimestamp, now)],
        V1Job j => JobCells(j, now),
        V1ServiceAccount sa => [sa.Metadata.Name, (long)(sa.Secrets?.Count ?? 0), HumanDuration.Age(sa.Metadata.CreationTimestamp, now)],
        V1Secret s => [s.Metadata.Name, s.Type ?? "Opaque", (long)(s.Data?.Count ?? 0), HumanDuration.Age(s.Metadata.CreationTimestamp, now)],
        V1Deployment d =>
        [
            d.Metadata.Name, $"{d.Status?.ReadyReplicas ?? 0}/{d.Spec?.Replicas ?? 0}", (long)(d.Status?.UpdatedReplicas ?? 0), (long)(d.Status?.AvailableReplicas ?? 0),
            HumanDuration.Age(d.Metadata.CreationTimestamp, now), .. TemplateCells(d.Spec?.Template, d.Spec?.Selector),
        ],
        V1ReplicaSet rs =>
        [
            rs.Metadata.Name, (long)(rs.Spec?.Replicas ?? 0), (long)(rs.Status?.Replicas ?? 0), (long)(rs.Status?.ReadyReplicas ?? 0),
            HumanDuration.Age(rs.Metadata.CreationTimestamp, now), .. TemplateCells(rs.Spec?.Template, rs.Spec?.Selector),
        ],
        _ => [obj.Object.Metadata.Name, HumanDuration.Age(obj.Object.Metadata.CreationTimestamp, now)],
    };

    /// <summary>The -o wide columns of a workload: its template's containers and images, and its selector.</summary>
    private static TableColumn[] TemplateColumns(string selectorDescription) =>
    [
        new("Containers", "string", "", "Names of each container in the template.", 1),
        new("Images", "string", "", "Images referenced by each container in the template.", 1),
        new("Selector", "string", "", selectorDescription, 1),
    ];

    private static object[] TemplateCells(V1PodTemplateSpec? template, V1LabelSelector? selector)
    {
        var containers = template?.Spec?.Containers ?? [];
        return [string.Join(",", containers.Select(c => c.Name)), string.Join(",", containers.Select(c => c.Image)), Selectors.LabelSelector.Format(selector)];
    }

    /// <summary>kubectl's job row: its state, succeeded/completions, how long it ran (or has run so far), its template.</summary>
    private static object[] JobCells(V1Job job, DateTime now)
    {
        var state = ControlPlane.JobController.Finished(job) ?? (job.Spec?.Suspend == true ? "Suspended" : "Running");
        var completions = job.Spec?.Completions is { } c ? $"{job.Status?.Succeeded ?? 0}/{c}" : $"{job.Status?.Succeeded ?? 0}/1 of {job.Spec?.Parallelism ?? 1}";
        var duration = job.Status?.StartTime is { } start ? HumanDuration.Format((job.Status.CompletionTime ?? now) - start) : "";
        return [job.Metadata.Name, state, completions, duration, HumanDuration.Age(job.Metadata.CreationTimestamp, now), .. TemplateCells(job.Spec?.Template, job.Spec?.Selector)];
    }

    private static object[] PodCells(V1Pod pod, DateTime now)
    {
        var statuses = pod.Status?.ContainerStatuses ?? [];
        var total = pod.Spec?.Containers?.Count ?? 0;
        var ready = statuses.Count(c => c.Ready);
        var restarts = statuses.Sum(c => c.RestartCount);
        var reason = pod.Status?.Reason is { Length: > 0 } r ? r : pod.Status?.Phase ?? "Pending";
        foreach (var c in statuses)
        {
            if (c.State?.Waiting?.Reason is { Length: > 0 } w) reason = w;
            else if (c.State?.Terminated?.Reason is { Length: > 0 } t) reason = t;
        }
        if (pod.Metadata.DeletionTimestamp is not null) reason = pod.Status?.Reason == "NodeLost" ? "Unknown" : "Terminating";
        return
        [
            pod.Metadata.Name, $"{ready}/{total}", reason, RestartsCell(restarts, statuses, now),
            HumanDuration.Age(pod.Metadata.CreationTimestamp, now),
            string.IsNullOrEmpty(pod.Status?.PodIP) ? None : pod.Status.PodIP,
            string.IsNullOrEmpty(pod.Spec?.NodeName) ? None : pod.Spec.NodeName,
            string.IsNullOrEmpty(pod.Status?.NominatedNodeName) ? None : pod.Status.NominatedNodeName,
            pod.Spec?.ReadinessGates is { Count: > 0 } gates ? $"0/{gates.Count}" : None,
        ];
    }

    /// <summary>printPod's RESTARTS: the count, and since 1.28 how long ago the last container ended.</summary>
    private static string RestartsCell(int restarts, IList<V1ContainerStatus> statuses, DateTime now)
    {
        var count = restarts.ToString(System.Globalization.CultureInfo.InvariantCulture);
        var last = statuses.Select(c => c.LastState?.Terminated?.FinishedAt).Where(t => t is not null).Max();
        return restarts > 0 && last is not null ? $"{count} ({HumanDuration.Age(last, now)} ago)" : count;
    }

    private static object[] ServiceCells(V1Service svc, DateTime now)
    {
        var spec = svc.Spec ?? new V1ServiceSpec();
        var clusterIP = spec.ClusterIPs is { Count: > 0 } ips ? ips[0] : string.IsNullOrEmpty(spec.ClusterIP) ? None : spec.ClusterIP;
        return
        [
            svc.Metadata.Name, spec.Type ?? "ClusterIP", clusterIP, ExternalIP(svc), PortString(spec.Ports),
            HumanDuration.Age(svc.Metadata.CreationTimestamp, now),
            spec.Selector is { Count: > 0 } sel ? string.Join(",", sel.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => $"{kv.Key}={kv.Value}")) : None,
        ];
    }

    /// <summary>getServiceExternalIP: LoadBalancer ingress (and external IPs), &lt;pending&gt; while none.</summary>
    public static string ExternalIP(V1Service svc)
    {
        var spec = svc.Spec ?? new V1ServiceSpec();
        var external = spec.ExternalIPs ?? [];
        switch (spec.Type)
        {
            case ServiceTypes.ClusterIP or ServiceTypes.NodePort or null:
                return external.Count > 0 ? string.Join(",", external) : None;
            case ServiceTypes.LoadBalancer:
                var ingress = (svc.Status?.LoadBalancer?.Ingress ?? []).Select(i => !string.IsNullOrEmpty(i.Ip) ? i.Ip : i.Hostname).Where(x => !string.IsNullOrEmpty(x)).ToList();
                var all = ingress.Concat(external).ToList();
                return all.Count > 0 ? string.Join(",", all) : "<pending>";
            case ServiceTypes.ExternalName:
                return spec.ExternalName ?? None;
            default:
                return "<unknown>";
        }
    }

    public static string PortString(IList<V1ServicePort>? ports)
    {
        if (ports is null || ports.Count == 0) return None;
        return string.Join(",", ports.Select(p => (p.NodePort ?? 0) > 0 ? $"{p.Port}:{p.NodePort}/{p.Protocol}" : $"{p.Port}/{p.Protocol}"));
    }

    private static string EndpointsCell(V1Endpoints ep)
    {
        var list = new List<string>();
        var count = 0;
        foreach (var subset in ep.Subsets ?? [])
        {
            var ports = subset.Ports ?? [];
            foreach (var address in subset.Addresses ?? [])
            {
                if (ports.Count == 0)
                {
                    count++;
                    if (list.Count < 3) list.Add(address.Ip);
                }
                foreach (var port in ports)
                {
                    count++;
                    if (list.Count < 3) list.Add($"{address.Ip}:{port.Port}");
                }
            }
        }
        if (count == 0) return None;
        var text = string.Join(",", list);
        return count > 3 ? $"{text} + {count - 3} more..." : text;
    }

    private static object[] NodeCells(V1Node node, DateTime now)
    {
        var conditions = node.Status?.Conditions ?? [];
        var ready = conditions.FirstOrDefault(c => c.Type == "Ready");
        var status = ready?.Status switch { "True" => "Ready", _ => "NotReady" };
        if (node.Spec?.Unschedulable == true) status += ",SchedulingDisabled";
        var roles = (node.Metadata.Labels ?? new Dictionary<string, string>())
            .Where(kv => kv.Key.StartsWith("node-role.kubernetes.io/", StringComparison.Ordinal))
            .Select(kv => kv.Key["node-role.kubernetes.io/".Length..]).Where(r => r.Length > 0).Order().ToList();
        string Address(string type) => node.Status?.Addresses?.FirstOrDefault(a => a.Type == type)?.Address ?? None;
        var info = node.Status?.NodeInfo;
        return
        [
            node.Metadata.Name, status, roles.Count == 0 ? None : string.Join(",", roles), HumanDuration.Age(node.Metadata.CreationTimestamp, now),
            info?.KubeletVersion ?? "", Address("InternalIP"), Address("ExternalIP"),
            string.IsNullOrEmpty(info?.OsImage) ? "<unknown>" : info.OsImage,
            string.IsNullOrEmpty(info?.KernelVersion) ? "<unknown>" : info.KernelVersion,
            string.IsNullOrEmpty(info?.ContainerRuntimeVersion) ? "<unknown>" : info.ContainerRuntimeVersion,
        ];
    }

    private static object[] SliceCells(V1EndpointSlice slice, DateTime now)
    {
        var ports = slice.Ports is { Count: > 0 } p ? string.Join(",", p.Select(x => x.Port?.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "<unset>")) : "<unset>";
        var addresses = (slice.Endpoints ?? []).SelectMany(e => e.Addresses ?? []).ToList();
        var endpoints = addresses.Count == 0 ? "<unset>" : string.Join(",", addresses.Take(3)) + (addresses.Count > 3 ? $" + {addresses.Count - 3} more..." : "");
        return [slice.Metadata.Name, slice.AddressType, ports, endpoints, HumanDuration.Age(slice.Metadata.CreationTimestamp, now)];
    }

    private static object[] EventCells(Corev1Event e, DateTime now)
    {
        var last = e.LastTimestamp ?? e.EventTime ?? e.Metadata.CreationTimestamp;
        var first = e.FirstTimestamp ?? e.EventTime ?? e.Metadata.CreationTimestamp;
        var obj = $"{e.InvolvedObject?.Kind?.ToLowerInvariant()}/{e.InvolvedObject?.Name}";
        return
        [
            HumanDuration.Age(last, now), e.Type ?? "", e.Reason ?? "", obj, e.InvolvedObject?.FieldPath ?? "",
            e.Source?.Component ?? e.ReportingComponent ?? "", e.Message?.Trim() ?? "", HumanDuration.Age(first, now),
            (e.Count ?? 1).ToString(System.Globalization.CultureInfo.InvariantCulture), e.Metadata.Name,
        ];
    }

    /// <summary>The Table object: columns, one row per object with its metadata as a PartialObjectMetadata.</summary>
    public static JsonObject ToTable(ResourceKind kind, IEnumerable<StoredObject> objects, long resourceVersion, string? continueToken, DateTime now, bool withColumns = true)
    {
        var rows = new JsonArray();
        foreach (var o in objects) rows.Add(Row(o, now));
        var table = new JsonObject
        {
            ["kind"] = "Table",
            ["apiVersion"] = "meta.k8s.io/v1",
            ["metadata"] = new JsonObject { ["resourceVersion"] = resourceVersion.ToString(System.Globalization.CultureInfo.InvariantCulture) },
        };
        if (continueToken is not null) table["metadata"]!["continue"] = continueToken;
        if (withColumns)
        {
            table["columnDefinitions"] = new JsonArray(Columns(kind).Select(c => (JsonNode)new JsonObject
            {
                ["name"] = c.Name, ["type"] = c.Type, ["format"] = c.Format, ["description"] = c.Description, ["priority"] = c.Priority,
            }).ToArray());
        }
        table["rows"] = rows;
        return table;
    }

    public static JsonObject Row(StoredObject o, DateTime now)
    {
        var cells = new JsonArray(Cells(o, now).Select(c => JsonValue.Create(c)).Cast<JsonNode?>().ToArray());
        var metadata = JsonNode.Parse(KubeObjects.ToJson(o.Object.Metadata))!.AsObject();
        metadata.Remove("managedFields");
        return new JsonObject
        {
            ["cells"] = cells,
            ["object"] = new JsonObject { ["kind"] = "PartialObjectMetadata", ["apiVersion"] = "meta.k8s.io/v1", ["metadata"] = metadata },
        };
    }
}
