using System.Collections.Immutable;
using System.Globalization;
using ActorCluster.Core.Allocation;
using ActorCluster.Core.Api;
using ActorCluster.Core.Endpoints;
using ActorCluster.Core.Objects;
using ActorCluster.Core.Registry;
using ActorCluster.Core.Selectors;
using ActorCluster.Core.Store;
using ActorCluster.Core.Validation;
using k8s;
using k8s.Models;

namespace ActorCluster.Core.ControlPlane;

/// <summary>
/// Everything the ApiServer singleton decides, as plain code: admission of writes, the scheduler, the
/// endpoints/endpointslice controller, the LoadBalancer IP controller and node lifecycle. A command yields a
/// <see cref="Decision"/> (the changes to persist, in order, plus the reply); the actor persists the changes
/// and feeds each back through <see cref="Apply"/>, which is also how recovery replays the journal.
/// Allocators, the LB pools and the selector index are derived state: <see cref="RebuildDerived"/> recomputes
/// them from the store after recovery. Owned by one actor; not thread-safe.
/// </summary>
public sealed class ControlPlane
{
    public const string DefaultNamespace = "default";
    public const string SystemNamespace = "kube-system";
    public const string HostnameLabel = "kubernetes.io/hostname";

    private readonly Func<DateTime> _clock;
    private readonly Func<string> _newUid;
    private ServiceAllocator _services;
    private LoadBalancerPools _pools;
    private ServiceSelectorIndex _index = ServiceSelectorIndex.Empty;
    private ImmutableDictionary<ObjectKey, ImmutableHashSet<ObjectRef>> _slicesByService = ImmutableDictionary<ObjectKey, ImmutableHashSet<ObjectRef>>.Empty;
    private long _eventCounter;

    public ControlPlane(ControlPlaneConfig config, Func<DateTime>? clock = null, Func<string>? newUid = null)
    {
        Config = config;
        _clock = clock ?? (() => DateTime.UtcNow);
        _newUid = newUid ?? (() => Guid.NewGuid().ToString());
        _services = new ServiceAllocator(config.ServiceNetwork);
        _pools = new LoadBalancerPools(config.LoadBalancerPools);
    }

    public ControlPlaneConfig Config { get; }

    public ObjectStore Store { get; private set; } = ObjectStore.Empty;

    public ServiceAllocator ServiceAllocator => _services;

    public LoadBalancerPools LoadBalancerPools => _pools;

    // ------------------------------------------------------------------ applying persisted changes

    /// <summary>Applies one persisted change (live or during recovery) to the store and the indexes.</summary>
    public void Apply(StoreChange change, long rv)
    {
        var obj = change.Object;
        Store = change.Type == ChangeType.Deleted ? Store.Remove(obj.Ref, rv) : Store.Put(obj, rv);
        if (obj.Kind == ResourceKind.Service)
        {
            var key = ObjectKey.Of(obj.Object.Metadata);
            _index = change.Type == ChangeType.Deleted ? _index.Remove(key) : _index.Put(obj.As<V1Service>());
        }
        else if (obj.Kind == ResourceKind.EndpointSlice
                 && ServiceNameOf(obj) is { } svcName)
        {
            var key = new ObjectKey(obj.Object.Metadata.NamespaceProperty ?? "", svcName);
            var set = _slicesByService.GetValueOrDefault(key) ?? [];
            set = change.Type == ChangeType.Deleted ? set.Remove(obj.Ref) : set.Add(obj.Ref);
            _slicesByService = set.IsEmpty ? _slicesByService.Remove(key) : _slicesByService.SetItem(key, set);
        }
    }

    /// <summary>Recomputes allocators and LB ownership from the stored objects; returns repair findings.</summary>
    public IReadOnlyList<string> RebuildDerived()
    {
        var problems = new List<string>();
        var services = Store.All<V1Service>(ResourceKind.Service).ToList();
        _services = ServiceAllocator.Rebuild(Config.ServiceNetwork, services, problems);
        _pools = LoadBalancerPools.Rebuild(Config.LoadBalancerPools,
            services.Where(s => s.Spec?.Type == ServiceTypes.LoadBalancer)
                .SelectMany(s => (s.Status?.LoadBalancer?.Ingress ?? []).Where(i => i.Ip is not null)
                    .Select(i => (ObjectKey.Of(s.Metadata).ToString(), i.Ip))));
        return problems;
    }

    // ------------------------------------------------------------------ commands

    /// <summary>The namespaces every cluster has.</summary>
    public Decision Bootstrap()
    {
        var batch = new Batch(Store);
        foreach (var ns in new[] { DefaultNamespace, SystemNamespace, "kube-public", "kube-node-lease" })
        {
            if (batch.Get<V1Namespace>(ResourceKind.Namespace, "", ns) is not null) continue;
            batch.Put(ChangeType.Added, ResourceKind.Namespace, NewNamespace(ns));
        }
        return batch.Done(null);
    }

    /// <summary>
    /// The endpoints controller's full resync: every Service's Endpoints and slices recomputed, orphans
    /// removed. Run after recovery; writes only what differs, so normally nothing.
    /// </summary>
    public Decision ResyncEndpoints()
    {
        var batch = new Batch(Store);
        var keys = Store.All<V1Service>(ResourceKind.Service).Select(s => ObjectKey.Of(s.Metadata))
            .Concat(Store.All(ResourceKind.Endpoints).Select(e => ObjectKey.Of(e.Object.Metadata)))
            .Concat(_slicesByService.Keys)
            .Distinct()
            .OrderBy(k => k.ToString(), StringComparer.Ordinal)
            .ToList();
        foreach (var key in keys) ReconcileEndpoints(batch, key);
        return batch.Done(null);
    }

    /// <summary>
    /// MetalLB's reprocess-all: every LoadBalancer still pending tries the pools again. Run at start (the pools
    /// may have changed since the objects were written).
    /// </summary>
    public Decision ReconcileLoadBalancers()
    {
        var batch = new Batch(Store);
        RetryPendingLoadBalancers(batch);
        return batch.Done(null);
    }

    public Decision Create(ResourceKind kind, string? ns, IKubernetesObject<V1ObjectMeta> input)
    {
        ns = kind.Namespaced ? ns ?? DefaultNamespace : null;
        if (ns is not null && kind != ResourceKind.Namespace && Store.Get<V1Namespace>(ResourceKind.Namespace, "", ns) is null)
            return Decision.Fail(ApiError.NotFound(ResourceKind.Namespace, ns));
        var batch = new Batch(Store);
        var ctx = new WriteContext(ns ?? "", _clock(), _newUid);
        if (string.IsNullOrEmpty(input.Metadata?.Name) && !string.IsNullOrEmpty(input.Metadata?.GenerateName))
        {
            // metadata.generateName: a free name is picked here, retried on a clash as kube-apiserver does (7 tries).
            input = CloneObject(input);
            for (var attempt = 0; attempt < 7 && (attempt == 0 || Store.Get(ObjectRef.Of(kind, input.Metadata)) is not null); attempt++)
                input.Metadata.Name = ObjectMetaRules.GenerateName(input.Metadata.GenerateName, _newUid());
            input.Metadata.NamespaceProperty ??= ns;
        }
        switch (input)
        {
            case V1Service svc:
            {
                var existing = Store.Get<V1Service>(ResourceKind.Service, ns!, svc.Metadata?.Name ?? "");
                var admission = ServiceAdmission.Create(svc, existing, _services, ctx);
                if (!admission.Ok) return Decision.Fail(admission.Error!);
                batch.Transaction = admission.Transaction;
                var stored = batch.Put(ChangeType.Added, kind, admission.Object!);
                ReconcileService(batch, ObjectKey.Of(admission.Object!.Metadata), announce: true);
                return batch.Done(batch.Latest(stored.Ref) ?? stored);
            }
            case V1Pod pod:
            {
                var existing = Store.Get<V1Pod>(ResourceKind.Pod, ns!, pod.Metadata?.Name ?? "");
                var admission = PodAdmission.Create(pod, existing, ctx);
                if (!admission.Ok) return Decision.Fail(admission.Error!);
                var created = admission.Object!;
                SchedulePod(batch, created);
                var stored = batch.Put(ChangeType.Added, kind, created);
                ReconcilePod(batch, null, created);
                return batch.Done(stored);
            }
            default:
                return CreateGeneric(batch, kind, ns, input, ctx);
        }
    }

    private Decision CreateGeneric(Batch batch, ResourceKind kind, string? ns, IKubernetesObject<V1ObjectMeta> input, WriteContext ctx)
    {
        var obj = CloneObject(input);
        obj.Metadata ??= new V1ObjectMeta();
        if (ObjectMetaRules.ApplyNamespace(obj.Metadata, ns) is { } nsError) return Decision.Fail(nsError);
        ObjectMetaRules.PrepareCreate(obj.Metadata, ctx);
        NameRule rule = kind == ResourceKind.Namespace ? MetadataValidation.DnsLabelName : MetadataValidation.DnsSubdomainName;
        var errs = MetadataValidation.ValidateObjectMeta(obj.Metadata, kind.Namespaced, rule);
        if (errs.Count > 0) return Decision.Fail(ApiError.Invalid(kind, obj.Metadata.Name ?? "", errs));
        if (Store.Get(ObjectRef.Of(kind, obj.Metadata)) is not null) return Decision.Fail(ApiError.AlreadyExists(kind, obj.Metadata.Name));
        if (obj is V1Namespace nsObj)
        {
            nsObj.Spec ??= new V1NamespaceSpec { Finalizers = ["kubernetes"] };
            nsObj.Status = new V1NamespaceStatus { Phase = "Active" };
            nsObj.Metadata.Labels ??= new Dictionary<string, string>();
            nsObj.Metadata.Labels["kubernetes.io/metadata.name"] = nsObj.Metadata.Name;
        }
        return batch.Done(batch.Put(ChangeType.Added, kind, obj));
    }

    public Decision Update(ResourceKind kind, string? ns, string name, IKubernetesObject<V1ObjectMeta> input, bool status = false)
    {
        ns = kind.Namespaced ? ns ?? DefaultNamespace : "";
        var existing = Store.Get(new ObjectRef(kind.Resource, ns, name));
        if (existing is null) return Decision.Fail(ApiError.NotFound(kind, name));
        if (input.Metadata?.Name is { Length: > 0 } bodyName && bodyName != name)
            return Decision.Fail(ApiError.BadRequest($"the name of the object ({bodyName}) does not match the name on the URL ({name})"));
        var batch = new Batch(Store);
        var ctx = new WriteContext(ns, _clock(), _newUid);
        switch (input)
        {
            case V1Service svc:
            {
                var old = existing.As<V1Service>();
                var admission = status ? ServiceAdmission.UpdateStatus(svc, old) : ServiceAdmission.Update(svc, old, _services, ctx);
                if (!admission.Ok) return Decision.Fail(admission.Error!);
                batch.Transaction = admission.Transaction;
                if (old.Spec?.Type == ServiceTypes.LoadBalancer && admission.Object!.Spec?.Type != ServiceTypes.LoadBalancer)
                    ReleaseLoadBalancerIPs(batch, old);
                var stored = batch.Put(ChangeType.Modified, kind, admission.Object!);
                ReconcileService(batch, ObjectKey.Of(old.Metadata), announce: !status);
                RetryPendingLoadBalancers(batch);
                return batch.Done(batch.Latest(stored.Ref) ?? stored);
            }
            case V1Pod pod:
            {
                var old = existing.As<V1Pod>();
                var admission = status ? PodAdmission.UpdateStatus(pod, old) : PodAdmission.Update(pod, old);
                if (!admission.Ok) return Decision.Fail(admission.Error!);
                var stored = batch.Put(ChangeType.Modified, kind, admission.Object!);
                ReconcilePod(batch, old, admission.Object!);
                return batch.Done(stored);
            }
            default:
            {
                var obj = CloneObject(input);
                obj.Metadata ??= new V1ObjectMeta();
                obj.Metadata.Name = name;
                if (ObjectMetaRules.ApplyNamespace(obj.Metadata, kind.Namespaced ? ns : null) is { } nsError) return Decision.Fail(nsError);
                if (ObjectMetaRules.PrepareUpdate(kind, obj.Metadata, existing.Object.Metadata, specChanged: true) is { } metaError)
                    return Decision.Fail(metaError);
                var errs = MetadataValidation.ValidateObjectMetaUpdate(obj.Metadata, existing.Object.Metadata);
                if (errs.Count > 0) return Decision.Fail(ApiError.Invalid(kind, name, errs));
                return batch.Done(batch.Put(ChangeType.Modified, kind, obj));
            }
        }
    }

    /// <summary>
    /// Deletes an object. A pod running on a Ready node is only marked (deletionTimestamp, grace period) and
    /// leaves the endpoints as terminating; its node stops it and confirms with <see cref="PodTerminated"/>.
    /// </summary>
    public Decision Delete(ResourceKind kind, string? ns, string name, long? gracePeriodSeconds = null)
    {
        ns = kind.Namespaced ? ns ?? DefaultNamespace : "";
        var existing = Store.Get(new ObjectRef(kind.Resource, ns, name));
        if (existing is null) return Decision.Fail(ApiError.NotFound(kind, name));
        var batch = new Batch(Store);
        switch (existing.Object)
        {
            case V1Pod pod:
            {
                var node = pod.Spec?.NodeName is { } nodeName ? Store.Get<V1Node>(ResourceKind.Node, "", nodeName) : null;
                var grace = gracePeriodSeconds ?? pod.Spec?.TerminationGracePeriodSeconds ?? PodDefaults30;
                if (node is null || !Scheduler.IsReady(node) || grace == 0 || IsFinished(pod))
                {
                    batch.Delete(existing);
                    ReconcilePod(batch, pod, null);
                    return batch.Done(existing);
                }
                if (pod.Metadata.DeletionTimestamp is not null) return batch.Done(existing);
                var marked = KubeObjects.Clone(pod);
                marked.Metadata.DeletionTimestamp = ObjectMetaRules.Truncate(_clock()).AddSeconds(grace);
                marked.Metadata.DeletionGracePeriodSeconds = grace;
                var stored = batch.Put(ChangeType.Modified, kind, marked);
                ReconcilePod(batch, pod, marked);
                return batch.Done(stored);
            }
            case V1Service svc:
            {
                batch.Transaction = ServiceAdmission.Delete(svc, _services);
                batch.Delete(existing);
                ReleaseLoadBalancerIPs(batch, svc);
                ReconcileService(batch, ObjectKey.Of(svc.Metadata), announce: false);
                RetryPendingLoadBalancers(batch);
                return batch.Done(existing);
            }
            case V1Namespace when name is DefaultNamespace or SystemNamespace:
                return Decision.Fail(new ApiError(403, "Forbidden", $"namespaces \"{name}\" is forbidden: this namespace may not be deleted",
                    new ApiErrorDetails(name, "", "namespaces", [])));
            case V1Namespace:
            {
                // Cascade: everything in the namespace goes with it, and so does everything its Services held
                // (ClusterIPs, node ports, health-check ports: on commit; LoadBalancer IPs: to the pending ones now).
                foreach (var obj in Store.All().Where(o => o.Kind.Namespaced && o.Object.Metadata.NamespaceProperty == name).ToList())
                {
                    if (obj.Kind == ResourceKind.Service)
                    {
                        _services.ReleaseDelete(obj.As<V1Service>(), batch.Transaction);
                        ReleaseLoadBalancerIPs(batch, obj.As<V1Service>());
                    }
                    batch.Delete(obj);
                }
                batch.Delete(existing);
                RetryPendingLoadBalancers(batch);
                return batch.Done(existing);
            }
            case V1Node node:
            {
                batch.Delete(existing);
                foreach (var pod in PodsOn(node.Metadata.Name).ToList())
                {
                    batch.Delete(Store.Get(ObjectRef.Of(ResourceKind.Pod, pod.Metadata))!);
                    ReconcilePod(batch, pod, null);
                }
                return batch.Done(existing);
            }
            default:
                batch.Delete(existing);
                return batch.Done(existing);
        }
    }

    private const long PodDefaults30 = 30;

    /// <summary>
    /// kube-apiserver's --event-ttl: an Event goes once it was last recorded before <paramref name="cutoff"/>
    /// (etcd does it with a lease per Event; here one sweep deletes them together).
    /// </summary>
    public Decision ExpireEvents(DateTime cutoff)
    {
        var batch = new Batch(Store);
        foreach (var stored in Store.All(ResourceKind.Event).ToList())
        {
            var ev = stored.As<Corev1Event>();
            var last = new[] { ev.LastTimestamp, ev.EventTime, ev.FirstTimestamp, ev.Metadata.CreationTimestamp }.Max() ?? DateTime.MinValue;
            if (last < cutoff) batch.Delete(stored);
        }
        return batch.Done(null);
    }

    private static bool IsFinished(V1Pod pod) => pod.Status?.Phase is "Succeeded" or "Failed";

    /// <summary>A node's agent confirms a pod it was asked to stop has stopped: the object goes.</summary>
    public Decision PodTerminated(string ns, string name, string uid)
    {
        var existing = Store.Get(new ObjectRef(ResourceKind.Pod.Resource, ns, name));
        if (existing is null || existing.Object.Metadata.Uid != uid) return new Batch(Store).Done(null);
        var batch = new Batch(Store);
        batch.Delete(existing);
        ReconcilePod(batch, existing.As<V1Pod>(), null);
        return batch.Done(existing);
    }

    /// <summary>A node agent reports a pod's status (kubelet's status manager).</summary>
    public Decision ReportPodStatus(string ns, string name, string uid, V1PodStatus status)
    {
        var existing = Store.Get(new ObjectRef(ResourceKind.Pod.Resource, ns, name));
        if (existing is null || existing.Object.Metadata.Uid != uid) return Decision.Fail(ApiError.NotFound(ResourceKind.Pod, name));
        var old = existing.As<V1Pod>();
        var merged = KubeObjects.Clone(status);
        // Keep the scheduler's condition; the node owns the rest.
        var scheduled = old.Status?.Conditions?.FirstOrDefault(c => c.Type == "PodScheduled");
        merged.Conditions = (merged.Conditions ?? []).Where(c => c.Type != "PodScheduled").ToList();
        if (scheduled is not null) merged.Conditions.Insert(0, scheduled);
        merged.QosClass ??= old.Status?.QosClass;
        if (KubeObjects.SemanticEquals(merged, old.Status)) return new Batch(Store).Done(existing);
        var updated = KubeObjects.Clone(old);
        updated.Status = merged;
        var batch = new Batch(Store);
        var stored = batch.Put(ChangeType.Modified, ResourceKind.Pod, updated);
        ReconcilePod(batch, old, updated);
        return batch.Done(stored);
    }

    /// <summary>
    /// A node joins (or rejoins): its Node object with hostname label, InternalIP and a pod range that it keeps
    /// across restarts; Ready; then pending pods are scheduled.
    /// </summary>
    public const string AkkaAddressAnnotation = "actorcluster.io/akka-address";

    public Decision RegisterNode(string name, string address, string kernel = "", string osImage = "", string akkaAddress = "")
    {
        var batch = new Batch(Store);
        var existing = Store.Get<V1Node>(ResourceKind.Node, "", name);
        var node = existing is null ? new V1Node { ApiVersion = "v1", Kind = "Node", Metadata = new V1ObjectMeta { Name = name } } : KubeObjects.Clone(existing);
        if (existing is null)
        {
            var errs = MetadataValidation.ValidateObjectMeta(node.Metadata, false, MetadataValidation.DnsSubdomainName);
            if (errs.Count > 0) return Decision.Fail(ApiError.Invalid(ResourceKind.Node, name, errs));
            ObjectMetaRules.PrepareCreate(node.Metadata, new WriteContext("", _clock(), _newUid));
        }
        node.Metadata.Labels ??= new Dictionary<string, string>();
        node.Metadata.Labels[HostnameLabel] = name;
        node.Metadata.Labels["kubernetes.io/os"] = "linux";
        node.Metadata.Labels["kubernetes.io/arch"] = "amd64";
        if (akkaAddress.Length > 0)
        {
            node.Metadata.Annotations ??= new Dictionary<string, string>();
            node.Metadata.Annotations[AkkaAddressAnnotation] = akkaAddress;
        }
        node.Spec ??= new V1NodeSpec();
        if (string.IsNullOrEmpty(node.Spec.PodCIDR))
        {
            node.Spec.PodCIDR = AssignPodRange(name);
            node.Spec.PodCIDRs = [node.Spec.PodCIDR];
        }
        var now = ObjectMetaRules.Truncate(_clock());
        node.Status ??= new V1NodeStatus();
        node.Status.Addresses = [new V1NodeAddress { Type = "InternalIP", Address = address }, new V1NodeAddress { Type = "Hostname", Address = name }];
        node.Status.Capacity ??= new Dictionary<string, ResourceQuantity> { ["pods"] = new("110") };
        node.Status.Allocatable ??= new Dictionary<string, ResourceQuantity> { ["pods"] = new("110") };
        node.Status.NodeInfo = new V1NodeSystemInfo
        {
            KubeletVersion = "v1.32.0-actorcluster", KubeProxyVersion = "v1.32.0-actorcluster",
            ContainerRuntimeVersion = "actorcluster://0.1.0", OperatingSystem = "linux", Architecture = "amd64",
            OsImage = osImage, KernelVersion = kernel, MachineID = "", SystemUUID = "", BootID = "",
        };
        node.Status.Conditions = [ReadyCondition("True", "KubeletReady", "kubelet is posting ready status", now, existing)];
        batch.Put(existing is null ? ChangeType.Added : ChangeType.Modified, ResourceKind.Node, node);
        ScheduleAllPending(batch);
        return batch.Done(batch.Latest(new ObjectRef("nodes", "", name)));
    }

    /// <summary>
    /// Membership decides readiness: Unreachable -> Unknown, gone -> False. A node that stops being Ready has
    /// its pods marked not ready (the node lifecycle controller's MarkPodsNotReady), so endpoints follow.
    /// </summary>
    public Decision SetNodeReady(string name, string status, string reason, string message)
    {
        var existing = Store.Get<V1Node>(ResourceKind.Node, "", name);
        var batch = new Batch(Store);
        if (existing is null) return batch.Done(null);
        var current = existing.Status?.Conditions?.FirstOrDefault(c => c.Type == "Ready");
        if (current?.Status == status && current.Reason == reason) return batch.Done(null);
        var node = KubeObjects.Clone(existing);
        node.Status.Conditions = [ReadyCondition(status, reason, message, ObjectMetaRules.Truncate(_clock()), existing)];
        batch.Put(ChangeType.Modified, ResourceKind.Node, node);
        if (status != "True")
        {
            foreach (var pod in PodsOn(name).ToList())
            {
                if (pod.Status?.Conditions?.Any(c => c.Type == "Ready" && c.Status == "True") != true) continue;
                var updated = KubeObjects.Clone(pod);
                foreach (var c in updated.Status.Conditions.Where(c => c.Type is "Ready" or "ContainersReady"))
                {
                    c.Status = "False";
                    c.LastTransitionTime = ObjectMetaRules.Truncate(_clock());
                }
                batch.Put(ChangeType.Modified, ResourceKind.Pod, updated);
                ReconcilePod(batch, pod, updated);
            }
        }
        else
        {
            ScheduleAllPending(batch);
        }
        return batch.Done(null);
    }

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

    private IEnumerable<V1Pod> PodsOn(string node) =>
        Store.All<V1Pod>(ResourceKind.Pod).Where(p => p.Spec?.NodeName == node);

    /// <summary>127.244.&lt;i&gt;.0/24: the number in the node's name when free (k8s-worker2 -> 2), else the lowest free.</summary>
    private string AssignPodRange(string nodeName)
    {
        var used = Store.All<V1Node>(ResourceKind.Node).Select(n => n.Spec?.PodCIDR).Where(c => c is not null).ToHashSet();
        string Cidr(int i) => $"{Config.PodNetworkPrefix}.{i}.0/24";
        var digits = new string(nodeName.Reverse().TakeWhile(char.IsAsciiDigit).Reverse().ToArray());
        if (int.TryParse(digits, NumberStyles.None, CultureInfo.InvariantCulture, out var n) && n is >= 1 and <= 254 && !used.Contains(Cidr(n)))
            return Cidr(n);
        for (var i = 1; i <= 254; i++)
        {
            if (!used.Contains(Cidr(i))) return Cidr(i);
        }
        throw new InvalidOperationException("no free pod range: at most 254 nodes");
    }

    // ------------------------------------------------------------------ scheduler

    private void SchedulePod(Batch batch, V1Pod pod)
    {
        if (!string.IsNullOrEmpty(pod.Spec.NodeName))
        {
            SetPodScheduled(pod, "True", null, null);
            return;
        }
        var nodes = batch.All<V1Node>(ResourceKind.Node).ToList();
        var load = batch.All<V1Pod>(ResourceKind.Pod).Where(p => p.Spec?.NodeName is not null)
            .GroupBy(p => p.Spec.NodeName).ToDictionary(g => g.Key, g => g.Count());
        var result = Scheduler.Schedule(pod, nodes, load);
        if (result.NodeName is not null)
        {
            pod.Spec.NodeName = result.NodeName;
            SetPodScheduled(pod, "True", null, null);
            return;
        }
        var already = pod.Status?.Conditions?.FirstOrDefault(c => c.Type == "PodScheduled");
        if (already is { Status: "False" } && already.Message == result.Message) return;
        SetPodScheduled(pod, "False", "Unschedulable", result.Message);
        batch.Put(ChangeType.Added, ResourceKind.Event, NewEvent(ResourceKind.Pod, pod.Metadata, "Warning", "FailedScheduling", result.Message, "default-scheduler"));
    }

    private void SetPodScheduled(V1Pod pod, string status, string? reason, string? message)
    {
        pod.Status ??= new V1PodStatus { Phase = "Pending" };
        pod.Status.Conditions = (pod.Status.Conditions ?? []).Where(c => c.Type != "PodScheduled").ToList();
        pod.Status.Conditions.Insert(0, new V1PodCondition
        {
            Type = "PodScheduled", Status = status, Reason = reason, Message = message,
            LastTransitionTime = ObjectMetaRules.Truncate(_clock()),
        });
    }

    private void ScheduleAllPending(Batch batch)
    {
        foreach (var pending in batch.All<V1Pod>(ResourceKind.Pod).Where(p => string.IsNullOrEmpty(p.Spec?.NodeName) && p.Metadata.DeletionTimestamp is null).ToList())
        {
            var pod = KubeObjects.Clone(pending);
            var before = KubeObjects.ToJson(pod);
            SchedulePod(batch, pod);
            if (KubeObjects.ToJson(pod) == before) continue;
            batch.Put(ChangeType.Modified, ResourceKind.Pod, pod);
        }
    }

    // ------------------------------------------------------------------ endpoints controller

    private void ReconcilePod(Batch batch, V1Pod? before, V1Pod? after)
    {
        var affected = _index.AffectedBy(before is null ? null : PodEndpointView.From(before), after is null ? null : PodEndpointView.From(after));
        foreach (var key in affected.OrderBy(k => k.ToString(), StringComparer.Ordinal))
            ReconcileEndpoints(batch, key);
    }

    private void ReconcileService(Batch batch, ObjectKey key, bool announce)
    {
        ReconcileEndpoints(batch, key);
        ReconcileLoadBalancer(batch, key, announce);
    }

    /// <summary>Recomputes one Service's Endpoints and EndpointSlices and writes only what differs.</summary>
    private void ReconcileEndpoints(Batch batch, ObjectKey key)
    {
        var svc = batch.Get<V1Service>(ResourceKind.Service, key.Namespace, key.Name);
        var existingEndpoints = batch.GetStored(new ObjectRef(ResourceKind.Endpoints.Resource, key.Namespace, key.Name));
        var existingSlices = (_slicesByService.GetValueOrDefault(key) ?? []).Select(batch.GetStored).Where(s => s is not null).Select(s => s!)
            .Concat(batch.AddedSlicesFor(key)).DistinctBy(s => s.Ref).ToList();
        // Only slices this controller made are its to change: a selector-less Service's slices belong to the user.
        existingSlices = existingSlices.Where(s => s.Object.Metadata.Labels?.TryGetValue(EndpointsComputer.ManagedByLabel, out var m) == true
                                                   && m == EndpointsComputer.ManagedByController).ToList();
        if (svc is null)
        {
            if (existingEndpoints is not null) batch.Delete(existingEndpoints);
            foreach (var s in existingSlices) batch.Delete(s);
            return;
        }
        if (!EndpointsComputer.Manages(svc))
        {
            foreach (var s in existingSlices) batch.Delete(s); // a selector was removed: our slices go, the user's stay
            return;
        }
        // Match labels on the stored pods first: only selected pods are worth converting.
        var selector = LabelSelector.FromSet(svc.Spec!.Selector)!;
        var pods = batch.All<V1Pod>(ResourceKind.Pod)
            .Where(p => p.Metadata.NamespaceProperty == key.Namespace && p.Metadata.Labels is { } l && Selects(selector, l))
            .Select(PodEndpointView.From).ToList();

        var endpoints = EndpointsComputer.ComputeEndpoints(svc, pods);
        PutIfChanged(batch, ResourceKind.Endpoints, endpoints, existingEndpoints);

        var slices = EndpointsComputer.ComputeSlices(svc, pods);
        var keep = new HashSet<ObjectRef>();
        foreach (var slice in slices)
        {
            var sliceRef = ObjectRef.Of(ResourceKind.EndpointSlice, slice.Metadata);
            keep.Add(sliceRef);
            PutIfChanged(batch, ResourceKind.EndpointSlice, slice, existingSlices.FirstOrDefault(s => s.Ref == sliceRef));
        }
        foreach (var stale in existingSlices.Where(s => !keep.Contains(s.Ref))) batch.Delete(stale);
    }

    private static bool Selects(LabelSelector selector, IDictionary<string, string> labels)
    {
        foreach (var r in selector.Requirements)
        {
            if (!labels.TryGetValue(r.Key, out var v) || v != r.Values[0]) return false;
        }
        return true;
    }

    private void PutIfChanged(Batch batch, ResourceKind kind, IKubernetesObject<V1ObjectMeta> desired, StoredObject? existing)
    {
        if (existing is null)
        {
            ObjectMetaRules.PrepareCreate(desired.Metadata, new WriteContext(desired.Metadata.NamespaceProperty ?? "", _clock(), _newUid));
            batch.Put(ChangeType.Added, kind, desired);
            return;
        }
        // Compare content, not bookkeeping: carry the existing identity over first.
        desired.Metadata.Uid = existing.Object.Metadata.Uid;
        desired.Metadata.CreationTimestamp = existing.Object.Metadata.CreationTimestamp;
        desired.Metadata.Generation = existing.Object.Metadata.Generation;
        desired.Metadata.ResourceVersion = existing.Object.Metadata.ResourceVersion;
        if (KubeObjects.SemanticEquals(desired, existing.Object)) return;
        desired.Metadata.Generation = (existing.Object.Metadata.Generation ?? 1) + 1;
        batch.Put(ChangeType.Modified, kind, desired);
    }

    // ------------------------------------------------------------------ LoadBalancer controller (MetalLB semantics)

    private void ReconcileLoadBalancer(Batch batch, ObjectKey key, bool announce)
    {
        var svc = batch.Get<V1Service>(ResourceKind.Service, key.Namespace, key.Name);
        if (svc?.Spec?.Type != ServiceTypes.LoadBalancer || svc.Spec.LoadBalancerClass is not null) return;
        if (svc.Status?.LoadBalancer?.Ingress is { Count: > 0 }) return;
        var ip = _pools.Assign(key.ToString(), svc.Spec.LoadBalancerIP, out var error);
        if (ip is null)
        {
            if (announce)
                batch.Put(ChangeType.Added, ResourceKind.Event, NewEvent(ResourceKind.Service, svc.Metadata, "Warning", "AllocationFailed",
                    $"Failed to allocate IP for \"{key}\": {error}", "metallb-controller"));
            return;
        }
        batch.Transaction.OnRevert(() => _pools.Release(key.ToString(), ip));
        var updated = KubeObjects.Clone(svc);
        updated.Status ??= new V1ServiceStatus();
        updated.Status.LoadBalancer = new V1LoadBalancerStatus { Ingress = [new V1LoadBalancerIngress { Ip = ip, IpMode = "VIP" }] };
        batch.Put(ChangeType.Modified, ResourceKind.Service, updated);
        batch.Put(ChangeType.Added, ResourceKind.Event, NewEvent(ResourceKind.Service, svc.Metadata, "Normal", "IPAllocated",
            $"Assigned IP [\"{ip}\"]", "metallb-controller"));
    }

    private void ReleaseLoadBalancerIPs(Batch batch, V1Service svc)
    {
        var key = ObjectKey.Of(svc.Metadata).ToString();
        foreach (var ingress in svc.Status?.LoadBalancer?.Ingress ?? [])
        {
            if (ingress.Ip is not { } ip || _pools.OwnerOf(ip) != key) continue;
            _pools.Release(key, ip);
            batch.Transaction.OnRevert(() => _pools.Assign(key, ip, out _));
        }
    }

    /// <summary>Pending LoadBalancers are tried again whenever an address may have come free (MetalLB's reprocess-all).</summary>
    private void RetryPendingLoadBalancers(Batch batch)
    {
        if (!_pools.HasPools) return;
        foreach (var svc in batch.All<V1Service>(ResourceKind.Service)
                     .Where(s => s.Spec?.Type == ServiceTypes.LoadBalancer && s.Status?.LoadBalancer?.Ingress is not { Count: > 0 })
                     .OrderBy(s => s.Metadata.CreationTimestamp).ToList())
            ReconcileLoadBalancer(batch, ObjectKey.Of(svc.Metadata), announce: false);
    }

    // ------------------------------------------------------------------ object helpers

    private Corev1Event NewEvent(ResourceKind kind, V1ObjectMeta about, string type, string reason, string message, string component)
    {
        var now = ObjectMetaRules.Truncate(_clock());
        var ev = new Corev1Event
        {
            ApiVersion = "v1",
            Kind = "Event",
            Metadata = new V1ObjectMeta
            {
                Name = $"{about.Name}.{now.Ticks:x}{++_eventCounter:x}",
                NamespaceProperty = about.NamespaceProperty ?? DefaultNamespace,
            },
            InvolvedObject = new V1ObjectReference
            {
                ApiVersion = kind.ApiVersion, Kind = kind.Kind, Name = about.Name,
                NamespaceProperty = about.NamespaceProperty, Uid = about.Uid, ResourceVersion = about.ResourceVersion,
            },
            Type = type, Reason = reason, Message = message,
            Source = new V1EventSource { Component = component },
            ReportingComponent = component,
            ReportingInstance = "",
            FirstTimestamp = now, LastTimestamp = now, Count = 1,
        };
        ObjectMetaRules.PrepareCreate(ev.Metadata, new WriteContext(ev.Metadata.NamespaceProperty, now, _newUid));
        return ev;
    }

    private V1Namespace NewNamespace(string name)
    {
        var ns = new V1Namespace
        {
            ApiVersion = "v1", Kind = "Namespace",
            Metadata = new V1ObjectMeta { Name = name, Labels = new Dictionary<string, string> { ["kubernetes.io/metadata.name"] = name } },
            Spec = new V1NamespaceSpec { Finalizers = ["kubernetes"] },
            Status = new V1NamespaceStatus { Phase = "Active" },
        };
        ObjectMetaRules.PrepareCreate(ns.Metadata, new WriteContext("", _clock(), _newUid));
        return ns;
    }

    /// <summary>A typed deep copy of a client-supplied object of any served kind.</summary>
    private static IKubernetesObject<V1ObjectMeta> CloneObject(IKubernetesObject<V1ObjectMeta> obj)
    {
        var kind = ResourceKind.ByKind(obj.ApiVersion ?? "v1", obj.Kind ?? "")
                   ?? ResourceKind.All.FirstOrDefault(k => k.Kind == obj.GetType().Name.Replace("V1", "", StringComparison.Ordinal).Replace("Corev1", "", StringComparison.Ordinal))
                   ?? throw new ApiErrorException(ApiError.BadRequest($"unknown kind {obj.Kind}"));
        return StoredObject.FromJson(kind.Resource, KubeObjects.ToJson(obj)).Object;
    }

    private static string? ServiceNameOf(StoredObject slice) => EndpointSliceIndex.ServiceNameOf(slice.Object.Metadata);

    /// <summary>A decision under construction: the changes so far, over a working copy of the store.</summary>
    private sealed class Batch(ObjectStore store)
    {
        private readonly List<StoreChange> _changes = [];
        private ObjectStore _working = store;

        public AllocationTransaction Transaction { get; set; } = new();

        public T? Get<T>(ResourceKind kind, string ns, string name) where T : class, IKubernetesObject<V1ObjectMeta> =>
            _working.Get<T>(kind, ns, name);

        public StoredObject? GetStored(ObjectRef key) => _working.Get(key);

        public StoredObject? Latest(ObjectRef key) => _working.Get(key);

        public IEnumerable<T> All<T>(ResourceKind kind) where T : class, IKubernetesObject<V1ObjectMeta> => _working.All<T>(kind);

        /// <summary>Slices this batch created for a Service (not yet in the derived index).</summary>
        public IEnumerable<StoredObject> AddedSlicesFor(ObjectKey svc) =>
            _changes.Where(c => c.Type != ChangeType.Deleted && c.Object.Kind == ResourceKind.EndpointSlice
                                && c.Object.Object.Metadata.NamespaceProperty == svc.Namespace
                                && ServiceNameOf(c.Object) == svc.Name)
                .Select(c => _working.Get(c.Object.Ref)).Where(o => o is not null).Select(o => o!);

        public StoredObject Put(ChangeType type, ResourceKind kind, IKubernetesObject<V1ObjectMeta> obj)
        {
            var stored = new StoredObject(kind, obj);
            // An object added and then changed within one decision is still an addition.
            var earlier = _changes.FindIndex(c => c.Object.Ref == stored.Ref && c.Type == ChangeType.Added);
            if (earlier >= 0) type = ChangeType.Added;
            _changes.Add(new StoreChange(type, stored));
            _working = _working.Put(stored, 0);
            return stored;
        }

        public void Delete(StoredObject obj)
        {
            _changes.Add(new StoreChange(ChangeType.Deleted, obj.DeepCopy()));
            _working = _working.Remove(obj.Ref, 0);
        }

        public Decision Done(StoredObject? reply) => new(_changes, reply, null, Transaction);
    }
}
