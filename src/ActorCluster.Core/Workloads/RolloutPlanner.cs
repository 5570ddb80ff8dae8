namespace ActorCluster.Core.Workloads;

/// <summary>A ReplicaSet as the rollout sees it: how many pods it asks for, how many are available, and its age.</summary>
public sealed record ReplicaSetCount(string Name, int Replicas, int Available, DateTime Created);

/// <summary>
/// The Deployment controller's arithmetic (k/k pkg/controller/deployment: rolling.go, recreate.go, sync.go's scale and
/// util's ResolveFenceposts / NewRSNewReplicas), as pure functions from counts to the ReplicaSets' next sizes. One call
/// is one step, as one sync of the controller is: it scales up the new ReplicaSet, or else scales old ones down, and the
/// next step waits for the pods to become available.
/// </summary>
public static class RolloutPlanner
{
    /// <summary>
    /// maxSurge (rounded up) and maxUnavailable (rounded down) as pod counts for <paramref name="replicas"/>; both 0
    /// would deadlock, so maxUnavailable is then 1 (ResolveFenceposts).
    /// </summary>
    public static (int Surge, int Unavailable) ResolveFenceposts(string? maxSurge, string? maxUnavailable, int replicas)
    {
        var surge = Scaled(maxSurge ?? "25%", replicas, roundUp: true);
        var unavailable = Scaled(maxUnavailable ?? "25%", replicas, roundUp: false);
        if (surge == 0 && unavailable == 0) unavailable = 1;
        return (surge, unavailable);
    }

    /// <summary>intstr.GetScaledValueFromIntOrPercent: an integer, or a percentage of <paramref name="total"/>.</summary>
    public static int Scaled(string value, int total, bool roundUp)
    {
        if (!value.EndsWith('%')) return int.Parse(value, System.Globalization.CultureInfo.InvariantCulture);
        var percent = int.Parse(value[..^1], System.Globalization.CultureInfo.InvariantCulture);
        var exact = percent * (long)total;
        return (int)(roundUp ? (exact + 99) / 100 : exact / 100);
    }

    /// <summary>MaxUnavailable(deployment): never more than the replicas themselves.</summary>
    public static int MaxUnavailable(int unavailable, int replicas) => replicas == 0 ? 0 : Math.Min(unavailable, replicas);

    /// <summary>
    /// One rolling-update step: the next size of every ReplicaSet (new first). Scale the new one up as far as
    /// maxSurge allows; if it did not move, scale old ones down: first pods that are not available (they count against
    /// nothing), then available ones while more than replicas - maxUnavailable stay available.
    /// </summary>
    public static Dictionary<string, int> RollingStep(int replicas, int surge, int unavailable, ReplicaSetCount newRs, IReadOnlyList<ReplicaSetCount> oldRss)
    {
        var next = oldRss.Append(newRs).ToDictionary(r => r.Name, r => r.Replicas);
        // reconcileNewReplicaSet
        if (newRs.Replicas > replicas)
        {
            next[newRs.Name] = replicas;
            return next;
        }
        if (newRs.Replicas < replicas)
        {
            var current = oldRss.Sum(r => r.Replicas) + newRs.Replicas;
            var maxTotal = replicas + surge;
            if (current < maxTotal)
            {
                var up = Math.Min(maxTotal - current, replicas - newRs.Replicas);
                if (up > 0)
                {
                    next[newRs.Name] = newRs.Replicas + up;
                    return next;
                }
            }
        }
        // reconcileOldReplicaSets
        if (oldRss.Sum(r => r.Replicas) == 0) return next;
        var all = oldRss.Sum(r => r.Replicas) + newRs.Replicas;
        var minAvailable = replicas - MaxUnavailable(unavailable, replicas);
        var newUnavailable = Math.Max(0, newRs.Replicas - newRs.Available);
        var maxScaledDown = all - minAvailable - newUnavailable;
        if (maxScaledDown <= 0) return next;
        var oldest = oldRss.OrderBy(r => r.Created).ThenBy(r => r.Name, StringComparer.Ordinal).ToList();
        // cleanupUnhealthyReplicas: pods that are not available go first, up to maxScaledDown.
        var cleaned = 0;
        foreach (var rs in oldest)
        {
            if (cleaned >= maxScaledDown) break;
            var unhealthy = Math.Max(0, next[rs.Name] - rs.Available);
            if (next[rs.Name] == 0 || unhealthy == 0) continue;
            var down = Math.Min(maxScaledDown - cleaned, unhealthy);
            next[rs.Name] -= down;
            cleaned += down;
        }
        // scaleDownOldReplicaSetsForRollingUpdate: available pods, while more than minAvailable remain available.
        var available = oldRss.Sum(r => Math.Min(r.Available, next[r.Name])) + newRs.Available;
        if (available <= minAvailable) return next;
        var budget = available - minAvailable;
        foreach (var rs in oldest)
        {
            if (budget <= 0) break;
            if (next[rs.Name] == 0) continue;
            var down = Math.Min(next[rs.Name], budget);
            next[rs.Name] -= down;
            budget -= down;
        }
        return next;
    }

    /// <summary>
    /// A change of spec.replicas while several ReplicaSets are active (deployment's scale): the difference to the
    /// allowed size is shared in proportion to their sizes, the rest to the largest (newest first when adding,
    /// oldest first when removing).
    /// </summary>
    public static Dictionary<string, int> Proportional(int allowed, IReadOnlyList<ReplicaSetCount> active)
    {
        var next = active.ToDictionary(r => r.Name, r => r.Replicas);
        var total = active.Sum(r => r.Replicas);
        var toAdd = allowed - total;
        if (toAdd == 0 || active.Count == 0) return next;
        var order = (toAdd > 0
            ? active.OrderByDescending(r => r.Replicas).ThenByDescending(r => r.Created)
            : active.OrderByDescending(r => r.Replicas).ThenBy(r => r.Created)).ThenBy(r => r.Name, StringComparer.Ordinal).ToList();
        var added = 0;
        foreach (var rs in order)
        {
            var share = total == 0 ? 0 : (int)((long)toAdd * rs.Replicas / total);
            share = toAdd > 0 ? Math.Min(share, toAdd - added) : Math.Max(share, toAdd - added);
            next[rs.Name] = Math.Max(0, next[rs.Name] + share);
            added += next[rs.Name] - rs.Replicas;
        }
        // The rest (rounding, or a ReplicaSet that could not shrink further) to the first that can take it.
        foreach (var rs in order)
        {
            if (added == toAdd) break;
            var change = Math.Max(toAdd - added, -next[rs.Name]);
            next[rs.Name] += change;
            added += change;
        }
        return next;
    }
}
