using System.Text;
using ActorCluster.Core.Objects;
using k8s.Models;

namespace ActorCluster.Core.Workloads;

/// <summary>
/// The <c>pod-template-hash</c> label a Deployment puts on its ReplicaSets and their pods (controller.ComputeHash):
/// FNV-32a over the template (here its canonical JSON) and the collision count, written with the alphabet of
/// rand.SafeEncodeString so it never spells a word.
/// </summary>
public static class PodTemplateHash
{
    public const string Label = "pod-template-hash";
    private const string Alphabet = "bcdfghjklmnpqrstvwxz2456789";

    public static string Compute(V1PodTemplateSpec template, int? collisionCount)
    {
        var text = KubeObjects.ToJson(WithoutHash(template)) + (collisionCount is { } c ? c.ToString(System.Globalization.CultureInfo.InvariantCulture) : "");
        var hash = 2166136261u;
        foreach (var b in Encoding.UTF8.GetBytes(text))
        {
            hash ^= b;
            hash *= 16777619u;
        }
        var digits = hash.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return new string(digits.Select(d => Alphabet[d % Alphabet.Length]).ToArray());
    }

    /// <summary>The template without the hash label: what a Deployment's template is compared with (EqualIgnoreHash).</summary>
    public static V1PodTemplateSpec WithoutHash(V1PodTemplateSpec template)
    {
        var copy = KubeObjects.Clone(template);
        copy.Metadata ??= new V1ObjectMeta();
        if (copy.Metadata.Labels is { } labels)
        {
            labels.Remove(Label);
            if (labels.Count == 0) copy.Metadata.Labels = null;
        }
        return copy;
    }

    public static bool EqualIgnoringHash(V1PodTemplateSpec a, V1PodTemplateSpec b) =>
        KubeObjects.SemanticEquals(WithoutHash(a), WithoutHash(b));
}
