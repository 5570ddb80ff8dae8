using ActorCluster.Core.Objects;
using ActorCluster.Core.Registry;

namespace ActorCluster.Core.Tests;

public class PodValidationTests
{
    private static string Pod(string spec, string name = "pod-1") =>
        $"apiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\nspec:\n" + string.Join("\n", spec.Split('\n').Select(l => "  " + l));

    private const string Container = "containers:\n- name: app\n  image: kubetm/app";

    public static TheoryData<string, string> Errors => new()
    {
        { Pod(Container, "Pod_1"), "The Pod \"Pod_1\" is invalid: metadata.name: Invalid value: \"Pod_1\": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')" },
        { Pod("restartPolicy: Always"), "The Pod \"pod-1\" is invalid: spec.containers: Required value" },
        { Pod("containers:\n- name: app\n  image: a\n- name: app\n  image: b"), "The Pod \"pod-1\" is invalid: spec.containers[1].name: Duplicate value: \"app\"" },
        { Pod("containers:\n- image: a"), "The Pod \"pod-1\" is invalid: spec.containers[0].name: Required value" },
        { Pod("containers:\n- name: App\n  image: a"), "The Pod \"pod-1\" is invalid: spec.containers[0].name: Invalid value: \"App\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')" },
        { Pod("containers:\n- name: app"), "The Pod \"pod-1\" is invalid: spec.containers[0].image: Required value" },
        { Pod(Container + "\n  ports:\n  - containerPort: 70000"), "The Pod \"pod-1\" is invalid: spec.containers[0].ports[0].containerPort: Invalid value: 70000: must be between 1 and 65535, inclusive" },
        { Pod(Container + "\n  ports:\n  - containerPort: 0"), "The Pod \"pod-1\" is invalid: spec.containers[0].ports[0].containerPort: Required value" },
        { Pod(Container + "\n  ports:\n  - containerPort: 80\n    protocol: HTTP"), "The Pod \"pod-1\" is invalid: spec.containers[0].ports[0].protocol: Unsupported value: \"HTTP\": supported values: \"SCTP\", \"TCP\", \"UDP\"" },
        { Pod(Container + "\n  ports:\n  - containerPort: 80\n    name: web\n  - containerPort: 81\n    name: web"), "The Pod \"pod-1\" is invalid: spec.containers[0].ports[1].name: Duplicate value: \"web\"" },
        { Pod(Container + "\nnodeSelector:\n  kubernetes.io/hostname: -worker"), "The Pod \"pod-1\" is invalid: spec.nodeSelector: Invalid value: \"-worker\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')" },
        { Pod(Container + "\n  volumeMounts:\n  - {name: config, mountPath: /etc/config}"), "The Pod \"pod-1\" is invalid: spec.containers[0].volumeMounts[0].name: Not found: \"config\"" },
        { Pod(Container + "\n  volumeMounts:\n  - {name: v, mountPath: /a}\n  - {name: v, mountPath: /a}\nvolumes:\n- {name: v, emptyDir: {}}"), "The Pod \"pod-1\" is invalid: spec.containers[0].volumeMounts[1].mountPath: Invalid value: \"/a\": must be unique" },
        { Pod(Container + "\nvolumes:\n- {name: v, emptyDir: {}}\n- {name: v, emptyDir: {}}"), "The Pod \"pod-1\" is invalid: spec.volumes[1].name: Duplicate value: \"v\"" },
        { Pod(Container + "\nvolumes:\n- {name: v}"), "The Pod \"pod-1\" is invalid: spec.volumes[0]: Required value: must specify a volume type" },
        { Pod(Container + "\nvolumes:\n- {name: v, configMap: {}}"), "The Pod \"pod-1\" is invalid: spec.volumes[0].configMap.name: Required value" },
        { Pod(Container + "\nvolumes:\n- {name: v, secret: {secretName: s, items: [{key: k, path: ../up}]}}"), "The Pod \"pod-1\" is invalid: spec.volumes[0].secret.items[0].path: Invalid value: \"../up\": must not contain '..'" },
        { Pod(Container + "\nvolumes:\n- {name: V_1, emptyDir: {}}"), "The Pod \"pod-1\" is invalid: spec.volumes[0].name: Invalid value: \"V_1\": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')" },
        { Pod(Container + "\nrestartPolicy: Sometimes"), "The Pod \"pod-1\" is invalid: spec.restartPolicy: Unsupported value: \"Sometimes\": supported values: \"Always\", \"OnFailure\", \"Never\"" },
    };

    [Theory]
    [MemberData(nameof(Errors))]
    public void Create_is_rejected_with_kubernetes_exact_message(string yaml, string expected)
    {
        var result = PodAdmission.Create(Yaml.Pod(yaml), null, WriteContext.For("default"));
        Assert.False(result.Ok);
        Assert.Equal(expected, result.Error!.KubectlMessage());
    }

    [Fact]
    public void Updates_may_change_images_but_not_the_rest_of_the_spec()
    {
        var created = PodAdmission.Create(Yaml.Pod(Yaml.SeedManifest("pod-1.yaml")), null, WriteContext.For("default")).Object!;
        created.Metadata.ResourceVersion = "5";

        var image = KubeObjects.Clone(created);
        image.Spec.Containers[0].Image = "kubetm/app:v2";
        image.Metadata.Labels["version"] = "2";
        var ok = PodAdmission.Update(image, created);
        Assert.True(ok.Ok, ok.Error?.KubectlMessage());
        Assert.Equal(2, ok.Object!.Metadata.Generation);

        var moved = KubeObjects.Clone(created);
        moved.Spec.NodeSelector["kubernetes.io/hostname"] = "k8s-worker2";
        Assert.StartsWith("The Pod \"pod-1\" is invalid: spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`",
            PodAdmission.Update(moved, created).Error!.KubectlMessage(), StringComparison.Ordinal);

        var stale = KubeObjects.Clone(created);
        stale.Metadata.ResourceVersion = "4";
        Assert.Equal(409, PodAdmission.Update(stale, created).Error!.Code);

        Assert.Equal("Error from server (AlreadyExists): pods \"pod-1\" already exists",
            PodAdmission.Create(Yaml.Pod(Yaml.SeedManifest("pod-1.yaml")), created, WriteContext.For("default")).Error!.KubectlMessage());
    }
}
