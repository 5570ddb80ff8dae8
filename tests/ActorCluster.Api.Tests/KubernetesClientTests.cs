using k8s;
using k8s.Autorest;
using k8s.Models;

namespace ActorCluster.Api.Tests;

/// <summary>The official C# client (KubernetesClient) against the cluster: CRUD, selectors, watch and errors.</summary>
public sealed class KubernetesClientTests(ApiCluster c) : IClassFixture<ApiCluster>
{
    private Kubernetes Client() => new(KubernetesClientConfiguration.BuildConfigFromConfigFile(c.Api.KubeconfigPath));

    [Fact]
    public async Task Services_can_be_created_read_listed_updated_and_deleted()
    {
        using var client = Client();
        var created = await client.CoreV1.CreateNamespacedServiceAsync(new V1Service
        {
            Metadata = new V1ObjectMeta { Name = "cs-web", Labels = new Dictionary<string, string> { ["via"] = "csharp" } },
            Spec = new V1ServiceSpec { Type = "NodePort", Selector = new Dictionary<string, string> { ["app"] = "web" }, Ports = [new V1ServicePort { Port = 80 }] },
        }, "default");
        Assert.StartsWith("127.", created.Spec.ClusterIP, StringComparison.Ordinal);
        Assert.InRange(created.Spec.Ports[0].NodePort!.Value, 30000, 32767);

        var read = await client.CoreV1.ReadNamespacedServiceAsync("cs-web", "default");
        Assert.Equal(created.Metadata.Uid, read.Metadata.Uid);

        var listed = await client.CoreV1.ListNamespacedServiceAsync("default", labelSelector: "via=csharp");
        Assert.Equal(["cs-web"], listed.Items.Select(s => s.Metadata.Name));
        Assert.Empty((await client.CoreV1.ListNamespacedServiceAsync("default", labelSelector: "via=nothing")).Items);
        Assert.Equal(["cs-web"], (await client.CoreV1.ListServiceForAllNamespacesAsync(fieldSelector: "metadata.name=cs-web")).Items.Select(s => s.Metadata.Name));

        read.Metadata.Labels["tier"] = "front";
        var replaced = await client.CoreV1.ReplaceNamespacedServiceAsync(read, "cs-web", "default");
        Assert.Equal("front", replaced.Metadata.Labels["tier"]);
        Assert.Equal(created.Spec.ClusterIP, replaced.Spec.ClusterIP);

        // The old version is stale now: 409 Conflict.
        var conflict = await Assert.ThrowsAsync<HttpOperationException>(() => client.CoreV1.ReplaceNamespacedServiceAsync(read, "cs-web", "default"));
        Assert.Equal(System.Net.HttpStatusCode.Conflict, conflict.Response.StatusCode);
        Assert.Contains("the object has been modified; please apply your changes to the latest version and try again", conflict.Response.Content, StringComparison.Ordinal);

        await client.CoreV1.DeleteNamespacedServiceAsync("cs-web", "default");
        var missing = await Assert.ThrowsAsync<HttpOperationException>(() => client.CoreV1.ReadNamespacedServiceAsync("cs-web", "default"));
        Assert.Equal(System.Net.HttpStatusCode.NotFound, missing.Response.StatusCode);
    }

    [Fact]
    public async Task Invalid_objects_map_to_a_422_status_with_causes()
    {
        using var client = Client();
        var error = await Assert.ThrowsAsync<HttpOperationException>(() => client.CoreV1.CreateNamespacedServiceAsync(new V1Service
        {
            Metadata = new V1ObjectMeta { Name = "cs-bad" },
            Spec = new V1ServiceSpec { Type = "NodePort", Ports = [new V1ServicePort { Port = 80, NodePort = 80 }] },
        }, "default"));
        Assert.Equal((System.Net.HttpStatusCode)422, error.Response.StatusCode);
        var status = KubernetesJson.Deserialize<V1Status>(error.Response.Content);
        Assert.Equal("Invalid", status.Reason);
        Assert.Equal("spec.ports[0].nodePort", status.Details.Causes.Single().Field);
        Assert.Equal("Invalid value: 80: provided port is not in the valid range. The range of valid ports is 30000-32767", status.Details.Causes.Single().Message);
    }

    [Fact]
    public async Task A_watch_sees_objects_appear()
    {
        using var client = Client();
        var list = await client.CoreV1.ListNamespacedServiceAsync("default");
        var seen = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var watching = Task.Run(async () =>
        {
            await foreach (var (type, svc) in client.CoreV1.WatchListNamespacedServiceAsync("default", resourceVersion: list.Metadata.ResourceVersion, cancellationToken: cts.Token))
            {
                if (type == WatchEventType.Added && svc.Metadata.Name == "cs-watched") seen.TrySetResult(svc.Metadata.Name);
            }
        }, cts.Token);
        await client.CoreV1.CreateNamespacedServiceAsync(new V1Service
        {
            Metadata = new V1ObjectMeta { Name = "cs-watched" },
            Spec = new V1ServiceSpec { Ports = [new V1ServicePort { Port = 80 }] },
        }, "default");
        Assert.Equal("cs-watched", await seen.Task.WaitAsync(cts.Token));
        await cts.CancelAsync();
        try
        {
            await watching;
        }
        catch (OperationCanceledException)
        {
        }
    }
}
