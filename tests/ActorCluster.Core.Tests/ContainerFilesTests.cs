using ActorCluster.Core.Workloads;
using k8s.Models;

namespace ActorCluster.Core.Tests;

public class ContainerFilesTests
{
    private static readonly EnvSources Sources = new(
        new Dictionary<string, V1ConfigMap?>
        {
            ["game"] = new() { Data = new Dictionary<string, string> { ["lives"] = "3", ["game.properties"] = "enemies=aliens\n" }, BinaryData = new Dictionary<string, byte[]> { ["logo"] = [0, 255] } },
        },
        new Dictionary<string, V1Secret?> { ["creds"] = new() { Data = new Dictionary<string, byte[]> { ["password"] = "s3"u8.ToArray() } } });

    private static V1PodSpec Spec(params V1Volume[] volumes) => new() { Containers = [], Volumes = volumes };

    private static V1Volume ConfigMapVolume(string name, string configMap, bool? optional = null, params V1KeyToPath[] items) =>
        new() { Name = name, ConfigMap = new V1ConfigMapVolumeSource { Name = configMap, Optional = optional, Items = items.Length == 0 ? null : items } };

    private static V1Container Mounting(params V1VolumeMount[] mounts) => new() { Name = "app", VolumeMounts = mounts };

    [Fact]
    public void Every_key_is_a_file_under_the_mount_path_items_pick_and_rename_and_subPath_mounts_one()
    {
        var spec = Spec(ConfigMapVolume("all", "game"), ConfigMapVolume("some", "game", null, new V1KeyToPath { Key = "lives", Path = "sub/n" }),
            new V1Volume { Name = "sec", Secret = new V1SecretVolumeSource { SecretName = "creds" } });
        var (files, error) = ContainerFiles.Resolve(Mounting(
            new V1VolumeMount { Name = "all", MountPath = "/etc/game/" },
            new V1VolumeMount { Name = "some", MountPath = "/opt" },
            new V1VolumeMount { Name = "sec", MountPath = "/run/secrets" },
            new V1VolumeMount { Name = "all", MountPath = "/app/game.properties", SubPath = "game.properties" }), spec, Sources);
        Assert.Null(error);
        Assert.Equal(["/app/game.properties", "/etc/game/game.properties", "/etc/game/lives", "/etc/game/logo", "/opt/sub/n", "/run/secrets/password"], files.Keys);
        Assert.Equal("enemies=aliens\n"u8.ToArray(), files["/app/game.properties"]);
        Assert.Equal(new byte[] { 0, 255 }, files["/etc/game/logo"]);
        Assert.Equal("s3"u8.ToArray(), files["/run/secrets/password"]);
    }

    [Theory]
    [InlineData("missing", null, "", "MountVolume.SetUp failed for volume \"v\" : configmap \"missing\" not found")]
    [InlineData("missing", true, "", null)]
    [InlineData("game", null, "nope", "MountVolume.SetUp failed for volume \"v\" : configmap references non-existent config key: nope")]
    [InlineData("game", true, "nope", null)]
    public void A_missing_ConfigMap_or_key_is_kubelets_mount_error_unless_optional(string configMap, bool? optional, string item, string? expected)
    {
        var items = item.Length == 0 ? [] : new[] { new V1KeyToPath { Key = item, Path = item } };
        var (files, error) = ContainerFiles.Resolve(Mounting(new V1VolumeMount { Name = "v", MountPath = "/cfg" }), Spec(ConfigMapVolume("v", configMap, optional, items)), Sources);
        Assert.Equal(expected, error);
        if (expected is null) Assert.Empty(files);
    }

    [Fact]
    public void A_pods_volumes_are_among_what_it_references()
    {
        var spec = Spec(ConfigMapVolume("v", "game"), new V1Volume { Name = "s", Secret = new V1SecretVolumeSource { SecretName = "creds" } }, new V1Volume { Name = "e", EmptyDir = new V1EmptyDirVolumeSource() });
        var (configMaps, secrets) = EnvSources.Referenced(spec);
        Assert.Equal(["game"], configMaps);
        Assert.Equal(["creds"], secrets);
    }
}
