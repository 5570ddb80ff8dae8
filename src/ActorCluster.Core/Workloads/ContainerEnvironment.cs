using System.Text;
using System.Text.RegularExpressions;
using k8s.Models;

namespace ActorCluster.Core.Workloads;

/// <summary>The ConfigMaps and Secrets of a pod's namespace its containers' environment reads, as fetched (null: there is none).</summary>
public sealed record EnvSources(IReadOnlyDictionary<string, V1ConfigMap?> ConfigMaps, IReadOnlyDictionary<string, V1Secret?> Secrets)
{
    public static readonly EnvSources None = new(new Dictionary<string, V1ConfigMap?>(), new Dictionary<string, V1Secret?>());

    /// <summary>The ConfigMap and Secret names a pod refers to (its containers' envFrom and env valueFrom, its volumes).</summary>
    public static (IReadOnlySet<string> ConfigMaps, IReadOnlySet<string> Secrets) Referenced(V1PodSpec spec)
    {
        var configMaps = new SortedSet<string>(StringComparer.Ordinal);
        var secrets = new SortedSet<string>(StringComparer.Ordinal);
        foreach (var (secret, name) in ContainerFiles.Referenced(spec)) (secret ? secrets : configMaps).Add(name);
        foreach (var c in spec.Containers ?? [])
        {
            foreach (var from in c.EnvFrom ?? [])
            {
                if (from.ConfigMapRef?.Name is { Length: > 0 } cm) configMaps.Add(cm);
                if (from.SecretRef?.Name is { Length: > 0 } s) secrets.Add(s);
            }
            foreach (var e in c.Env ?? [])
            {
                if (e.ValueFrom?.ConfigMapKeyRef?.Name is { Length: > 0 } cm) configMaps.Add(cm);
                if (e.ValueFrom?.SecretKeyRef?.Name is { Length: > 0 } s) secrets.Add(s);
            }
        }
        return (configMaps, secrets);
    }
}

/// <summary>
/// A container's environment as kubelet makes it (makeEnvironmentVariables): <c>envFrom</c> sources in order (keys
/// with their prefix), then <c>env</c>, a later name replacing an earlier one; a value has <c>$(VAR)</c> expanded
/// against the names before it (<c>$$</c> escapes); <c>valueFrom</c> reads the downward API (<c>fieldRef</c>) or a
/// key of a ConfigMap or Secret. A missing source or key that is not optional is kubelet's error, which keeps the
/// container from starting (CreateContainerConfigError). With <c>enableServiceLinks</c> (the default) the Services of
/// the pod's namespace that existed when it started add their variables (<c>SVC_1_SERVICE_HOST</c>, ...) after the
/// container's own, which win, and values may refer to them.
/// </summary>
public static partial class ContainerEnvironment
{
    public static (IReadOnlyList<V1EnvVar> Env, string? Error) Resolve(V1Container container, V1Pod pod, string podIP, string hostIP, EnvSources sources,
        IReadOnlyList<V1Service>? services = null)
    {
        var ns = pod.Metadata?.NamespaceProperty ?? "default";
        var serviceEnv = pod.Spec?.EnableServiceLinks == false ? [] : ServiceVariables((services ?? []).Where(s => s.Metadata?.NamespaceProperty == ns));
        var serviceValues = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var e in serviceEnv) serviceValues[e.Name] = e.Value;
        var env = new List<V1EnvVar>();
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        void Set(string name, string value)
        {
            if (index.TryGetValue(name, out var at)) env[at] = new V1EnvVar { Name = name, Value = value };
            else
            {
                index[name] = env.Count;
                env.Add(new V1EnvVar { Name = name, Value = value });
            }
        }

        foreach (var from in container.EnvFrom ?? [])
        {
            var prefix = from.Prefix ?? "";
            if (from.ConfigMapRef is { } cmRef)
            {
                var cm = sources.ConfigMaps.GetValueOrDefault(cmRef.Name ?? "");
                if (cm is null)
                {
                    if (cmRef.Optional == true) continue;
                    return ([], $"configmap \"{cmRef.Name}\" not found");
                }
                foreach (var (key, value) in (cm.Data ?? new Dictionary<string, string>()).OrderBy(e => e.Key, StringComparer.Ordinal)) Set(prefix + key, value);
            }
            if (from.SecretRef is { } secretRef)
            {
                var secret = sources.Secrets.GetValueOrDefault(secretRef.Name ?? "");
                if (secret is null)
                {
                    if (secretRef.Optional == true) continue;
                    return ([], $"secret \"{secretRef.Name}\" not found");
                }
                foreach (var (key, value) in (secret.Data ?? new Dictionary<string, byte[]>()).OrderBy(e => e.Key, StringComparer.Ordinal))
                    Set(prefix + key, Encoding.UTF8.GetString(value ?? []));
            }
        }

        foreach (var e in container.Env ?? [])
        {
            if (e.ValueFrom is not { } from)
            {
                Set(e.Name, Expand(e.Value ?? "", name => index.TryGetValue(name, out var at) ? env[at].Value : serviceValues.GetValueOrDefault(name)));
                continue;
            }
            if (from.FieldRef is { } field)
            {
                Set(e.Name, FieldValue(field.FieldPath ?? "", pod, podIP, hostIP));
            }
            else if (from.ConfigMapKeyRef is { } cmKey)
            {
                var cm = sources.ConfigMaps.GetValueOrDefault(cmKey.Name ?? "");
                if (cm is null)
                {
                    if (cmKey.Optional == true) continue;
                    return ([], $"configmap \"{cmKey.Name}\" not found");
                }
                if (cm.Data?.TryGetValue(cmKey.Key ?? "", out var value) == true) Set(e.Name, value);
                else if (cmKey.Optional != true) return ([], $"couldn't find key {cmKey.Key} in ConfigMap {ns}/{cmKey.Name}");
            }
            else if (from.SecretKeyRef is { } secretKey)
            {
                var secret = sources.Secrets.GetValueOrDefault(secretKey.Name ?? "");
                if (secret is null)
                {
                    if (secretKey.Optional == true) continue;
                    return ([], $"secret \"{secretKey.Name}\" not found");
                }
                if (secret.Data?.TryGetValue(secretKey.Key ?? "", out var value) == true) Set(e.Name, Encoding.UTF8.GetString(value ?? []));
                else if (secretKey.Optional != true) return ([], $"couldn't find key {secretKey.Key} in Secret {ns}/{secretKey.Name}");
            }
            else
            {
                // resourceFieldRef: this image sets no requests or limits of its own, so there is nothing to report.
                Set(e.Name, "0");
            }
        }
        foreach (var e in serviceEnv.Where(e => !index.ContainsKey(e.Name))) env.Add(e);
        return (env, null);
    }

    /// <summary>
    /// kubelet's variables for Services (envvars.FromServices): for each with a ClusterIP, <c>NAME_SERVICE_HOST</c>,
    /// <c>NAME_SERVICE_PORT</c> (the first port), <c>NAME_SERVICE_PORT_PORTNAME</c> per named port, and Docker's link
    /// variables (<c>NAME_PORT=tcp://ip:port</c>, <c>NAME_PORT_9000_TCP</c>, <c>..._PROTO</c>, <c>..._PORT</c>, <c>..._ADDR</c>).
    /// </summary>
    public static IReadOnlyList<V1EnvVar> ServiceVariables(IEnumerable<V1Service> services)
    {
        var result = new List<V1EnvVar>();
        void Add(string name, string value) => result.Add(new V1EnvVar { Name = name, Value = value });
        foreach (var svc in services.OrderBy(s => s.Metadata?.Name, StringComparer.Ordinal))
        {
            var ip = svc.Spec?.ClusterIP;
            var ports = svc.Spec?.Ports ?? [];
            if (string.IsNullOrEmpty(ip) || ip == "None" || ports.Count == 0) continue;
            var prefix = (svc.Metadata?.Name ?? "").Replace('-', '_').ToUpperInvariant();
            Add(prefix + "_SERVICE_HOST", ip);
            Add(prefix + "_SERVICE_PORT", ports[0].Port.ToString(System.Globalization.CultureInfo.InvariantCulture));
            foreach (var p in ports.Where(p => !string.IsNullOrEmpty(p.Name)))
                Add($"{prefix}_SERVICE_PORT_{p.Name.Replace('-', '_').ToUpperInvariant()}", p.Port.ToString(System.Globalization.CultureInfo.InvariantCulture));
            for (var i = 0; i < ports.Count; i++)
            {
                var protocol = string.IsNullOrEmpty(ports[i].Protocol) ? "TCP" : ports[i].Protocol;
                var url = $"{protocol.ToLowerInvariant()}://{ip}:{ports[i].Port}";
                if (i == 0) Add(prefix + "_PORT", url);
                var portPrefix = $"{prefix}_PORT_{ports[i].Port}_{protocol.ToUpperInvariant()}";
                Add(portPrefix, url);
                Add(portPrefix + "_PROTO", protocol.ToLowerInvariant());
                Add(portPrefix + "_PORT", ports[i].Port.ToString(System.Globalization.CultureInfo.InvariantCulture));
                Add(portPrefix + "_ADDR", ip);
            }
        }
        return result;
    }

    /// <summary>The downward API's value for a fieldRef path (kubelet's podFieldSelectorRuntimeValue).</summary>
    public static string FieldValue(string path, V1Pod pod, string podIP, string hostIP)
    {
        var meta = pod.Metadata ?? new V1ObjectMeta();
        if (MapField().Match(path) is { Success: true } m)
        {
            var map = m.Groups[1].Value == "labels" ? meta.Labels : meta.Annotations;
            return map?.TryGetValue(m.Groups[2].Value, out var v) == true ? v : "";
        }
        return path switch
        {
            "metadata.name" => meta.Name ?? "",
            "metadata.namespace" => meta.NamespaceProperty ?? "",
            "metadata.uid" => meta.Uid ?? "",
            "metadata.labels" => FormatMap(meta.Labels),
            "metadata.annotations" => FormatMap(meta.Annotations),
            "spec.nodeName" => pod.Spec?.NodeName ?? "",
            "spec.serviceAccountName" => pod.Spec?.ServiceAccountName ?? "",
            "status.hostIP" or "status.hostIPs" => hostIP,
            "status.podIP" or "status.podIPs" => podIP,
            _ => "",
        };
    }

    /// <summary>
    /// Kubernetes' expansion of <c>$(NAME)</c>: a name defined before is replaced, an unknown one stays as written,
    /// <c>$$</c> is one literal <c>$</c> (so <c>$$(NAME)</c> stays <c>$(NAME)</c>).
    /// </summary>
    public static string Expand(string value, Func<string, string?> lookup)
    {
        var sb = new StringBuilder();
        for (var i = 0; i < value.Length; i++)
        {
            if (value[i] != '$' || i + 1 >= value.Length)
            {
                sb.Append(value[i]);
                continue;
            }
            var next = value[i + 1];
            if (next == '$')
            {
                sb.Append('$');
                i++;
            }
            else if (next == '(' && value.IndexOf(')', i + 2) is var close and >= 0)
            {
                var name = value[(i + 2)..close];
                sb.Append(lookup(name) ?? $"$({name})");
                i = close;
            }
            else
            {
                sb.Append('$').Append(next);
                i++;
            }
        }
        return sb.ToString();
    }

    /// <summary>The downward API's text for a whole label or annotation map: sorted <c>key="value"</c> lines.</summary>
    private static string FormatMap(IDictionary<string, string>? map) =>
        string.Join("\n", (map ?? new Dictionary<string, string>()).OrderBy(e => e.Key, StringComparer.Ordinal).Select(e => $"{e.Key}=\"{e.Value}\""));

    [GeneratedRegex(@"^metadata\.(labels|annotations)\['(.+)'\]\z")]
    private static partial Regex MapField();
}
