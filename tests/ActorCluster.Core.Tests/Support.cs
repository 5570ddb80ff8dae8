using ActorCluster.Core.Allocation;
using ActorCluster.Core.Api;
using ActorCluster.Core.Objects;
using ActorCluster.Core.Registry;
using k8s.Models;

namespace ActorCluster.Core.Tests;

/// <summary>An in-memory registry of Services driven only through Core's pure decisions, as the ApiServer drives them.</summary>
internal sealed class ServiceRegistry
{
    private int _uid;

    public ServiceRegistry(ServiceNetworkConfig? config = null, int seed = 1)
    {
        Config = config ?? ServiceNetworkConfig.Default;
        Allocator = new ServiceAllocator(Config, new Random(seed));
    }

    public ServiceNetworkConfig Config { get; }

    public ServiceAllocator Allocator { get; }

    public Dictionary<string, V1Service> Stored { get; } = new();

    private int _version;

    public WriteContext Context => new("default", new DateTime(2026, 11, 26, 12, 0, 0, DateTimeKind.Utc), () => "uid-" + ++_uid);

    public Admission<V1Service> Create(V1Service svc)
    {
        Stored.TryGetValue(svc.Metadata?.Name ?? "", out var existing);
        var result = ServiceAdmission.Create(svc, existing, Allocator, Context);
        Commit(result);
        return result;
    }

    public Admission<V1Service> Create(string yaml) => Create(Yaml.Service(yaml));

    public Admission<V1Service> Update(V1Service svc)
    {
        var existing = Stored[svc.Metadata.Name];
        var result = ServiceAdmission.Update(svc, existing, Allocator, Context);
        Commit(result);
        return result;
    }

    public void Delete(string name)
    {
        var existing = Stored[name];
        Stored.Remove(name);
        ServiceAdmission.Delete(existing, Allocator).Commit();
    }

    private void Commit(Admission<V1Service> result)
    {
        if (!result.Ok) return;
        result.Object!.Metadata.ResourceVersion = (++_version).ToString(System.Globalization.CultureInfo.InvariantCulture);
        Stored[result.Object.Metadata.Name] = result.Object;
        result.Transaction.Commit();
    }

    public string ErrorOf(string yaml)
    {
        var result = Create(yaml);
        Assert.False(result.Ok, "expected the write to be rejected");
        return result.Error!.KubectlMessage();
    }

    public V1Service Ok(string yaml)
    {
        var result = Create(yaml);
        Assert.True(result.Ok, result.Error?.KubectlMessage());
        return result.Object!;
    }
}

internal static class Yaml
{
    public static V1Service Service(string yaml) => (V1Service)KubeObjects.LoadAll(yaml).Single();

    public static V1Pod Pod(string yaml) => (V1Pod)KubeObjects.LoadAll(yaml).Single();

    public static string SeedManifest(string file)
    {
        var dir = AppContext.BaseDirectory;
        while (dir is not null && !File.Exists(Path.Combine(dir, "ActorCluster.sln"))) dir = Path.GetDirectoryName(dir);
        return File.ReadAllText(Path.Combine(dir ?? throw new InvalidOperationException("repository root not found"), "deploy", "examples", "seed", file));
    }
}
