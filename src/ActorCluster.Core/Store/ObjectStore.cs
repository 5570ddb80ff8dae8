using System.Collections.Immutable;
using System.Runtime.CompilerServices;
using ActorCluster.Core.Objects;
using k8s;
using k8s.Models;

namespace ActorCluster.Core.Store;

/// <summary>Identity of a stored object: resource, namespace ("" when cluster-scoped) and name.</summary>
public readonly record struct ObjectRef(string Resource, string Namespace, string Name)
{
    public static ObjectRef Of(ResourceKind kind, V1ObjectMeta meta) =>
        new(kind.Resource, kind.Namespaced ? meta.NamespaceProperty ?? "" : "", meta.Name ?? "");

    public override string ToString() => Namespace.Length == 0 ? $"{Resource}/{Name}" : $"{Resource}/{Namespace}/{Name}";
}

/// <summary>One stored object with its kind; the object is frozen (never changed after it is stored).</summary>
public sealed record StoredObject(ResourceKind Kind, IKubernetesObject<V1ObjectMeta> Object)
{
    public ObjectRef Ref => ObjectRef.Of(Kind, Object.Metadata);

    public long ResourceVersion => long.TryParse(Object.Metadata.ResourceVersion, out var rv) ? rv : 0;

    public T As<T>() where T : class, IKubernetesObject<V1ObjectMeta> => (T)Object;

    /// <summary>
    /// The JSON of objects whose text is already known (the ApiServer journals each new version as text). A stored
    /// object never changes, so lists, watch starts, snapshots and copies reuse that text instead of serializing the
    /// object again; keyed by reference, and gone with the object.
    /// </summary>
    private static readonly ConditionalWeakTable<StoredObject, string> KnownJson = new();

    public string ToJson() => KnownJson.TryGetValue(this, out var json) ? json : KubeObjects.ToJson(Object);

    /// <summary>
    /// Remembers <paramref name="json"/> as this object's text. Only for the exact serialization of the object as it
    /// will stay (after its resourceVersion is stamped): the caller promises the object is not changed afterwards.
    /// </summary>
    public StoredObject WithKnownJson(string json)
    {
        KnownJson.AddOrUpdate(this, json);
        return this;
    }

    /// <summary>A deep copy that may be changed (for the next version of the object).</summary>
    public StoredObject DeepCopy() => FromJson(Kind.Resource, ToJson());

    /// <summary>Parses a stored object back from its JSON and resource name.</summary>
    public static StoredObject FromJson(string resource, string json)
    {
        var kind = ResourceKind.All.Single(k => k.Resource == resource);
        var obj = (IKubernetesObject<V1ObjectMeta>)KubeObjects.FromJson(json, kind.Model);
        return new StoredObject(kind, obj);
    }
}

/// <summary>
/// The ApiServer's object store: immutable maps (one per resource) from <see cref="ObjectRef"/> to the latest
/// object, plus the resourceVersion of the last change. Reads (list, get, watch snapshots) share it freely.
/// </summary>
public sealed class ObjectStore
{
    public static readonly ObjectStore Empty = new(ImmutableDictionary<string, ImmutableDictionary<ObjectRef, StoredObject>>.Empty, 0, 0);

    private readonly ImmutableDictionary<string, ImmutableDictionary<ObjectRef, StoredObject>> _byResource;

    private ObjectStore(ImmutableDictionary<string, ImmutableDictionary<ObjectRef, StoredObject>> byResource, long resourceVersion, int count)
    {
        _byResource = byResource;
        ResourceVersion = resourceVersion;
        Count = count;
    }

    /// <summary>The resourceVersion of the newest change (the journal sequence number).</summary>
    public long ResourceVersion { get; }

    public int Count { get; }

    public StoredObject? Get(ObjectRef key) =>
        _byResource.TryGetValue(key.Resource, out var map) ? map.GetValueOrDefault(key) : null;

    public T? Get<T>(ResourceKind kind, string ns, string name) where T : class, IKubernetesObject<V1ObjectMeta> =>
        Get(new ObjectRef(kind.Resource, kind.Namespaced ? ns : "", name))?.As<T>();

    public IEnumerable<StoredObject> All(ResourceKind kind) =>
        _byResource.TryGetValue(kind.Resource, out var map) ? map.Values : [];

    public IEnumerable<StoredObject> All() => _byResource.Values.SelectMany(m => m.Values);

    public IEnumerable<T> All<T>(ResourceKind kind) where T : class, IKubernetesObject<V1ObjectMeta> =>
        All(kind).Select(o => o.As<T>());

    public ObjectStore Put(StoredObject obj, long rv)
    {
        var key = obj.Ref;
        var map = _byResource.GetValueOrDefault(key.Resource) ?? ImmutableDictionary<ObjectRef, StoredObject>.Empty;
        var added = map.ContainsKey(key) ? 0 : 1;
        return new ObjectStore(_byResource.SetItem(key.Resource, map.SetItem(key, obj)), Math.Max(rv, ResourceVersion), Count + added);
    }

    /// <summary>The same objects, known to be current as of <paramref name="rv"/> (e.g. a list's version).</summary>
    public ObjectStore AtVersion(long rv) => new(_byResource, rv, Count);

    public ObjectStore Remove(ObjectRef key, long rv)
    {
        if (!_byResource.TryGetValue(key.Resource, out var map) || !map.ContainsKey(key))
            return new ObjectStore(_byResource, Math.Max(rv, ResourceVersion), Count);
        return new ObjectStore(_byResource.SetItem(key.Resource, map.Remove(key)), Math.Max(rv, ResourceVersion), Count - 1);
    }
}
