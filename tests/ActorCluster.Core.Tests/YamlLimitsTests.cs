using System.Text;
using ActorCluster.Core.Objects;

namespace ActorCluster.Core.Tests;

/// <summary>
/// Hostile YAML is refused before it costs anything, with go-yaml's words (what kube-apiserver answers): nesting past
/// the limit, and aliases that would expand a small document into a huge one ("billion laughs", CVE-2019-11253).
/// </summary>
public class YamlLimitsTests
{
    /// <summary>levels of anchors, each a sequence of <paramref name="fanout"/> aliases of the one before, under an object field.</summary>
    private static string Laughs(int levels, int fanout)
    {
        var yaml = new StringBuilder("apiVersion: v1\nkind: Service\nmetadata:\n  name: laughs\n  managedFields:\n  - fieldsV1:\n      l0: &l0 \"lol\"\n");
        for (var l = 1; l <= levels; l++) yaml.Append($"      l{l}: &l{l} [{string.Join(", ", Enumerable.Repeat($"*l{l - 1}", fanout))}]\n");
        return yaml.ToString();
    }

    private static string Refusal(string yaml) => Assert.Throws<ApiErrorException>(() => KubeObjects.LoadAll(yaml)).Error.Message;

    [Fact]
    public void A_billion_laughs_is_refused_at_once_as_excessive_aliasing()
    {
        Assert.Equal("yaml: document contains excessive aliasing", Refusal(Laughs(levels: 9, fanout: 10)));
        // The same boundary as go-yaml's: a thousand leaves are fine, ten thousand from a few lines are not.
        Assert.Single(KubeObjects.LoadAll(Laughs(levels: 3, fanout: 10)));
        Assert.Equal("yaml: document contains excessive aliasing", Refusal(Laughs(levels: 4, fanout: 10)));
    }

    [Fact]
    public void Aliases_of_a_long_string_may_not_expand_past_the_request_limit()
    {
        var megabyte = new string('x', 1024 * 1024);
        string Annotations(int aliases) =>
            $"apiVersion: v1\nkind: Service\nmetadata:\n  name: long\n  annotations:\n    a0: &a \"{megabyte}\"\n" +
            string.Concat(Enumerable.Range(1, aliases).Select(i => $"    a{i}: *a\n"));
        Assert.Single(KubeObjects.LoadAll(Annotations(1)));
        Assert.Equal("yaml: document contains excessive aliasing", Refusal(Annotations(3)));
    }

    [Fact]
    public void Anchors_as_people_use_them_are_accepted()
    {
        var yaml = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: p\n  labels: &labels\n    app: web\n  annotations: *labels\n" +
                   "spec:\n  containers:\n  - name: a\n    image: kubetm/app\n    env: &env\n    - name: MODE\n      value: fast\n  - name: b\n    image: kubetm/app\n    env: *env\n";
        var pod = Assert.IsType<k8s.Models.V1Pod>(Assert.Single(KubeObjects.LoadAll(yaml)));
        Assert.Equal("fast", pod.Spec.Containers[1].Env[0].Value);
        Assert.Equal("web", pod.Metadata.Annotations["app"]);
    }

    [Fact]
    public void Nesting_past_the_limit_is_refused_without_recursing()
    {
        Assert.Equal($"yaml: exceeded max depth of {KubeObjects.MaxDepth}", Refusal("apiVersion: v1\nkind: Service\nmetadata:\n  name: deep\n  labels:\n    x: " + new string('[', 100_000)));
    }
}
