using System.Collections.Immutable;
using k8s.Models;

namespace ActorCluster.Core.Endpoints;

/// <summary>A namespaced object's key, <c>namespace/name</c>.</summary>
public readonly record struct ObjectKey(string Namespace, string Name)
{
    public static ObjectKey Of(V1ObjectMeta meta) => new(meta.NamespaceProperty ?? "", meta.Name ?? "");

    public override string ToString() => Namespace + "/" + Name;
}

/// <summary>
/// Which Services select a pod, without scanning every Service: each selector is indexed under one of its
/// key=value pairs, so a pod change looks only at the Services indexed under the pod's own labels.
/// Immutable; <see cref="AffectedBy"/> answers "which services does this pod change touch" for the
/// endpoints controller's incremental recomputation.
/// </summary>
public sealed class ServiceSelectorIndex
{
    public static readonly ServiceSelectorIndex Empty = new(
        ImmutableDictionary<ObjectKey, ImmutableSortedDictionary<string, string>>.Empty,
        ImmutableDictionary<(string Namespace, string Key, string Value), ImmutableHashSet<ObjectKey>>.Empty);

    private readonly ImmutableDictionary<ObjectKey, ImmutableSortedDictionary<string, string>> _selectors;
    private readonly ImmutableDictionary<(string Namespace, string Key, string Value), ImmutableHashSet<ObjectKey>> _byPair;

    private ServiceSelectorIndex(
        ImmutableDictionary<ObjectKey, ImmutableSortedDictionary<string, string>> selectors,
        ImmutableDictionary<(string, string, string), ImmutableHashSet<ObjectKey>> byPair)
    {
        _selectors = selectors;
        _byPair = byPair;
    }

    public int Count => _selectors.Count;

    /// <summary>Adds or replaces a Service; one without a managed selector is removed.</summary>
    public ServiceSelectorIndex Put(V1Service svc)
    {
        var key = ObjectKey.Of(svc.Metadata);
        var without = Remove(key);
        if (!EndpointsComputer.Manages(svc)) return without;
        var selector = svc.Spec!.Selector!.ToImmutableSortedDictionary(StringComparer.Ordinal);
        // Index under the first pair: every pod the Service selects carries it.
        var (k, v) = selector.First();
        var pair = (key.Namespace, k, v);
        var set = without._byPair.TryGetValue(pair, out var existing) ? existing.Add(key) : [key];
        return new ServiceSelectorIndex(without._selectors.SetItem(key, selector), without._byPair.SetItem(pair, set));
    }

    public ServiceSelectorIndex Remove(ObjectKey key)
    {
        if (!_selectors.TryGetValue(key, out var selector)) return this;
        var (k, v) = selector.First();
        var pair = (key.Namespace, k, v);
        var set = _byPair[pair].Remove(key);
        return new ServiceSelectorIndex(
            _selectors.Remove(key),
            set.IsEmpty ? _byPair.Remove(pair) : _byPair.SetItem(pair, set));
    }

    /// <summary>The Services whose selector matches these labels in this namespace.</summary>
    public IEnumerable<ObjectKey> Selecting(string ns, IReadOnlyDictionary<string, string> labels)
    {
        foreach (var (k, v) in labels)
        {
            if (!_byPair.TryGetValue((ns, k, v), out var candidates)) continue;
            foreach (var svc in candidates)
            {
                if (_selectors[svc].All(req => labels.TryGetValue(req.Key, out var actual) && actual == req.Value))
                    yield return svc;
            }
        }
    }

    /// <summary>The Services a pod change touches: those selecting the old labels or the new ones.</summary>
    public IReadOnlySet<ObjectKey> AffectedBy(PodEndpointView? before, PodEndpointView? after)
    {
        var result = new HashSet<ObjectKey>();
        if (before is not null) result.UnionWith(Selecting(before.Namespace, before.Labels));
        if (after is not null) result.UnionWith(Selecting(after.Namespace, after.Labels));
        return result;
    }
}
