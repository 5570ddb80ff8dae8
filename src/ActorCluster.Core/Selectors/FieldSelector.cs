using ActorCluster.Core.Store;
using k8s.Models;

namespace ActorCluster.Core.Selectors;

/// <summary>
/// A list's fieldSelector (<c>metadata.name=x,spec.nodeName!=y</c>) over the fields kube-apiserver supports for
/// each resource; any other field is "field label not supported" (a BadRequest).
/// </summary>
public sealed class FieldSelector
{
    private readonly IReadOnlyList<(string Field, bool Equal, string Value)> _terms;

    private FieldSelector(IReadOnlyList<(string, bool, string)> terms) => _terms = terms;

    public static readonly FieldSelector Everything = new([]);

    public static FieldSelector Parse(string text, string resource)
    {
        var terms = new List<(string, bool, string)>();
        foreach (var raw in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            string field, value;
            bool equal;
            if (raw.Contains("!=", StringComparison.Ordinal))
            {
                var i = raw.IndexOf("!=", StringComparison.Ordinal);
                (field, value, equal) = (raw[..i], raw[(i + 2)..], false);
            }
            else if (raw.Contains("==", StringComparison.Ordinal))
            {
                var i = raw.IndexOf("==", StringComparison.Ordinal);
                (field, value, equal) = (raw[..i], raw[(i + 2)..], true);
            }
            else if (raw.Contains('='))
            {
                var i = raw.IndexOf('=');
                (field, value, equal) = (raw[..i], raw[(i + 1)..], true);
            }
            else
            {
                throw new FormatException($"invalid selector: '{text}'; can't understand '{raw}'");
            }
            field = field.Trim();
            if (!Supported(resource, field)) throw new FormatException($"field label not supported: {field}");
            terms.Add((field, equal, value.Trim()));
        }
        return new FieldSelector(terms);
    }

    private static bool Supported(string resource, string field) =>
        field is "metadata.name" or "metadata.namespace"
        || (resource, field) is ("pods", "spec.nodeName") or ("pods", "status.phase") or ("pods", "status.podIP") or ("pods", "spec.restartPolicy")
            or ("events", "involvedObject.kind") or ("events", "involvedObject.namespace") or ("events", "involvedObject.name")
            or ("events", "involvedObject.uid") or ("events", "involvedObject.apiVersion") or ("events", "involvedObject.resourceVersion")
            or ("events", "involvedObject.fieldPath") or ("events", "reason") or ("events", "type") or ("events", "source")
            or ("namespaces", "status.phase") or ("services", "spec.clusterIP") or ("services", "spec.type");

    public bool Matches(StoredObject o)
    {
        foreach (var (field, equal, value) in _terms)
        {
            if ((ValueOf(o, field) == value) != equal) return false;
        }
        return true;
    }

    private static string ValueOf(StoredObject o, string field) => field switch
    {
        "metadata.name" => o.Object.Metadata.Name ?? "",
        "metadata.namespace" => o.Object.Metadata.NamespaceProperty ?? "",
        _ => o.Object switch
        {
            V1Pod p => field switch
            {
                "spec.nodeName" => p.Spec?.NodeName ?? "",
                "status.phase" => p.Status?.Phase ?? "",
                "status.podIP" => p.Status?.PodIP ?? "",
                "spec.restartPolicy" => p.Spec?.RestartPolicy ?? "",
                _ => "",
            },
            Corev1Event e => field switch
            {
                "involvedObject.kind" => e.InvolvedObject?.Kind ?? "",
                "involvedObject.namespace" => e.InvolvedObject?.NamespaceProperty ?? "",
                "involvedObject.name" => e.InvolvedObject?.Name ?? "",
                "involvedObject.uid" => e.InvolvedObject?.Uid ?? "",
                "involvedObject.apiVersion" => e.InvolvedObject?.ApiVersion ?? "",
                "involvedObject.resourceVersion" => e.InvolvedObject?.ResourceVersion ?? "",
                "involvedObject.fieldPath" => e.InvolvedObject?.FieldPath ?? "",
                "reason" => e.Reason ?? "",
                "type" => e.Type ?? "",
                "source" => e.Source?.Component ?? "",
                _ => "",
            },
            V1Namespace ns => ns.Status?.Phase ?? "",
            V1Service s => field == "spec.clusterIP" ? s.Spec?.ClusterIP ?? "" : s.Spec?.Type ?? "",
            _ => "",
        },
    };
}
