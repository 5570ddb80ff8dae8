using ActorCluster.Core.Api;
using ActorCluster.Core.Objects;
using k8s.Models;

namespace ActorCluster.Core.Registry;

/// <summary>What the generic registry does to metadata on create and update (rest.FillObjectMetaSystemFields and friends).</summary>
public static class ObjectMetaRules
{
    public const string NamespaceMismatch = "the namespace of the provided object does not match the namespace sent on the request";

    /// <summary>Namespace from the request; a different one in the body is a BadRequest, as in kube-apiserver.</summary>
    public static ApiError? ApplyNamespace(V1ObjectMeta meta, string? ns)
    {
        if (ns is null) return null; // cluster-scoped
        if (!string.IsNullOrEmpty(meta.NamespaceProperty) && meta.NamespaceProperty != ns)
            return ApiError.BadRequest(NamespaceMismatch);
        meta.NamespaceProperty = ns;
        return null;
    }

    public static void PrepareCreate(V1ObjectMeta meta, WriteContext ctx)
    {
        meta.Uid = ctx.NewUid();
        meta.CreationTimestamp = Truncate(ctx.Now);
        meta.Generation = 1;
        meta.ResourceVersion = null;
        meta.DeletionTimestamp = null;
        meta.DeletionGracePeriodSeconds = null;
        // managedFields are kept as written (server-side apply records its managers there).
        meta.SelfLink = null;
    }

    private const string NameAlphabet = "bcdfghjklmnpqrstvwxz2456789";
    private const int MaxGeneratedNameLength = 63 - 5;

    /// <summary>
    /// apiserver's SimpleNameGenerator: the prefix (cut to 58 characters) and 5 characters from an alphabet without
    /// vowels or look-alikes, here drawn from a fresh uid so the choice stays with the caller's uid source.
    /// </summary>
    public static string GenerateName(string prefix, string entropy)
    {
        if (prefix.Length > MaxGeneratedNameLength) prefix = prefix[..MaxGeneratedNameLength];
        var hash = System.Security.Cryptography.SHA256.HashData(System.Text.Encoding.UTF8.GetBytes(entropy));
        var suffix = new char[5];
        for (var i = 0; i < suffix.Length; i++) suffix[i] = NameAlphabet[hash[i] % NameAlphabet.Length];
        return prefix + new string(suffix);
    }

    /// <summary>metadata.generateName: a free name from <paramref name="prefix"/>, retried on a clash as kube-apiserver does (7 tries).</summary>
    public static string FreeGeneratedName(string prefix, Func<string, bool> taken, Func<string> newUid)
    {
        var name = GenerateName(prefix, newUid());
        for (var attempt = 1; attempt < 7 && taken(name); attempt++) name = GenerateName(prefix, newUid());
        return name;
    }

    /// <summary>
    /// An update keeps the system fields of the stored object; generation moves when the spec changes.
    /// A stale resourceVersion is a Conflict; an empty one means an unconditional update (Services and Pods allow it).
    /// </summary>
    public static ApiError? PrepareUpdate(ResourceKind kind, V1ObjectMeta meta, V1ObjectMeta old, bool specChanged)
    {
        if (StaleVersion(kind, meta, old) is { } stale) return stale;
        if (string.IsNullOrEmpty(meta.Uid)) meta.Uid = old.Uid;
        meta.CreationTimestamp = old.CreationTimestamp;
        meta.Generation = (old.Generation ?? 1) + (specChanged ? 1 : 0);
        meta.DeletionTimestamp = old.DeletionTimestamp;
        meta.DeletionGracePeriodSeconds = old.DeletionGracePeriodSeconds;
        meta.ResourceVersion = old.ResourceVersion;
        // An update that says nothing about managedFields keeps them (as kube-apiserver does).
        meta.ManagedFields ??= old.ManagedFields;
        return null;
    }

    /// <summary>Optimistic concurrency: a resourceVersion that is given must be the stored one.</summary>
    public static ApiError? StaleVersion(ResourceKind kind, V1ObjectMeta? given, V1ObjectMeta stored) =>
        !string.IsNullOrEmpty(given?.ResourceVersion) && given.ResourceVersion != stored.ResourceVersion
            ? ApiError.StaleResourceVersion(kind, stored.Name)
            : null;

    /// <summary>metav1.Time has second precision on the wire.</summary>
    public static DateTime Truncate(DateTime t) =>
        new(t.Ticks - t.Ticks % TimeSpan.TicksPerSecond, DateTimeKind.Utc);
}
