// Over 300 lines on purpose: kube-controller-manager's deployment controller (sync.go, rolling.go, recreate.go,
// progress.go) in one place, so each step can be read next to the one it follows.
using System.Globalization;
using ActorCluster.Core.Defaulting;
using ActorCluster.Core.Endpoints;
using ActorCluster.Core.Objects;
using ActorCluster.Core.Registry;
using ActorCluster.Core.Selectors;
using ActorCluster.Core.Workloads;
using k8s.Models;

namespace ActorCluster.Core.ControlPlane;

/// <summary>
/// The deployment controller: a Deployment owns one ReplicaSet per template (named by the template's hash); the one
/// matching the current template is the new one, the rest are old. A sync scales them one step towards the goal
/// (<see cref="RolloutPlanner"/>: rolling within maxSurge/maxUnavailable, or Recreate: old ones to zero, then the new
/// one up), numbers revisions, keeps revisionHistoryLimit old ones, and writes the status and the Available and
/// Progressing conditions with Kubernetes' reasons. The ReplicaSet controller and the pods' readiness move it on.
/// </summary>
internal sealed class DeploymentController(ControllerContext context, GarbageCollector gc)
{
    private const string Component = "deployment-controller";
    public const string RevisionAnnotation = "deployment.kubernetes.io/revision";
    public const string RevisionHistoryAnnotation = "deployment.kubernetes.io/revision-history";
    public const string DesiredReplicasAnnotation = "deployment.kubernetes.io/desired-replicas";
    public const string MaxReplicasAnnotation = "deployment.kubernetes.io/max-replicas";

    /// <summary>Annotations of a Deployment that are not copied to its ReplicaSets (annotationsToSkip).</summary>
    private static readonly HashSet<string> NotCopied =
    [
        "kubectl.kubernetes.io/last-applied-configuration", RevisionAnnotation, RevisionHistoryAnnotation,
        DesiredReplicasAnnotation, MaxReplicasAnnotation, "deprecated.deployment.rollback.to",
    ];

    public void Sync(DecisionBatch batch, ObjectKey key)
    {
        var d = batch.Get<V1Deployment>(ResourceKind.Deployment, key.Namespace, key.Name);
        if (d is null || d.Metadata.DeletionTimestamp is not null) return;
        if (LabelSelector.TryFromApi(d.Spec.Selector) is not { } selector) return;
        d = KubeObjects.Clone(d);
        var rss = OwnedReplicaSets(batch, d, selector);

        if (d.Spec.Paused == true || IsScalingEvent(d, rss))
        {
            var (newRs, olds) = NewAndOld(batch, d, rss, create: false);
            Scale(batch, d, newRs, olds);
            WriteStatus(batch, d, newRs, OwnedReplicaSets(batch, d, selector));
            return;
        }
        if (d.Spec.Strategy?.Type == WorkloadDefaults.Recreate) Recreate(batch, d, rss, selector);
        else Rolling(batch, d, rss, selector);
    }

    private void Rolling(DecisionBatch batch, V1Deployment d, List<V1ReplicaSet> rss, LabelSelector selector)
    {
        var (newRs, olds) = NewAndOld(batch, d, rss, create: true);
        if (newRs is null)
        {
            // It could not be created (an Event says why): the status still tells, and the next sync tries again.
            WriteStatus(batch, d, null, OwnedReplicaSets(batch, d, selector));
            return;
        }
        var replicas = d.Spec.Replicas ?? 1;
        var (surge, unavailable) = Fenceposts(d);
        var next = RolloutPlanner.RollingStep(replicas, surge, unavailable, Count(newRs), olds.Select(Count).ToList());
        var moved = false;
        foreach (var rs in olds.Append(newRs).Where(r => r == newRs || next[r.Metadata.Name] != (r.Spec.Replicas ?? 0)))
            moved |= ScaleReplicaSet(batch, d, rs, next[rs.Metadata.Name]);
        var now = OwnedReplicaSets(batch, d, selector);
        var current = now.FirstOrDefault(r => r.Metadata.Name == newRs.Metadata.Name);
        if (!moved && IsComplete(d, Status(d, current, now))) CleanUp(batch, d, now.Where(r => r.Metadata.Name != newRs.Metadata.Name).ToList());
        WriteStatus(batch, d, current, OwnedReplicaSets(batch, d, selector));
    }

    private void Recreate(DecisionBatch batch, V1Deployment d, List<V1ReplicaSet> rss, LabelSelector selector)
    {
        var (newRs, olds) = NewAndOld(batch, d, rss, create: false);
        var scaledDown = false;
        foreach (var old in olds.Where(r => (r.Spec.Replicas ?? 0) > 0))
            scaledDown |= ScaleReplicaSet(batch, d, old, 0);
        // Old pods must be gone (not only asked to stop) before the new ones start.
        var oldPodsRunning = olds.Any(old => batch.All<V1Pod>(ResourceKind.Pod).Any(p =>
            p.Metadata.NamespaceProperty == d.Metadata.NamespaceProperty && ControllerRefs.IsControlledBy(p.Metadata, old.Metadata) && !PodWrites.IsFinished(p)));
        if (!scaledDown && !oldPodsRunning)
        {
            newRs ??= NewAndOld(batch, d, OwnedReplicaSets(batch, d, selector), create: true).New;
            if (newRs is not null)
            {
                var moved = ScaleReplicaSet(batch, d, newRs, d.Spec.Replicas ?? 1);
                var now = OwnedReplicaSets(batch, d, selector);
                var current = now.FirstOrDefault(r => r.Metadata.Name == newRs.Metadata.Name);
                if (!moved && IsComplete(d, Status(d, current, now))) CleanUp(batch, d, now.Where(r => r.Metadata.Name != newRs.Metadata.Name).ToList());
            }
        }
        var all = OwnedReplicaSets(batch, d, selector);
        WriteStatus(batch, d, newRs is null ? null : all.FirstOrDefault(r => r.Metadata.Name == newRs.Metadata.Name), all);
    }

    /// <summary>deployment's scale(): spec.replicas changed (or the Deployment is paused): resize without rolling.</summary>
    private void Scale(DecisionBatch batch, V1Deployment d, V1ReplicaSet? newRs, List<V1ReplicaSet> olds)
    {
        var replicas = d.Spec.Replicas ?? 1;
        var all = olds.Concat(newRs is null ? [] : [newRs]).ToList();
        var active = all.Where(r => (r.Spec.Replicas ?? 0) > 0).ToList();
        // One ReplicaSet (or none) active: it takes the whole size.
        var only = active.Count switch
        {
            0 => newRs ?? all.OrderByDescending(r => r.Metadata.CreationTimestamp).FirstOrDefault(),
            1 => active[0],
            _ => null,
        };
        if (only is not null)
        {
            ScaleReplicaSet(batch, d, only, replicas);
            return;
        }
        // The new one is saturated: the old ones go.
        if (newRs is not null && newRs.Spec.Replicas == replicas && (newRs.Status?.AvailableReplicas ?? 0) == replicas)
        {
            foreach (var old in olds) ScaleReplicaSet(batch, d, old, 0);
            return;
        }
        var allowed = d.Spec.Strategy?.Type == WorkloadDefaults.Recreate ? replicas : replicas + Fenceposts(d).Surge;
        var next = RolloutPlanner.Proportional(allowed, active.Select(Count).ToList());
        foreach (var rs in active) ScaleReplicaSet(batch, d, rs, next[rs.Metadata.Name]);
    }

    /// <summary>isScalingEvent: an active ReplicaSet was sized for another spec.replicas than the Deployment's.</summary>
    private static bool IsScalingEvent(V1Deployment d, List<V1ReplicaSet> rss) =>
        rss.Where(r => (r.Spec.Replicas ?? 0) > 0).Any(r =>
            r.Metadata.Annotations?.TryGetValue(DesiredReplicasAnnotation, out var desired) == true
            && desired != (d.Spec.Replicas ?? 1).ToString(CultureInfo.InvariantCulture));

    /// <summary>The ReplicaSets this Deployment controls, adopting orphans its selector matches (ClaimReplicaSets).</summary>
    private static List<V1ReplicaSet> OwnedReplicaSets(DecisionBatch batch, V1Deployment d, LabelSelector selector)
    {
        var owned = new List<V1ReplicaSet>();
        foreach (var rs in batch.All<V1ReplicaSet>(ResourceKind.ReplicaSet).Where(r => r.Metadata.NamespaceProperty == d.Metadata.NamespaceProperty))
        {
            if (ControllerRefs.IsControlledBy(rs.Metadata, d.Metadata)) owned.Add(rs);
            else if (ControllerRefs.ControllerOf(rs.Metadata) is null && rs.Metadata.DeletionTimestamp is null && selector.MatchesLabels(rs.Metadata.Labels))
            {
                var adopted = KubeObjects.Clone(rs);
                adopted.Metadata.OwnerReferences = [.. adopted.Metadata.OwnerReferences ?? [], ControllerRefs.For("apps/v1", "Deployment", d.Metadata)];
                batch.Put(ChangeType.Modified, ResourceKind.ReplicaSet, adopted);
                owned.Add(adopted);
            }
        }
        return owned;
    }

    /// <summary>
    /// getAllReplicaSetsAndSyncRevision: the new ReplicaSet (its template equals the Deployment's, ignoring the hash
    /// label) gets the next revision and the Deployment's annotations; it is created if asked and missing.
    /// </summary>
    private (V1ReplicaSet? New, List<V1ReplicaSet> Old) NewAndOld(DecisionBatch batch, V1Deployment d, List<V1ReplicaSet> rss, bool create)
    {
        var template = d.Spec.Template ?? new V1PodTemplateSpec();
        var newRs = rss.Where(r => r.Spec.Template is not null && PodTemplateHash.EqualIgnoringHash(r.Spec.Template, template))
            .OrderBy(r => r.Metadata.CreationTimestamp).ThenBy(r => r.Metadata.Name, StringComparer.Ordinal).FirstOrDefault();
        var olds = rss.Where(r => r != newRs).ToList();
        var maxOld = olds.Select(Revision).DefaultIfEmpty(0).Max();
        var revision = maxOld + 1;
        if (newRs is not null)
        {
            var updated = KubeObjects.Clone(newRs);
            var changed = SetReplicaSetAnnotations(d, updated, revision);
            if ((updated.Spec.MinReadySeconds ?? 0) != (d.Spec.MinReadySeconds ?? 0))
            {
                updated.Spec.MinReadySeconds = d.Spec.MinReadySeconds;
                updated.Metadata.Generation = (updated.Metadata.Generation ?? 1) + 1;
                changed = true;
            }
            if (changed)
            {
                batch.Put(ChangeType.Modified, ResourceKind.ReplicaSet, updated);
                newRs = updated;
            }
            SetDeploymentRevision(d, Revision(newRs));
            return (newRs, olds);
        }
        if (!create) return (null, olds);

        var replicas = d.Spec.Replicas ?? 1;
        var (surge, unavailable) = Fenceposts(d);
        for (var attempt = 0; attempt < 5; attempt++)
        {
            var hash = PodTemplateHash.Compute(template, d.Status?.CollisionCount);
            var name = $"{d.Metadata.Name}-{hash}";
            var clash = batch.Get<V1ReplicaSet>(ResourceKind.ReplicaSet, d.Metadata.NamespaceProperty, name);
            if (clash is not null)
            {
                // Ours with this very template is the new one already; anything else is a hash collision.
                if (ControllerRefs.IsControlledBy(clash.Metadata, d.Metadata) && PodTemplateHash.EqualIgnoringHash(clash.Spec.Template, template)) return (clash, olds);
                d.Status ??= new V1DeploymentStatus();
                d.Status.CollisionCount = (d.Status.CollisionCount ?? 0) + 1;
                continue;
            }
            var rsTemplate = KubeObjects.Clone(template);
            rsTemplate.Metadata ??= new V1ObjectMeta();
            rsTemplate.Metadata.Labels = new Dictionary<string, string>(rsTemplate.Metadata.Labels ?? new Dictionary<string, string>()) { [PodTemplateHash.Label] = hash };
            var selector = KubeObjects.Clone(d.Spec.Selector);
            selector.MatchLabels = new Dictionary<string, string>(selector.MatchLabels ?? new Dictionary<string, string>()) { [PodTemplateHash.Label] = hash };
            var initial = d.Spec.Strategy?.Type == WorkloadDefaults.Recreate
                ? replicas
                : RolloutPlanner.RollingStep(replicas, surge, unavailable, new ReplicaSetCount(name, 0, 0, DateTime.MaxValue), olds.Select(Count).ToList())[name];
            var rs = new V1ReplicaSet
            {
                ApiVersion = "apps/v1", Kind = "ReplicaSet",
                Metadata = new V1ObjectMeta
                {
                    Name = name, NamespaceProperty = d.Metadata.NamespaceProperty,
                    Labels = new Dictionary<string, string>(rsTemplate.Metadata.Labels),
                    OwnerReferences = [ControllerRefs.For("apps/v1", "Deployment", d.Metadata)],
                },
                Spec = new V1ReplicaSetSpec { Replicas = initial, MinReadySeconds = d.Spec.MinReadySeconds, Selector = selector, Template = rsTemplate },
            };
            SetReplicaSetAnnotations(d, rs, revision);
            SetReplicasAnnotations(rs, replicas, replicas + surge);
            var admission = WorkloadAdmission.Create(rs, exists: false, context.Write(d.Metadata.NamespaceProperty));
            if (!admission.Ok)
            {
                batch.Put(ChangeType.Added, ResourceKind.Event, context.NewEvent(ResourceKind.Deployment, d.Metadata, "Warning", "FailedCreate", admission.Error!.Message, Component));
                return (null, olds);
            }
            var created = batch.Put(ChangeType.Added, ResourceKind.ReplicaSet, admission.Object!).As<V1ReplicaSet>();
            if (initial > 0) ScalingEvent(batch, d, name, 0, initial);
            SetProgressing(d, "True", "NewReplicaSetCreated", $"Created new replica set \"{name}\"", keepTransition: false);
            SetDeploymentRevision(d, revision);
            return (created, olds);
        }
        return (null, olds);
    }

    /// <summary>SetNewReplicaSetAnnotations: the Deployment's own annotations and the revision (old ones kept in the history).</summary>
    private static bool SetReplicaSetAnnotations(V1Deployment d, V1ReplicaSet rs, long revision)
    {
        var annotations = rs.Metadata.Annotations ??= new Dictionary<string, string>();
        var before = new Dictionary<string, string>(annotations);
        foreach (var (k, v) in d.Metadata.Annotations ?? new Dictionary<string, string>())
        {
            if (!NotCopied.Contains(k)) annotations[k] = v;
        }
        var old = Revision(rs);
        if (old < revision)
        {
            annotations[RevisionAnnotation] = revision.ToString(CultureInfo.InvariantCulture);
            if (old > 0)
                annotations[RevisionHistoryAnnotation] = annotations.TryGetValue(RevisionHistoryAnnotation, out var history) && history.Length > 0
                    ? $"{history},{old}"
                    : old.ToString(CultureInfo.InvariantCulture);
        }
        return !KubeObjects.SemanticEquals(before, annotations);
    }

    private static bool SetReplicasAnnotations(V1ReplicaSet rs, int desired, int max)
    {
        var annotations = rs.Metadata.Annotations ??= new Dictionary<string, string>();
        var d = desired.ToString(CultureInfo.InvariantCulture);
        var m = max.ToString(CultureInfo.InvariantCulture);
        if (annotations.TryGetValue(DesiredReplicasAnnotation, out var d0) && d0 == d && annotations.TryGetValue(MaxReplicasAnnotation, out var m0) && m0 == m) return false;
        annotations[DesiredReplicasAnnotation] = d;
        annotations[MaxReplicasAnnotation] = m;
        return true;
    }

    private static void SetDeploymentRevision(V1Deployment d, long revision)
    {
        var text = revision.ToString(CultureInfo.InvariantCulture);
        var annotations = d.Metadata.Annotations ??= new Dictionary<string, string>();
        if (annotations.TryGetValue(RevisionAnnotation, out var current) && current == text) return;
        annotations[RevisionAnnotation] = text;
    }

    /// <summary>Resizes one ReplicaSet (and records its sizing annotations); true if it changed.</summary>
    private bool ScaleReplicaSet(DecisionBatch batch, V1Deployment d, V1ReplicaSet rs, int replicas)
    {
        var current = batch.Get<V1ReplicaSet>(ResourceKind.ReplicaSet, rs.Metadata.NamespaceProperty, rs.Metadata.Name) ?? rs;
        var updated = KubeObjects.Clone(current);
        var from = updated.Spec.Replicas ?? 0;
        var annotationsChanged = SetReplicasAnnotations(updated, d.Spec.Replicas ?? 1, (d.Spec.Replicas ?? 1) + Fenceposts(d).Surge);
        if (from == replicas && !annotationsChanged) return false;
        updated.Spec.Replicas = replicas;
        if (from != replicas) updated.Metadata.Generation = (updated.Metadata.Generation ?? 1) + 1;
        batch.Put(ChangeType.Modified, ResourceKind.ReplicaSet, updated);
        if (from != replicas) ScalingEvent(batch, d, rs.Metadata.Name, from, replicas);
        return from != replicas;
    }

    private void ScalingEvent(DecisionBatch batch, V1Deployment d, string rs, int from, int to) =>
        batch.Put(ChangeType.Added, ResourceKind.Event, context.NewEvent(ResourceKind.Deployment, d.Metadata, "Normal", "ScalingReplicaSet",
            $"Scaled {(to > from ? "up" : "down")} replica set {rs} from {from} to {to}", Component));

    /// <summary>cleanupDeployment: old ReplicaSets with no pods beyond revisionHistoryLimit go, oldest revision first.</summary>
    private void CleanUp(DecisionBatch batch, V1Deployment d, List<V1ReplicaSet> olds)
    {
        var limit = d.Spec.RevisionHistoryLimit ?? 10;
        var cleanable = olds.Where(r => (r.Spec.Replicas ?? 0) == 0 && (r.Status?.Replicas ?? 0) == 0 && r.Metadata.DeletionTimestamp is null)
            .OrderBy(Revision).ThenBy(r => r.Metadata.CreationTimestamp).ToList();
        foreach (var rs in cleanable.Take(Math.Max(0, cleanable.Count - limit)))
        {
            if (batch.GetStored(Store.ObjectRef.Of(ResourceKind.ReplicaSet, rs.Metadata)) is { } stored) gc.Delete(batch, stored, DeletePropagation.Background);
        }
    }

    /// <summary>calculateStatus and syncRolloutStatus: counts, then the Available and Progressing conditions.</summary>
    private void WriteStatus(DecisionBatch batch, V1Deployment d, V1ReplicaSet? newRs, List<V1ReplicaSet> all)
    {
        var status = Status(d, newRs, all);
        var replicas = d.Spec.Replicas ?? 1;
        var minAvailable = replicas - RolloutPlanner.MaxUnavailable(Fenceposts(d).Unavailable, replicas);
        var working = KubeObjects.Clone(d);
        working.Status = status;
        if ((status.AvailableReplicas ?? 0) >= minAvailable)
            SetCondition(working, "Available", "True", "MinimumReplicasAvailable", "Deployment has minimum availability.", keepTransition: true);
        else
            SetCondition(working, "Available", "False", "MinimumReplicasUnavailable", "Deployment does not have minimum availability.", keepTransition: true);

        var name = newRs?.Metadata.Name;
        var progressing = working.Status.Conditions?.FirstOrDefault(c => c.Type == "Progressing");
        if (d.Spec.Paused == true)
            SetCondition(working, "Progressing", "Unknown", "DeploymentPaused", "Deployment is paused", keepTransition: true);
        else if (IsComplete(d, status))
            SetCondition(working, "Progressing", "True", "NewReplicaSetAvailable", $"ReplicaSet \"{name}\" has successfully progressed.", keepTransition: true);
        else if (IsProgressing(d.Status, status) || progressing is null || progressing.Reason is "DeploymentPaused")
            SetProgressing(working, "True", "ReplicaSetUpdated", name is null ? "Deployment is progressing." : $"ReplicaSet \"{name}\" is progressing.", keepTransition: progressing?.Status == "True");
        else if (progressing.Status == "True" && progressing.Reason != "NewReplicaSetCreated" && d.Spec.ProgressDeadlineSeconds is { } deadline
                 && (progressing.LastUpdateTime ?? DateTime.MinValue).AddSeconds(deadline) < context.Clock())
            SetCondition(working, "Progressing", "False", "ProgressDeadlineExceeded", $"ReplicaSet \"{name}\" has timed out progressing.", keepTransition: false);

        var current = batch.Get<V1Deployment>(ResourceKind.Deployment, d.Metadata.NamespaceProperty, d.Metadata.Name);
        if (current is null) return;
        var updated = KubeObjects.Clone(current);
        updated.Status = working.Status;
        updated.Metadata.Annotations = working.Metadata.Annotations;
        if (KubeObjects.SemanticEquals(updated.Status, current.Status) && KubeObjects.SemanticEquals(updated.Metadata.Annotations, current.Metadata.Annotations)) return;
        batch.Put(ChangeType.Modified, ResourceKind.Deployment, updated);
    }

    private static V1DeploymentStatus Status(V1Deployment d, V1ReplicaSet? newRs, List<V1ReplicaSet> all)
    {
        var available = all.Sum(r => r.Status?.AvailableReplicas ?? 0);
        var total = all.Sum(r => r.Spec.Replicas ?? 0);
        return new V1DeploymentStatus
        {
            ObservedGeneration = d.Metadata.Generation,
            Replicas = ControllerRefs.OmitZero(all.Sum(r => r.Status?.Replicas ?? 0)),
            UpdatedReplicas = ControllerRefs.OmitZero(newRs?.Status?.Replicas ?? 0),
            ReadyReplicas = ControllerRefs.OmitZero(all.Sum(r => r.Status?.ReadyReplicas ?? 0)),
            AvailableReplicas = ControllerRefs.OmitZero(available),
            UnavailableReplicas = ControllerRefs.OmitZero(Math.Max(0, total - available)),
            CollisionCount = d.Status?.CollisionCount,
            Conditions = d.Status?.Conditions?.Select(KubeObjects.Clone).ToList(),
        };
    }

    /// <summary>DeploymentComplete: every replica updated, available, and no old one left.</summary>
    private static bool IsComplete(V1Deployment d, V1DeploymentStatus s)
    {
        var replicas = d.Spec.Replicas ?? 1;
        return (s.UpdatedReplicas ?? 0) == replicas && (s.Replicas ?? 0) == replicas && (s.AvailableReplicas ?? 0) == replicas
               && (s.ObservedGeneration ?? 0) >= (d.Metadata.Generation ?? 0);
    }

    /// <summary>DeploymentProgressing: more updated, ready or available replicas, or fewer old ones, than before.</summary>
    private static bool IsProgressing(V1DeploymentStatus? old, V1DeploymentStatus s)
    {
        if (old is null) return true;
        var oldOld = (old.Replicas ?? 0) - (old.UpdatedReplicas ?? 0);
        var newOld = (s.Replicas ?? 0) - (s.UpdatedReplicas ?? 0);
        return (s.UpdatedReplicas ?? 0) > (old.UpdatedReplicas ?? 0) || newOld < oldOld
               || (s.ReadyReplicas ?? 0) > (old.ReadyReplicas ?? 0) || (s.AvailableReplicas ?? 0) > (old.AvailableReplicas ?? 0);
    }

    /// <summary>A Progressing condition replaced anew (its update time moves; its transition time only with its status).</summary>
    private void SetProgressing(V1Deployment d, string status, string reason, string message, bool keepTransition)
    {
        var now = context.Now();
        var old = d.Status?.Conditions?.FirstOrDefault(c => c.Type == "Progressing");
        d.Status ??= new V1DeploymentStatus();
        d.Status.Conditions = (d.Status.Conditions ?? []).Where(c => c.Type != "Progressing").ToList();
        d.Status.Conditions.Add(new V1DeploymentCondition
        {
            Type = "Progressing", Status = status, Reason = reason, Message = message, LastUpdateTime = now,
            LastTransitionTime = keepTransition && old?.Status == status ? old.LastTransitionTime : now,
        });
    }

    /// <summary>SetDeploymentCondition: unchanged if status and reason are; the transition time kept while the status is.</summary>
    private void SetCondition(V1Deployment d, string type, string status, string reason, string message, bool keepTransition)
    {
        var old = d.Status?.Conditions?.FirstOrDefault(c => c.Type == type);
        if (old is not null && old.Status == status && old.Reason == reason && old.Message == message) return;
        var now = context.Now();
        d.Status ??= new V1DeploymentStatus();
        var conditions = d.Status.Conditions ??= [];
        var condition = new V1DeploymentCondition
        {
            Type = type, Status = status, Reason = reason, Message = message, LastUpdateTime = now,
            LastTransitionTime = keepTransition && old?.Status == status ? old.LastTransitionTime : now,
        };
        var index = conditions.Select((c, i) => (c, i)).FirstOrDefault(x => x.c.Type == type, (null!, -1)).Item2;
        if (index >= 0) conditions[index] = condition;
        else conditions.Add(condition);
    }

    private static (int Surge, int Unavailable) Fenceposts(V1Deployment d)
    {
        var replicas = d.Spec.Replicas ?? 1;
        // Recreate has no surge, and (MaxUnavailable) counts no pod as allowed to be unavailable.
        if (d.Spec.Strategy?.Type == WorkloadDefaults.Recreate) return (0, 0);
        var rolling = d.Spec.Strategy?.RollingUpdate;
        return RolloutPlanner.ResolveFenceposts(rolling?.MaxSurge?.Value, rolling?.MaxUnavailable?.Value, replicas);
    }

    private static ReplicaSetCount Count(V1ReplicaSet rs) =>
        new(rs.Metadata.Name, rs.Spec.Replicas ?? 0, rs.Status?.AvailableReplicas ?? 0, rs.Metadata.CreationTimestamp ?? DateTime.MinValue);

    public static long Revision(V1ReplicaSet rs) =>
        rs.Metadata.Annotations?.TryGetValue(RevisionAnnotation, out var text) == true && long.TryParse(text, CultureInfo.InvariantCulture, out var n) ? n : 0;
}
