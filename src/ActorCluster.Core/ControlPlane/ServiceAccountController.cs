using ActorCluster.Core.Api;
using ActorCluster.Core.Objects;
using ActorCluster.Core.Registry;
using ActorCluster.Core.Store;
using k8s.Models;

namespace ActorCluster.Core.ControlPlane;

/// <summary>
/// kube-controller-manager's serviceaccounts controller: every namespace has a ServiceAccount <c>default</c>, created
/// with the namespace and again if it is deleted; and the ServiceAccount admission plugin's check that a new pod's
/// ServiceAccount exists.
/// </summary>
internal sealed class ServiceAccountController(ControllerContext context)
{
    public const string DefaultName = Defaulting.PodDefaults.DefaultServiceAccountName;

    /// <summary>The namespace's <c>default</c> ServiceAccount, unless it has one (or is being deleted).</summary>
    public void EnsureDefault(DecisionBatch batch, string ns)
    {
        if (batch.Get<V1ServiceAccount>(ResourceKind.ServiceAccount, ns, DefaultName) is not null) return;
        var account = new V1ServiceAccount
        {
            ApiVersion = ResourceKind.ServiceAccount.ApiVersion, Kind = ResourceKind.ServiceAccount.Kind,
            Metadata = new V1ObjectMeta { Name = DefaultName, NamespaceProperty = ns },
        };
        ObjectMetaRules.PrepareCreate(account.Metadata, context.Write(ns));
        batch.Put(ChangeType.Added, ResourceKind.ServiceAccount, account);
    }

    /// <summary>Every namespace's: after recovery (namespaces older than this controller) and periodically (one deleted).</summary>
    public void EnsureAll(DecisionBatch batch)
    {
        foreach (var ns in batch.All<V1Namespace>(ResourceKind.Namespace).Where(n => n.Metadata.DeletionTimestamp is null).Select(n => n.Metadata.Name).ToList())
            EnsureDefault(batch, ns);
    }

    /// <summary>The admission plugin's refusal of a pod whose ServiceAccount is not there, in its words; null if it is.</summary>
    public static ApiError? CheckPod(DecisionBatch batch, V1Pod pod)
    {
        var ns = pod.Metadata.NamespaceProperty;
        var name = pod.Spec?.ServiceAccountName ?? DefaultName;
        if (batch.Get<V1ServiceAccount>(ResourceKind.ServiceAccount, ns, name) is not null) return null;
        var subject = string.IsNullOrEmpty(pod.Metadata.Name) ? "pods" : $"pods {GoFormat.Quote(pod.Metadata.Name)}";
        return new ApiError(403, "Forbidden", $"{subject} is forbidden: error looking up service account {ns}/{name}: serviceaccount {GoFormat.Quote(name)} not found",
            new ApiErrorDetails(pod.Metadata.Name ?? "", "", "pods", []));
    }
}
