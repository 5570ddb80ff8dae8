using ActorCluster.Core.Api;
using ActorCluster.Core.Objects;
using ActorCluster.Core.Store;
using FsCheck;
using FsCheck.Fluent;
using FsCheck.Xunit;
using k8s.Models;

namespace ActorCluster.Core.Tests;

/// <summary>A list read page by page is the whole list, in order, each object once, as kube-apiserver's paging promises.</summary>
public sealed class ListPagerTests
{
    private static readonly string[] Namespaces = ["default", "kube-system", "team-a"];

    private sealed record PodSpec(string Namespace, int Number, string App);

    private static readonly Gen<PodSpec> Pod =
        from ns in Gen.Elements(Namespaces)
        from number in Gen.Choose(0, 40)
        from app in Gen.Elements("a", "b", "c")
        select new PodSpec(ns, number, app);

    private static ObjectStore Store(IEnumerable<PodSpec> pods, int annotationBytes = 0)
    {
        var store = ObjectStore.Empty;
        var rv = 0L;
        foreach (var p in pods)
        {
            var pod = new V1Pod
            {
                ApiVersion = "v1", Kind = "Pod",
                Metadata = new V1ObjectMeta
                {
                    Name = $"pod-{p.Number}", NamespaceProperty = p.Namespace, ResourceVersion = (++rv).ToString(System.Globalization.CultureInfo.InvariantCulture),
                    Labels = new Dictionary<string, string> { ["app"] = p.App },
                    Annotations = annotationBytes > 0 ? new Dictionary<string, string> { ["note"] = new('x', annotationBytes) } : null,
                },
            };
            store = store.Put(new StoredObject(ResourceKind.Pod, pod), rv);
        }
        return store;
    }

    private static List<string> Walk(ObjectStore store, string? ns, string? selector, int limit, out int pages)
    {
        var keys = new List<string>();
        string? next = null;
        pages = 0;
        do
        {
            var page = ListPager.List(store, ResourceKind.Pod, ns, selector, null, limit, next);
            pages++;
            if (limit > 0 && page.Items.Count > limit) throw new InvalidOperationException($"a page of {page.Items.Count} under limit {limit}");
            keys.AddRange(page.Items.Select(json => KubeObjects.FromJson<V1Pod>(json).Metadata).Select(m => $"{m.NamespaceProperty}/{m.Name}"));
            next = page.Continue;
        }
        while (next is not null && pages < 1000);
        return keys;
    }

    /// <summary>A list request: the store's pods, a page limit (0: none), a label selector and a namespace.</summary>
    private sealed record Request(List<PodSpec> Pods, int Limit, string? Selector, string? Namespace);

    private static readonly Gen<Request> Requests =
        from pods in Gen.ListOf(Pod)
        from limit in Gen.Choose(0, 7)
        from selector in Gen.Elements<string?>(null, "app=a", "app!=b", "app in (a,c)")
        from ns in Gen.Elements<string?>(null, "default", "team-a")
        select new Request(pods.ToList(), limit, selector, ns);

    /// <summary>A failing request shrinks to one with fewer pods, then no selector, no namespace, a smaller limit.</summary>
    private static IEnumerable<Request> Shrink(Request r)
    {
        for (var i = 0; i < r.Pods.Count; i++) yield return r with { Pods = r.Pods.Where((_, j) => j != i).ToList() };
        if (r.Selector is not null) yield return r with { Selector = null };
        if (r.Namespace is not null) yield return r with { Namespace = null };
        if (r.Limit > 1) yield return r with { Limit = r.Limit - 1 };
    }

    [Property(MaxTest = 200)]
    public Property Paging_by_any_limit_returns_the_filtered_list_in_order_each_object_once() =>
        Prop.ForAll(Arb.From(Requests, Shrink), r =>
        {
            var store = Store(r.Pods);
            var expected = store.All(ResourceKind.Pod)
                .Where(o => r.Namespace is null || o.Object.Metadata.NamespaceProperty == r.Namespace)
                .Where(o => r.Selector is null || Selectors.LabelSelector.Parse(r.Selector).Matches(new Dictionary<string, string>(o.Object.Metadata.Labels)))
                .Select(o => $"{o.Object.Metadata.NamespaceProperty}/{o.Object.Metadata.Name}")
                .Order(StringComparer.Ordinal).ToList();
            return Walk(store, r.Namespace, r.Selector, r.Limit, out _).SequenceEqual(expected);
        });

    [Fact]
    public void Without_a_limit_a_big_list_is_cut_at_about_64_KiB_and_continues()
    {
        var store = Store(Enumerable.Range(0, 40).Select(i => new PodSpec("default", i, "a")), annotationBytes: 10_000);
        var first = ListPager.List(store, ResourceKind.Pod, "default", null, null, 0, null);
        Assert.InRange(first.Items.Sum(j => j.Length), ListPager.PageBytes, ListPager.PageBytes + 11_000);
        Assert.NotNull(first.Continue);
        Assert.Equal(40, Walk(store, "default", null, 0, out var pages).Distinct().Count());
        Assert.True(pages > 1);
        Assert.Equal(store.ResourceVersion, first.ResourceVersion);
    }

    [Theory]
    [InlineData("app in (a", null, "unable to parse requirement: found '', expected: ',' or ')'")]
    [InlineData(null, "%%%", "continue key is not valid: illegal base64 data")]
    public void A_bad_selector_or_continue_token_is_a_400_in_kube_apiservers_words(string? selector, string? token, string message)
    {
        var e = Assert.Throws<ApiErrorException>(() => ListPager.List(Store([new PodSpec("default", 1, "a")]), ResourceKind.Pod, null, selector, null, 0, token));
        Assert.Equal(400, e.Error.Code);
        Assert.Equal(message, e.Error.Message);
    }
}
