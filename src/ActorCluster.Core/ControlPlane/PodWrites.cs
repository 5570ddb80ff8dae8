using ActorCluster.Core.Api;
using ActorCluster.Core.Objects;
using ActorCluster.Core.Registry;
using ActorCluster.Core.Store;
using ActorCluster.Core.Workloads;
using k8s.Models;

namespace ActorCluster.Core.ControlPlane;

/// <summary>
/// How a pod comes and goes, whoever asks (a client, the ReplicaSet controller, the garbage collector): a new pod is
/// admitted, scheduled and added to its Services' endpoints; a pod on a Ready node is only marked for deletion
/// (its node stops it and confirms), anywhere else it goes at once.
/// </summary>
internal sealed class PodWrites(ControllerContext context, SchedulerController scheduler, EndpointsController endpoints, long tolerationSeconds)
{
    private const long DefaultGracePeriodSeconds = 30;

    /// <summary>Admits and stores a new pod; the error (nothing written) if admission refuses it.</summary>
    public ApiError? Create(DecisionBatch batch, V1Pod input, string ns, out StoredObject? stored)
    {
        stored = null;
        var existing = batch.Get<V1Pod>(ResourceKind.Pod, ns, input.Metadata?.Name ?? "");
        var admission = PodAdmission.Create(input, existing, context.Write(ns), tolerationSeconds);
        if (!admission.Ok) return admission.Error;
        var created = admission.Object!;
        if (ServiceAccountController.CheckPod(batch, created) is { } noAccount) return noAccount;
        scheduler.Schedule(batch, created);
        stored = batch.Put(ChangeType.Added, ResourceKind.Pod, created);
        endpoints.ReconcilePod(batch, null, created);
        return null;
    }

    /// <summary>
    /// A controller's new pod from its template (labels, annotations, a controller reference to the owner, a name
    /// generated from the owner's), with the controller's Event: SuccessfulCreate, or FailedCreate and null.
    /// </summary>
    public V1Pod? CreateFromTemplate(DecisionBatch batch, V1PodTemplateSpec? template, ResourceKind ownerKind, V1ObjectMeta owner, string component)
    {
        template ??= new V1PodTemplateSpec();
        var pod = new V1Pod
        {
            ApiVersion = "v1", Kind = "Pod",
            Metadata = new V1ObjectMeta
            {
                Labels = template.Metadata?.Labels is { } labels ? new Dictionary<string, string>(labels) : null,
                Annotations = template.Metadata?.Annotations is { } annotations ? new Dictionary<string, string>(annotations) : null,
                OwnerReferences = [ControllerRefs.For(ownerKind.ApiVersion, ownerKind.Kind, owner)],
                GenerateName = owner.Name + "-",
            },
            Spec = KubeObjects.Clone(template.Spec ?? new V1PodSpec()),
        };
        pod.Metadata.Name = ObjectMetaRules.FreeGeneratedName(pod.Metadata.GenerateName,
            name => batch.Get<V1Pod>(ResourceKind.Pod, owner.NamespaceProperty, name) is not null, context.NewUid);
        var error = Create(batch, pod, owner.NamespaceProperty, out var stored);
        if (error is not null)
        {
            batch.Put(ChangeType.Added, ResourceKind.Event, context.NewEvent(ownerKind, owner, "Warning", "FailedCreate", $"Error creating: {error.Message}", component));
            return null;
        }
        batch.Put(ChangeType.Added, ResourceKind.Event, context.NewEvent(ownerKind, owner, "Normal", "SuccessfulCreate", $"Created pod: {pod.Metadata.Name}", component));
        return stored!.As<V1Pod>();
    }

    /// <summary>Deletes a pod gracefully; returns what the caller answers with (the marked pod, or the removed one).</summary>
    public StoredObject Delete(DecisionBatch batch, StoredObject existing, long? gracePeriodSeconds)
    {
        var pod = existing.As<V1Pod>();
        var node = pod.Spec?.NodeName is { } nodeName ? batch.Get<V1Node>(ResourceKind.Node, "", nodeName) : null;
        var grace = gracePeriodSeconds ?? pod.Spec?.TerminationGracePeriodSeconds ?? DefaultGracePeriodSeconds;
        if (node is null || !Scheduler.IsReady(node) || grace == 0 || IsFinished(pod))
        {
            batch.Delete(existing);
            endpoints.ReconcilePod(batch, pod, null);
            return existing;
        }
        if (pod.Metadata.DeletionTimestamp is not null) return existing;
        var marked = KubeObjects.Clone(pod);
        marked.Metadata.DeletionTimestamp = context.Now().AddSeconds(grace);
        marked.Metadata.DeletionGracePeriodSeconds = grace;
        var stored = batch.Put(ChangeType.Modified, ResourceKind.Pod, marked);
        endpoints.ReconcilePod(batch, pod, marked);
        return stored;
    }

    public static bool IsFinished(V1Pod pod) => pod.Status?.Phase is "Succeeded" or "Failed";
}
