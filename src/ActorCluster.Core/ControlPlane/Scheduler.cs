using k8s.Models;

namespace ActorCluster.Core.ControlPlane;

/// <summary>
/// kube-scheduler reduced to what ActorCluster needs: nodeSelector must match the node's labels, the node
/// must be Ready, and among the fit nodes the one with the fewest pods of the same owner wins (the default
/// topology spreading of a ReplicaSet's pods over hostnames), then the one with the fewest pods, then by name.
/// </summary>
public static class Scheduler
{
    public sealed record Result(string? NodeName, string Message);

    public static bool IsReady(V1Node node) =>
        node.Status?.Conditions?.Any(c => c.Type == "Ready" && c.Status == "True") == true;

    public static Result Schedule(V1Pod pod, IReadOnlyCollection<V1Node> nodes, IReadOnlyDictionary<string, int> podsPerNode,
        IReadOnlyDictionary<string, int>? peersPerNode = null)
    {
        peersPerNode ??= new Dictionary<string, int>();
        var selector = pod.Spec?.NodeSelector ?? new Dictionary<string, string>();
        var selectorMismatch = 0;
        var tainted = new Dictionary<string, int>(StringComparer.Ordinal);
        var fit = new List<V1Node>();
        foreach (var node in nodes)
        {
            var labels = node.Metadata.Labels ?? new Dictionary<string, string>();
            if (!selector.All(kv => labels.TryGetValue(kv.Key, out var v) && v == kv.Value))
                selectorMismatch++;
            else if (!IsReady(node) || node.Spec?.Unschedulable == true)
            {
                var taint = node.Spec?.Taints?.FirstOrDefault(t => t.Effect == "NoSchedule")?.Key
                            ?? (node.Spec?.Unschedulable == true ? "node.kubernetes.io/unschedulable" : "node.kubernetes.io/not-ready");
                tainted[taint] = tainted.GetValueOrDefault(taint) + 1;
            }
            else
                fit.Add(node);
        }
        if (fit.Count > 0)
        {
            var chosen = fit.OrderBy(n => peersPerNode.GetValueOrDefault(n.Metadata.Name)).ThenBy(n => podsPerNode.GetValueOrDefault(n.Metadata.Name))
                .ThenBy(n => n.Metadata.Name, StringComparer.Ordinal).First();
            return new Result(chosen.Metadata.Name, "");
        }
        // The FitError wording: "0/N nodes are available: <count> <reason>, <count> <reason>."
        var reasons = new List<string>();
        if (selectorMismatch > 0) reasons.Add($"{selectorMismatch} node(s) didn't match Pod's node affinity/selector");
        foreach (var (taint, count) in tainted) reasons.Add($"{count} node(s) had untolerated taint {{{taint}: }}");
        var message = nodes.Count == 0
            ? "no nodes available to schedule pods"
            : $"0/{nodes.Count} nodes are available: {string.Join(", ", reasons.Order(StringComparer.Ordinal))}.";
        return new Result(null, message);
    }
}
