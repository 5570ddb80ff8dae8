// Over 350 lines on purpose: the one write path of the control plane, each verb (create, update, delete, status)
// in one place; the controllers it calls (scheduler, endpoints, LoadBalancer, node lifecycle) have their own files.
using ActorCluster.Core.Allocation;
using ActorCluster.Core.Api;
using ActorCluster.Core.Endpoints;
using ActorCluster.Core.Objects;
using ActorCluster.Core.Registry;
using ActorCluster.Core.Store;
using ActorCluster.Core.Validation;
using k8s;
using k8s.Models;

namespace ActorCluster.Core.ControlPlane;

/// <summary>
/// Everything the ApiServer singleton decides, as plain code: the admission of writes here, and the controllers it
/// runs in the same decision, each its own type (<see cref="SchedulerController"/>, <see cref="EndpointsController"/>,
/// <see cref="LoadBalancerController"/>, <see cref="NodeLifecycleController"/>). A command yields a
/// <see cref="Decision"/> (the changes to persist, in order, plus the reply); the actor persists the changes
/// and feeds each back through <see cref="Apply"/>, which is also how recovery replays the journal.
/// Allocators, the LB pools and the selector index are derived state: <see cref="RebuildDerived"/> recomputes
/// them from the store after recovery. Owned by one actor; not thread-safe.
/// </summary>
public sealed class ControlPlane
{
    public const string DefaultNamespace = "default";
    public const string SystemNamespace = "kube-system";
    public const string HostnameLabel = NodeLifecycleController.HostnameLabel;

    private readonly Func<DateTime> _clock;
    private readonly Func<string> _newUid;
    private readonly EndpointsController _endpoints;
    private readonly LoadBalancerController _loadBalancers;
    private readonly SchedulerController _scheduler;
    private readonly NodeLifecycleController _nodes;
    private readonly ControllerContext _context;
    private readonly ServiceAccountController _serviceAccounts;
    private readonly PodWrites _pods;
    private readonly GarbageCollector _gc;
    private readonly WorkloadControllers _workloads;
    private ServiceAllocator _services;

    public ControlPlane(ControlPlaneConfig config, Func<DateTime>? clock = null, Func<string>? newUid = null)
    {
        Config = config;
        _clock = clock ?? (() => DateTime.UtcNow);
        _newUid = newUid ?? (() => Guid.NewGuid().ToString());
        _services = new ServiceAllocator(config.ServiceNetwork);
        var context = _context = new ControllerContext(_clock, _newUid);
        _endpoints = new EndpointsController(context);
        _loadBalancers = new LoadBalancerController(context, new LoadBalancerPools(config.LoadBalancerPools));
        _scheduler = new SchedulerController(context);
        _pods = new PodWrites(context, _scheduler, _endpoints, config.DefaultTolerationSeconds);
        _nodes = new NodeLifecycleController(context, config.PodNetworkPrefix, _scheduler, _endpoints, _pods);
        _gc = new GarbageCollector(_pods);
        _serviceAccounts = new ServiceAccountController(context);
        _workloads = new WorkloadControllers(context, new DeploymentController(context, _gc), new ReplicaSetController(context, _pods), new JobController(context, _pods, _gc));
        context.FollowUps = _workloads.Reconcile;
    }

    public ControlPlaneConfig Config { get; }

    public ObjectStore Store { get; private set; } = ObjectStore.Empty;

    public ServiceAllocator ServiceAllocator => _services;

    public LoadBalancerPools LoadBalancerPools => _loadBalancers.Pools;

    // ------------------------------------------------------------------ applying persisted changes

    /// <summary>Applies one persisted change (live or during recovery) to the store and the indexes.</summary>
    public void Apply(StoreChange change, long rv)
    {
        var obj = change.Object;
        Store = change.Type == ChangeType.Deleted ? Store.Remove(obj.Ref, rv) : Store.Put(obj, rv);
        _endpoints.Observe(change);
    }

    /// <summary>Recomputes allocators and LB ownership from the stored objects; returns repair findings.</summary>
    public IReadOnlyList<string> RebuildDerived()
    {
        var problems = new List<string>();
        var services = Store.All<V1Service>(ResourceKind.Service).ToList();
        _services = ServiceAllocator.Rebuild(Config.ServiceNetwork, services, problems);
        _loadBalancers.Rebuild(Config.LoadBalancerPools, services);
        return problems;
    }

    // ------------------------------------------------------------------ commands

    /// <summary>The namespaces every cluster has.</summary>
    public Decision Bootstrap()
    {
        var batch = _context.NewBatch(Store);
        foreach (var ns in new[] { DefaultNamespace, SystemNamespace, "kube-public", NodeLifecycleController.NodeLeaseNamespace })
        {
            if (batch.Get<V1Namespace>(ResourceKind.Namespace, "", ns) is not null) continue;
            batch.Put(ChangeType.Added, ResourceKind.Namespace, NewNamespace(ns));
        }
        _serviceAccounts.EnsureAll(batch);
        return batch.Done(null);
    }

    /// <summary>
    /// The endpoints controller's full resync: every Service's Endpoints and slices recomputed, orphans
    /// removed. Run after recovery; writes only what differs, so normally nothing.
    /// </summary>
    public Decision ResyncEndpoints()
    {
        var batch = _context.NewBatch(Store);
        var keys = Store.All<V1Service>(ResourceKind.Service).Select(s => ObjectKey.Of(s.Metadata))
            .Concat(Store.All(ResourceKind.Endpoints).Select(e => ObjectKey.Of(e.Object.Metadata)))
            .Concat(_endpoints.ServicesWithSlices)
            .Distinct()
            .OrderBy(k => k.ToString(), StringComparer.Ordinal)
            .ToList();
        foreach (var key in keys) _endpoints.Reconcile(batch, key);
        return batch.Done(null);
    }

    /// <summary>
    /// What time alone changes, run after recovery and periodically: pods on nodes lost for longer than they
    /// tolerate are evicted (their ReplicaSets replace them elsewhere), and every Deployment and ReplicaSet is synced
    /// (minReadySeconds, progress deadlines).
    /// </summary>
    public Decision Resync()
    {
        var batch = _context.NewBatch(Store);
        _nodes.EvictFromLostNodes(batch);
        _workloads.ResyncAll(batch);
        _serviceAccounts.EnsureAll(batch);
        return batch.Done(null);
    }

    /// <summary>
    /// MetalLB's reprocess-all: every LoadBalancer still pending tries the pools again. Run at start (the pools
    /// may have changed since the objects were written).
    /// </summary>
    public Decision ReconcileLoadBalancers()
    {
        var batch = _context.NewBatch(Store);
        _loadBalancers.RetryPending(batch);
        return batch.Done(null);
    }

    public Decision Create(ResourceKind kind, string? ns, IKubernetesObject<V1ObjectMeta> input)
    {
        ns = kind.Namespaced ? ns ?? DefaultNamespace : null;
        if (ns is not null && kind != ResourceKind.Namespace && Store.Get<V1Namespace>(ResourceKind.Namespace, "", ns) is null)
            return Decision.Fail(ApiError.NotFound(ResourceKind.Namespace, ns));
        var batch = _context.NewBatch(Store);
        var ctx = new WriteContext(ns ?? "", _clock(), _newUid);
        if (string.IsNullOrEmpty(input.Metadata?.Name) && !string.IsNullOrEmpty(input.Metadata?.GenerateName))
        {
            input = CloneObject(input);
            var generated = input.Metadata;
            generated.Name = ObjectMetaRules.FreeGeneratedName(generated.GenerateName,
                name => Store.Get(new ObjectRef(kind.Resource, kind.Namespaced ? ns ?? "" : "", name)) is not null, _newUid);
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
                var error = _pods.Create(batch, pod, ns!, out var stored);
                return error is not null ? Decision.Fail(error) : batch.Done(stored);
            }
            case V1Deployment deployment:
            {
                var admission = WorkloadAdmission.Create(deployment, Store.Get(ObjectRef.Of(kind, deployment.Metadata ?? new V1ObjectMeta()) with { Namespace = ns! }) is not null, ctx);
                return admission.Ok ? batch.Done(batch.Put(ChangeType.Added, kind, admission.Object!)) : Decision.Fail(admission.Error!);
            }
            case V1ReplicaSet replicaSet:
            {
                var admission = WorkloadAdmission.Create(replicaSet, Store.Get(ObjectRef.Of(kind, replicaSet.Metadata ?? new V1ObjectMeta()) with { Namespace = ns! }) is not null, ctx);
                return admission.Ok ? batch.Done(batch.Put(ChangeType.Added, kind, admission.Object!)) : Decision.Fail(admission.Error!);
            }
            default:
                return CreateGeneric(batch, kind, ns, input, ctx);
        }
    }

    private Decision CreateGeneric(DecisionBatch batch, ResourceKind kind, string? ns, IKubernetesObject<V1ObjectMeta> input, WriteContext ctx)
    {
        var obj = CloneObject(input);
        obj.Metadata ??= new V1ObjectMeta();
        if (ObjectMetaRules.ApplyNamespace(obj.Metadata, ns) is { } nsError) return Decision.Fail(nsError);
        ObjectMetaRules.PrepareCreate(obj.Metadata, ctx);
        NameRule rule = kind == ResourceKind.Namespace ? MetadataValidation.DnsLabelName : MetadataValidation.DnsSubdomainName;
        Prepare(obj);
        if (obj is V1Job job) JobValidation.Prepare(job); // its selector names its uid: set on create only
        var errs = MetadataValidation.ValidateObjectMeta(obj.Metadata, kind.Namespaced, rule);
        errs.AddRange(ValidateSpec(obj));
        if (errs.Count > 0) return Decision.Fail(ApiError.Invalid(kind, obj.Metadata.Name ?? "", errs));
        if (Store.Get(ObjectRef.Of(kind, obj.Metadata)) is not null) return Decision.Fail(ApiError.AlreadyExists(kind, obj.Metadata.Name));
        if (obj is V1Namespace nsObj)
        {
            nsObj.Spec ??= new V1NamespaceSpec { Finalizers = ["kubernetes"] };
            nsObj.Status = new V1NamespaceStatus { Phase = "Active" };
            nsObj.Metadata.Labels ??= new Dictionary<string, string>();
            nsObj.Metadata.Labels["kubernetes.io/metadata.name"] = nsObj.Metadata.Name;
            var created = batch.Put(ChangeType.Added, kind, obj);
            _serviceAccounts.EnsureDefault(batch, nsObj.Metadata.Name);
            return batch.Done(created);
        }
        return batch.Done(batch.Put(ChangeType.Added, kind, obj));
    }

    /// <summary>A kind's own defaults, before it is validated (a Secret's type, its stringData folded into data).</summary>
    private static void Prepare(IKubernetesObject<V1ObjectMeta> obj)
    {
        if (obj is V1Secret secret) ConfigValidation.Prepare(secret);
    }

    /// <summary>The spec rules of a kind without an admission of its own.</summary>
    private static IEnumerable<FieldError> ValidateSpec(IKubernetesObject<V1ObjectMeta> obj) => obj switch
    {
        V1Lease lease => LeaseValidation.ValidateSpec(lease.Spec),
        V1ConfigMap cm => ConfigValidation.ValidateConfigMap(cm),
        V1Secret secret => ConfigValidation.ValidateSecret(secret),
        V1Job job => JobValidation.Validate(job),
        _ => [],
    };

    /// <summary>The same on an update, with the rules that compare with the stored object.</summary>
    private static IEnumerable<FieldError> ValidateSpecUpdate(IKubernetesObject<V1ObjectMeta> obj, IKubernetesObject<V1ObjectMeta> old) => (obj, old) switch
    {
        (V1ConfigMap cm, V1ConfigMap before) => ConfigValidation.ValidateConfigMapUpdate(cm, before),
        (V1Secret secret, V1Secret before) => ConfigValidation.ValidateSecretUpdate(secret, before),
        _ => ValidateSpec(obj),
    };

    public Decision Update(ResourceKind kind, string? ns, string name, IKubernetesObject<V1ObjectMeta> input, bool status = false)
    {
        ns = kind.Namespaced ? ns ?? DefaultNamespace : "";
        var existing = Store.Get(new ObjectRef(kind.Resource, ns, name));
        if (existing is null) return Decision.Fail(ApiError.NotFound(kind, name));
        if (input.Metadata?.Name is { Length: > 0 } bodyName && bodyName != name)
            return Decision.Fail(ApiError.BadRequest($"the name of the object ({bodyName}) does not match the name on the URL ({name})"));
        var batch = _context.NewBatch(Store);
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
                    _loadBalancers.Release(batch, old);
                var stored = batch.Put(ChangeType.Modified, kind, admission.Object!);
                ReconcileService(batch, ObjectKey.Of(old.Metadata), announce: !status);
                _loadBalancers.RetryPending(batch);
                return batch.Done(batch.Latest(stored.Ref) ?? stored);
            }
            case V1Pod pod:
            {
                var old = existing.As<V1Pod>();
                var admission = status ? PodAdmission.UpdateStatus(pod, old) : PodAdmission.Update(pod, old);
                if (!admission.Ok) return Decision.Fail(admission.Error!);
                var stored = batch.Put(ChangeType.Modified, kind, admission.Object!);
                _endpoints.ReconcilePod(batch, old, admission.Object!);
                return batch.Done(stored);
            }
            case V1Deployment deployment:
            {
                var old = existing.As<V1Deployment>();
                var admission = status ? WorkloadAdmission.UpdateStatus(deployment, old) : WorkloadAdmission.Update(deployment, old);
                return admission.Ok ? batch.Done(batch.Put(ChangeType.Modified, kind, admission.Object!)) : Decision.Fail(admission.Error!);
            }
            case V1ReplicaSet replicaSet:
            {
                var old = existing.As<V1ReplicaSet>();
                var admission = status ? WorkloadAdmission.UpdateStatus(replicaSet, old) : WorkloadAdmission.Update(replicaSet, old);
                return admission.Ok ? batch.Done(batch.Put(ChangeType.Modified, kind, admission.Object!)) : Decision.Fail(admission.Error!);
            }
            default:
            {
                var obj = CloneObject(input);
                obj.Metadata ??= new V1ObjectMeta();
                obj.Metadata.Name = name;
                if (ObjectMetaRules.ApplyNamespace(obj.Metadata, kind.Namespaced ? ns : null) is { } nsError) return Decision.Fail(nsError);
                if (ObjectMetaRules.PrepareUpdate(kind, obj.Metadata, existing.Object.Metadata, specChanged: true) is { } metaError)
                    return Decision.Fail(metaError);
                Prepare(obj);
                // A Job's status belongs to its controller and the status subresource, its spec to the main resource.
                if (obj is V1Job job && existing.Object is V1Job before)
                {
                    if (status) job.Spec = KubeObjects.Clone(before.Spec);
                    else job.Status = KubeObjects.Clone(before.Status);
                }
                var errs = MetadataValidation.ValidateObjectMetaUpdate(obj.Metadata, existing.Object.Metadata);
                errs.AddRange(ValidateSpecUpdate(obj, existing.Object));
                if (errs.Count > 0) return Decision.Fail(ApiError.Invalid(kind, name, errs));
                return batch.Done(batch.Put(ChangeType.Modified, kind, obj));
            }
        }
    }

    /// <summary>
    /// Deletes an object. A pod running on a Ready node is only marked (deletionTimestamp, grace period) and
    /// leaves the endpoints as terminating; its node stops it and confirms with <see cref="PodTerminated"/>.
    /// </summary>
    public Decision Delete(ResourceKind kind, string? ns, string name, long? gracePeriodSeconds = null, DeletePropagation propagation = DeletePropagation.Background)
    {
        ns = kind.Namespaced ? ns ?? DefaultNamespace : "";
        var existing = Store.Get(new ObjectRef(kind.Resource, ns, name));
        if (existing is null) return Decision.Fail(ApiError.NotFound(kind, name));
        var batch = _context.NewBatch(Store);
        switch (existing.Object)
        {
            case V1Pod:
                return batch.Done(_pods.Delete(batch, existing, gracePeriodSeconds));
            case V1Deployment or V1ReplicaSet or V1Job:
                _gc.Delete(batch, existing, propagation);
                return batch.Done(existing);
            case V1Service svc:
            {
                batch.Transaction = ServiceAdmission.Delete(svc, _services);
                batch.Delete(existing);
                _loadBalancers.Release(batch, svc);
                ReconcileService(batch, ObjectKey.Of(svc.Metadata), announce: false);
                _loadBalancers.RetryPending(batch);
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
                        _loadBalancers.Release(batch, obj.As<V1Service>());
                    }
                    batch.Delete(obj);
                }
                batch.Delete(existing);
                _loadBalancers.RetryPending(batch);
                return batch.Done(existing);
            }
            case V1Node node:
            {
                batch.Delete(existing);
                foreach (var pod in NodeLifecycleController.PodsOn(Store, node.Metadata.Name).ToList())
                {
                    batch.Delete(Store.Get(ObjectRef.Of(ResourceKind.Pod, pod.Metadata))!);
                    _endpoints.ReconcilePod(batch, pod, null);
                }
                // Its Lease is owned by it: the garbage collector's work, done here at once.
                if (Store.Get(new ObjectRef(ResourceKind.Lease.Resource, NodeLifecycleController.NodeLeaseNamespace, node.Metadata.Name)) is { } lease
                    && lease.Object.Metadata.OwnerReferences?.Any(o => o.Kind == "Node" && o.Uid == node.Metadata.Uid) == true)
                    batch.Delete(lease);
                return batch.Done(existing);
            }
            default:
                batch.Delete(existing);
                return batch.Done(existing);
        }
    }

    /// <summary>
    /// kube-apiserver's --event-ttl: an Event goes once it was last recorded before <paramref name="cutoff"/>
    /// (etcd does it with a lease per Event; here one sweep deletes them together).
    /// </summary>
    public Decision ExpireEvents(DateTime cutoff)
    {
        var batch = _context.NewBatch(Store);
        foreach (var stored in Store.All(ResourceKind.Event).ToList())
        {
            var ev = stored.As<Corev1Event>();
            var last = new[] { ev.LastTimestamp, ev.EventTime, ev.FirstTimestamp, ev.Metadata.CreationTimestamp }.Max() ?? DateTime.MinValue;
            if (last < cutoff) batch.Delete(stored);
        }
        return batch.Done(null);
    }

    /// <summary>A node's agent confirms a pod it was asked to stop has stopped: the object goes.</summary>
    public Decision PodTerminated(string ns, string name, string uid)
    {
        var existing = Store.Get(new ObjectRef(ResourceKind.Pod.Resource, ns, name));
        if (existing is null || existing.Object.Metadata.Uid != uid) return _context.NewBatch(Store).Done(null);
        var batch = _context.NewBatch(Store);
        batch.Delete(existing);
        _endpoints.ReconcilePod(batch, existing.As<V1Pod>(), null);
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
        if (KubeObjects.SemanticEquals(merged, old.Status)) return _context.NewBatch(Store).Done(existing);
        var updated = KubeObjects.Clone(old);
        updated.Status = merged;
        var batch = _context.NewBatch(Store);
        var stored = batch.Put(ChangeType.Modified, ResourceKind.Pod, updated);
        _endpoints.ReconcilePod(batch, old, updated);
        return batch.Done(stored);
    }

    /// <summary>
    /// A node joins (or rejoins): its Node object with hostname label, InternalIP and a pod range that it keeps
    /// across restarts; Ready; then pending pods are scheduled.
    /// </summary>
    public const string AkkaAddressAnnotation = "actorcluster.io/akka-address";

    public Decision RegisterNode(string name, string address, string kernel = "", string osImage = "", string akkaAddress = "", NodeCapacity? capacity = null) =>
        _nodes.Register(Store, name, address, kernel, osImage, akkaAddress, capacity ?? NodeCapacity.PodsOnly);

    /// <summary>A node's heartbeat: its Lease in kube-node-lease renewed (created on the first), as kubelet's.</summary>
    public Decision RenewNodeLease(string name) => _nodes.RenewLease(Store, name);

    /// <summary>
    /// Membership decides readiness: Unreachable -> Unknown, gone -> False. A node that stops being Ready has
    /// its pods marked not ready (the node lifecycle controller's MarkPodsNotReady), so endpoints follow.
    /// </summary>
    public Decision SetNodeReady(string name, string status, string reason, string message) =>
        _nodes.SetReady(Store, name, status, reason, message);

    /// <summary>A Service changed: its endpoints, then its LoadBalancer address.</summary>
    private void ReconcileService(DecisionBatch batch, ObjectKey key, bool announce)
    {
        _endpoints.Reconcile(batch, key);
        _loadBalancers.Reconcile(batch, key, announce);
    }

    // ------------------------------------------------------------------ object helpers

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
}
