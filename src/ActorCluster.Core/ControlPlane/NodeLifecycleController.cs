using System.Globalization;
using ActorCluster.Core.Api;
using ActorCluster.Core.Defaulting;
using ActorCluster.Core.Objects;
using ActorCluster.Core.Registry;
using ActorCluster.Core.Store;
using ActorCluster.Core.Validation;
using k8s.Models;

namespace ActorCluster.Core.ControlPlane;

/// <summary>
/// Nodes as kubelet registers them and the node lifecycle controller follows them: a node joining gets (or keeps)
/// its Node object, labels, InternalIP and pod range, and is Ready; membership decides readiness afterwards, and a
/// node that stops being Ready has its pods marked not ready so endpoints follow (MarkPodsNotReady).
/// </summary>
internal sealed class NodeLifecycleController(ControllerContext context, string podNetworkPrefix, SchedulerController scheduler, EndpointsController endpoints, PodWrites pods)
{
    public const string HostnameLabel = "kubernetes.io/hostname";

    /// <summary>This build's release (Directory.Build.props' Version), without the commit.</summary>
    public static readonly string Release = typeof(NodeLifecycleController).Assembly.GetName().Version is { } v ? $"{v.Major}.{v.Minor}.{v.Build}" : "0.0.0";

    public Decision Register(ObjectStore store, string name, string address, string kernel, string osImage, string akkaAddress, NodeCapacity capacity)
    {
        var batch = context.NewBatch(store);
        var existing = store.Get<V1Node>(ResourceKind.Node, "", name);
        var node = existing is null ? new V1Node { ApiVersion = "v1", Kind = "Node", Metadata = new V1ObjectMeta { Name = name } } : KubeObjects.Clone(existing);
        if (existing is null)
        {
            var errs = MetadataValidation.ValidateObjectMeta(node.Metadata, false, MetadataValidation.DnsSubdomainName);
            if (errs.Count > 0) return Decision.Fail(ApiError.Invalid(ResourceKind.Node, name, errs));
            ObjectMetaRules.PrepareCreate(node.Metadata, context.Write(""));
        }
        node.Metadata.Labels ??= new Dictionary<string, string>();
        node.Metadata.Labels[HostnameLabel] = name;
        node.Metadata.Labels["kubernetes.io/os"] = "linux";
        node.Metadata.Labels["kubernetes.io/arch"] = "amd64";
        if (akkaAddress.Length > 0)
        {
            node.Metadata.Annotations ??= new Dictionary<string, string>();
            node.Metadata.Annotations[ControlPlane.AkkaAddressAnnotation] = akkaAddress;
        }
        node.Spec ??= new V1NodeSpec();
        if (string.IsNullOrEmpty(node.Spec.PodCIDR))
        {
            node.Spec.PodCIDR = AssignPodRange(store, name);
            node.Spec.PodCIDRs = [node.Spec.PodCIDR];
        }
        var now = context.Now();
        node.Status ??= new V1NodeStatus();
        node.Status.Addresses = [new V1NodeAddress { Type = "InternalIP", Address = address }, new V1NodeAddress { Type = "Hostname", Address = name }];
        // The machine as the node reports it (it may have changed since the last registration); a node that did not
        // say keeps what was known.
        if (capacity.Cpu > 0 || node.Status.Capacity is null)
        {
            node.Status.Capacity = capacity.Capacity();
            node.Status.Allocatable = capacity.Allocatable();
        }
        node.Status.NodeInfo = new V1NodeSystemInfo
        {
            KubeletVersion = "v1.32.0-actorcluster", KubeProxyVersion = "v1.32.0-actorcluster",
            ContainerRuntimeVersion = "actorcluster://" + Release, OperatingSystem = "linux", Architecture = "amd64",
            OsImage = osImage, KernelVersion = kernel, MachineID = "", SystemUUID = "", BootID = "",
        };
        node.Status.Conditions = [ReadyCondition("True", "KubeletReady", "kubelet is posting ready status", now, existing)];
        SetTaints(node, "True");
        batch.Put(existing is null ? ChangeType.Added : ChangeType.Modified, ResourceKind.Node, node);
        scheduler.ScheduleAllPending(batch);
        return batch.Done(batch.Latest(new ObjectRef("nodes", "", name)));
    }

    /// <summary>Where kubelets keep their heartbeat Leases, one per node, named after it.</summary>
    public const string NodeLeaseNamespace = "kube-node-lease";

    /// <summary>kubelet's default: a Lease of 40 s, renewed every quarter of it.</summary>
    public const int NodeLeaseDurationSeconds = 40;

    /// <summary>
    /// A node's heartbeat, as kubelet's node lease controller writes it: the Lease kube-node-lease/&lt;node&gt; held by
    /// the node, owned by its Node (so it goes with it), its renewTime now. Nothing for a node not registered, or
    /// when the namespace is gone.
    /// </summary>
    public Decision RenewLease(ObjectStore store, string name)
    {
        var batch = context.NewBatch(store);
        var node = store.Get<V1Node>(ResourceKind.Node, "", name);
        if (node is null || store.Get<V1Namespace>(ResourceKind.Namespace, "", NodeLeaseNamespace) is null) return batch.Done(null);
        var existing = store.Get<V1Lease>(ResourceKind.Lease, NodeLeaseNamespace, name);
        V1Lease lease;
        if (existing is null)
        {
            lease = new V1Lease
            {
                ApiVersion = ResourceKind.Lease.ApiVersion, Kind = ResourceKind.Lease.Kind,
                Metadata = new V1ObjectMeta
                {
                    Name = name, NamespaceProperty = NodeLeaseNamespace,
                    OwnerReferences = [new V1OwnerReference { ApiVersion = "v1", Kind = "Node", Name = name, Uid = node.Metadata.Uid }],
                },
                Spec = new V1LeaseSpec { LeaseDurationSeconds = NodeLeaseDurationSeconds },
            };
            ObjectMetaRules.PrepareCreate(lease.Metadata, context.Write(NodeLeaseNamespace));
        }
        else
        {
            lease = KubeObjects.Clone(existing);
            lease.Spec ??= new V1LeaseSpec();
        }
        lease.Spec.HolderIdentity = name;
        lease.Spec.LeaseDurationSeconds ??= NodeLeaseDurationSeconds;
        // MicroTime: renewals are told apart below the second, as kubelet's are.
        var now = context.Clock();
        lease.Spec.RenewTime = new DateTime(now.Ticks - now.Ticks % 10, DateTimeKind.Utc);
        batch.Put(existing is null ? ChangeType.Added : ChangeType.Modified, ResourceKind.Lease, lease);
        return batch.Done(null);
    }

    public Decision SetReady(ObjectStore store, string name, string status, string reason, string message)
    {
        var existing = store.Get<V1Node>(ResourceKind.Node, "", name);
        var batch = context.NewBatch(store);
        if (existing is null) return batch.Done(null);
        var current = existing.Status?.Conditions?.FirstOrDefault(c => c.Type == "Ready");
        if (current?.Status == status && current.Reason == reason) return batch.Done(null);
        var node = KubeObjects.Clone(existing);
        node.Status.Conditions = [ReadyCondition(status, reason, message, context.Now(), existing)];
        SetTaints(node, status);
        batch.Put(ChangeType.Modified, ResourceKind.Node, node);
        if (status != "True")
        {
            foreach (var pod in PodsOn(store, name).ToList())
            {
                if (pod.Status?.Conditions?.Any(c => c.Type == "Ready" && c.Status == "True") != true) continue;
                var updated = KubeObjects.Clone(pod);
                foreach (var c in updated.Status.Conditions.Where(c => c.Type is "Ready" or "ContainersReady"))
                {
                    c.Status = "False";
                    c.LastTransitionTime = context.Now();
                }
                batch.Put(ChangeType.Modified, ResourceKind.Pod, updated);
                endpoints.ReconcilePod(batch, pod, updated);
            }
        }
        else
        {
            scheduler.ScheduleAllPending(batch);
        }
        return batch.Done(null);
    }

    /// <summary>
    /// The node lifecycle controller's taints: an Unknown node is unreachable, a False one not ready, each as
    /// NoSchedule and NoExecute (the NoExecute one with the time it was added, which eviction counts from); a Ready
    /// node has neither.
    /// </summary>
    private void SetTaints(V1Node node, string ready)
    {
        var keep = (node.Spec.Taints ?? []).Where(t => t.Key is not (PodDefaults.NotReadyTaint or PodDefaults.UnreachableTaint)).ToList();
        var key = ready switch
        {
            "Unknown" => PodDefaults.UnreachableTaint,
            "False" => PodDefaults.NotReadyTaint,
            _ => null,
        };
        if (key is not null)
        {
            var since = node.Spec.Taints?.FirstOrDefault(t => t.Key == key && t.Effect == "NoExecute")?.TimeAdded ?? context.Now();
            keep.Add(new V1Taint { Key = key, Effect = "NoSchedule" });
            keep.Add(new V1Taint { Key = key, Effect = "NoExecute", TimeAdded = since });
        }
        node.Spec.Taints = keep.Count == 0 ? null : keep;
    }

    /// <summary>
    /// The taint eviction controller: a pod on a node with a NoExecute taint goes once it has tolerated it for its
    /// tolerationSeconds (at once without a matching toleration; never with one that has no limit). The node is not
    /// Ready, so the pod is deleted outright and its ReplicaSet creates a replacement on a Ready node.
    /// </summary>
    public void EvictFromLostNodes(DecisionBatch batch)
    {
        var now = context.Clock();
        // A taint older than this control plane is counted from its start: after a restart of the whole cluster the
        // nodes' old taints would otherwise evict every pod before their nodes could register again.
        var observedSince = _started;
        foreach (var node in batch.All<V1Node>(ResourceKind.Node).ToList())
        {
            var taints = (node.Spec?.Taints ?? []).Where(t => t.Effect == "NoExecute").ToList();
            if (taints.Count == 0) continue;
            foreach (var pod in batch.All<V1Pod>(ResourceKind.Pod).Where(p => p.Spec?.NodeName == node.Metadata.Name && p.Metadata.DeletionTimestamp is null).ToList())
            {
                if (!taints.Any(t => Evicts(t, pod, observedSince, now))) continue;
                if (batch.GetStored(ObjectRef.Of(ResourceKind.Pod, pod.Metadata)) is not { } stored) continue;
                batch.Put(ChangeType.Added, ResourceKind.Event, context.NewEvent(ResourceKind.Pod, pod.Metadata, "Normal", "TaintManagerEviction",
                    $"Marking for deletion Pod {pod.Metadata.NamespaceProperty}/{pod.Metadata.Name}", "taint-eviction-controller"));
                pods.Delete(batch, stored, 0);
            }
        }
    }

    private readonly DateTime _started = context.Clock();

    private static bool Evicts(V1Taint taint, V1Pod pod, DateTime observedSince, DateTime now)
    {
        var toleration = (pod.Spec?.Tolerations ?? []).FirstOrDefault(t =>
            (t.Effect is null or "" || t.Effect == taint.Effect)
            && (t.OperatorProperty == "Exists" ? string.IsNullOrEmpty(t.Key) || t.Key == taint.Key : t.Key == taint.Key && (t.Value ?? "") == (taint.Value ?? "")));
        if (toleration is null) return true;
        if (toleration.TolerationSeconds is not { } seconds) return false;
        var since = taint.TimeAdded is { } added && added > observedSince ? added : observedSince;
        return since.AddSeconds(Math.Max(0, seconds)) <= now;
    }

    public static IEnumerable<V1Pod> PodsOn(ObjectStore store, string node) =>
        store.All<V1Pod>(ResourceKind.Pod).Where(p => p.Spec?.NodeName == node);

    private static V1NodeCondition ReadyCondition(string status, string reason, string message, DateTime now, V1Node? previous)
    {
        var old = previous?.Status?.Conditions?.FirstOrDefault(c => c.Type == "Ready");
        return new V1NodeCondition
        {
            Type = "Ready", Status = status, Reason = reason, Message = message,
            LastHeartbeatTime = now,
            LastTransitionTime = old is not null && old.Status == status ? old.LastTransitionTime : now,
        };
    }

    /// <summary>127.244.&lt;i&gt;.0/24: the number in the node's name when free (k8s-worker2 -> 2), else the lowest free.</summary>
    private string AssignPodRange(ObjectStore store, string nodeName)
    {
        var used = store.All<V1Node>(ResourceKind.Node).Select(n => n.Spec?.PodCIDR).Where(c => c is not null).ToHashSet();
        string Cidr(int i) => $"{podNetworkPrefix}.{i}.0/24";
        var digits = new string(nodeName.Reverse().TakeWhile(char.IsAsciiDigit).Reverse().ToArray());
        if (int.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n is >= 1 and <= 254 && !used.Contains(Cidr(n)))
            return Cidr(n);
        for (var i = 1; i <= 254; i++)
        {
            if (!used.Contains(Cidr(i))) return Cidr(i);
        }
        throw new InvalidOperationException("no free pod range: at most 254 nodes");
    }
}
