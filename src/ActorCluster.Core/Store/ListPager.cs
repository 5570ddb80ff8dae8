using System.Text;
using ActorCluster.Core.Api;
using ActorCluster.Core.Objects;
using ActorCluster.Core.Selectors;

namespace ActorCluster.Core.Store;

/// <summary>One page of a list: the objects' JSON, the store's resourceVersion, and where the next page starts.</summary>
public sealed record ListPage(IReadOnlyList<string> Items, long ResourceVersion, string? Continue);

/// <summary>
/// kube-apiserver's list over a store: objects in (namespace, name) order, filtered by namespace, label and field
/// selectors, cut at <c>limit</c> objects or at about <see cref="PageBytes"/> (etcd's response-size cut, so a big
/// list never makes one message too big for the wire), with an opaque continue token naming the last key served.
/// </summary>
public static class ListPager
{
    /// <summary>A page is cut once it holds this much JSON, even without a limit.</summary>
    public const int PageBytes = 64 * 1024;

    /// <summary>A page. Throws <see cref="ApiErrorException"/> (400) for a bad selector or continue token.</summary>
    public static ListPage List(ObjectStore store, ResourceKind kind, string? ns, string? labelSelector, string? fieldSelector, int limit, string? continueToken)
    {
        LabelSelector labels;
        FieldSelector fields;
        try
        {
            labels = string.IsNullOrEmpty(labelSelector) ? LabelSelector.Everything : LabelSelector.Parse(labelSelector);
            fields = string.IsNullOrEmpty(fieldSelector) ? FieldSelector.Everything : FieldSelector.Parse(fieldSelector, kind.Resource);
        }
        catch (FormatException e)
        {
            throw new ApiErrorException(ApiError.BadRequest(e.Message));
        }
        var after = "";
        if (!string.IsNullOrEmpty(continueToken))
        {
            try
            {
                after = Encoding.UTF8.GetString(Convert.FromBase64String(continueToken));
            }
            catch (FormatException)
            {
                throw new ApiErrorException(ApiError.BadRequest("continue key is not valid: illegal base64 data"));
            }
        }
        var items = new List<string>();
        var bytes = 0;
        string? next = null;
        var lastKey = "";
        var ordered = store.All(kind)
            .Where(o => string.IsNullOrEmpty(ns) || !kind.Namespaced || o.Object.Metadata.NamespaceProperty == ns)
            .Select(o => (Key: $"{o.Object.Metadata.NamespaceProperty}/{o.Object.Metadata.Name}", Object: o))
            .Where(x => string.CompareOrdinal(x.Key, after) > 0)
            .OrderBy(x => x.Key, StringComparer.Ordinal);
        foreach (var (key, o) in ordered)
        {
            var objectLabels = o.Object.Metadata.Labels is { } l ? new Dictionary<string, string>(l) : new Dictionary<string, string>();
            if (!labels.Matches(objectLabels) || !fields.Matches(o)) continue;
            if ((limit > 0 && items.Count == limit) || (items.Count > 0 && bytes > PageBytes))
            {
                next = Convert.ToBase64String(Encoding.UTF8.GetBytes(lastKey));
                break;
            }
            var json = o.ToJson();
            items.Add(json);
            bytes += json.Length;
            lastKey = key;
        }
        return new ListPage(items, store.ResourceVersion, next);
    }
}
