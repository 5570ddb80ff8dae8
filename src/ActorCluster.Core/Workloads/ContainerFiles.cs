using System.Text;
using k8s.Models;

namespace ActorCluster.Core.Workloads;

/// <summary>
/// The files a container sees from its ConfigMap and Secret volumes, as kubelet projects them: every key (or the
/// listed <c>items</c>, at their <c>path</c>) as a file under the volume's <c>mountPath</c>; a <c>subPath</c> mounts
/// one of them at the mount path itself. A volume whose ConfigMap or Secret is not there (and not optional), or an
/// item naming a key it lacks, is kubelet's mount error, which keeps the container from being created.
/// </summary>
public static class ContainerFiles
{
    public static (IReadOnlyDictionary<string, byte[]> Files, string? Error) Resolve(V1Container container, V1PodSpec spec, EnvSources sources)
    {
        var files = new SortedDictionary<string, byte[]>(StringComparer.Ordinal);
        var volumes = (spec.Volumes ?? []).ToDictionary(v => v.Name, StringComparer.Ordinal);
        foreach (var mount in container.VolumeMounts ?? [])
        {
            if (!volumes.TryGetValue(mount.Name, out var volume)) continue;
            var (contents, error) = Contents(volume, sources);
            if (error is not null) return (files, $"MountVolume.SetUp failed for volume {Quote(volume.Name)} : {error}");
            if (contents is null) continue;
            var root = mount.MountPath.TrimEnd('/');
            foreach (var (path, bytes) in contents)
            {
                if (string.IsNullOrEmpty(mount.SubPath)) files[$"{root}/{path}"] = bytes;
                else if (path == mount.SubPath) files[root] = bytes;
            }
        }
        return (files, null);
    }

    /// <summary>The ConfigMap and Secret names a pod's volumes read.</summary>
    public static IEnumerable<(bool Secret, string Name)> Referenced(V1PodSpec spec) =>
        (spec.Volumes ?? []).SelectMany(v => v.ConfigMap?.Name is { Length: > 0 } cm ? [(false, cm)]
            : v.Secret?.SecretName is { Length: > 0 } s ? new[] { (true, s) } : []);

    /// <summary>The volume's files by relative path; null for a volume of another kind, or an optional one that is not there.</summary>
    private static (IReadOnlyDictionary<string, byte[]>? Files, string? Error) Contents(V1Volume volume, EnvSources sources)
    {
        if (volume.ConfigMap is { } cmSource)
        {
            var cm = sources.ConfigMaps.GetValueOrDefault(cmSource.Name ?? "");
            if (cm is null) return cmSource.Optional == true ? (null, null) : (null, $"configmap {Quote(cmSource.Name)} not found");
            var data = (cm.Data ?? new Dictionary<string, string>()).ToDictionary(e => e.Key, e => Encoding.UTF8.GetBytes(e.Value ?? ""));
            foreach (var (key, value) in cm.BinaryData ?? new Dictionary<string, byte[]>()) data[key] = value ?? [];
            return Project(data, cmSource.Items, cmSource.Optional == true, "configmap");
        }
        if (volume.Secret is { } secretSource)
        {
            var secret = sources.Secrets.GetValueOrDefault(secretSource.SecretName ?? "");
            if (secret is null) return secretSource.Optional == true ? (null, null) : (null, $"secret {Quote(secretSource.SecretName)} not found");
            var data = (secret.Data ?? new Dictionary<string, byte[]>()).ToDictionary(e => e.Key, e => e.Value ?? []);
            return Project(data, secretSource.Items, secretSource.Optional == true, "secret");
        }
        return (null, null);
    }

    /// <summary>All keys, or only the listed items at their paths (kubelet's MakePayload and its messages).</summary>
    private static (IReadOnlyDictionary<string, byte[]>? Files, string? Error) Project(Dictionary<string, byte[]> data, IList<V1KeyToPath>? items, bool optional, string kind)
    {
        if (items is not { Count: > 0 }) return (data, null);
        var files = new Dictionary<string, byte[]>(StringComparer.Ordinal);
        foreach (var item in items)
        {
            if (data.TryGetValue(item.Key, out var value)) files[item.Path] = value;
            else if (!optional) return (null, $"{kind} references non-existent {(kind == "secret" ? "secret" : "config")} key: {item.Key}");
        }
        return (files, null);
    }

    private static string Quote(string? s) => "\"" + s + "\"";
}
