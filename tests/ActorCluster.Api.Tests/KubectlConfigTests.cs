using k8s;
using k8s.Models;

namespace ActorCluster.Api.Tests;

/// <summary>
/// ConfigMaps and Secrets with the real kubectl (v1.32) and the official C# client: <c>create configmap|secret</c>
/// (sent as protobuf), the printed tables, stringData folded into data, kube-apiserver's refusals (keys, the size
/// limit, a Secret type's required keys, immutable data, a Secret's type), and many writers of one ConfigMap at once.
/// </summary>
public sealed class KubectlConfigTests(ApiCluster c) : IClassFixture<ApiCluster>
{
    private Kubernetes Client() => new(KubernetesClientConfiguration.BuildConfigFromConfigFile(c.Api.KubeconfigPath));

    [SkippableFact]
    public async Task ConfigMaps_are_created_from_literals_and_files_printed_patched_and_frozen_by_immutable()
    {
        var file = Path.Combine(Path.GetTempPath(), $"settings-{Guid.NewGuid():N}.conf");
        await File.WriteAllTextAsync(file, "mode=fast\nlevel=3\n");
        try
        {
            Assert.Equal("configmap/app-config created\n", await c.Ok("create", "configmap", "app-config", "--from-literal=colour=blue", $"--from-file=settings.conf={file}"));
        }
        finally
        {
            File.Delete(file);
        }
        Assert.Matches(@"(?m)^NAME\s+DATA\s+AGE\napp-config\s+2\s+\d+s$", await c.Ok("get", "configmap", "app-config"));
        Assert.Equal("blue|mode=fast\nlevel=3\n", await c.Ok("get", "cm", "app-config", "-o", "jsonpath={.data.colour}|{.data.settings\\.conf}"));
        var described = await c.Ok("describe", "configmap", "app-config");
        Assert.Matches(@"(?m)^colour:\n----\nblue$", described);

        Assert.Equal("configmap/app-config patched\n", await c.Ok("patch", "configmap", "app-config", "-p", """{"data":{"colour":"green"}}"""));
        Assert.Equal("green", await c.Ok("get", "cm", "app-config", "-o", "jsonpath={.data.colour}"));
        await c.Ok("patch", "configmap", "app-config", "-p", """{"immutable":true}""");
        var frozen = await c.Run("patch", "configmap", "app-config", "-p", """{"data":{"colour":"red"}}""");
        Assert.Contains("The ConfigMap \"app-config\" is invalid: data: Forbidden: field is immutable when `immutable` is set", frozen.Stderr, StringComparison.Ordinal);
        var thawed = await c.Run("patch", "configmap", "app-config", "--type=merge", "-p", """{"immutable":false}""");
        Assert.Contains("The ConfigMap \"app-config\" is invalid: immutable: Forbidden: field is immutable when `immutable` is set", thawed.Stderr, StringComparison.Ordinal);
        // Labels may still change; the data stayed as it was.
        await c.Ok("label", "configmap", "app-config", "tier=web");
        Assert.Equal("green web", await c.Ok("get", "cm", "app-config", "-o", "jsonpath={.data.colour} {.metadata.labels.tier}"));

        var bad = ApiCluster.File("""
            apiVersion: v1
            kind: ConfigMap
            metadata: {name: bad-keys}
            data: {"a b": "1", "..hidden": "2"}
            binaryData: {"ok": "AA=="}
            """);
        var refused = await c.Run("apply", "-f", bad);
        Assert.NotEqual(0, refused.ExitCode);
        Assert.Contains("The ConfigMap \"bad-keys\" is invalid: \n"
                        + "* data[..hidden]: Invalid value: \"..hidden\": must not start with '..'\n"
                        + "* data[a b]: Invalid value: \"a b\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')",
            refused.Stderr, StringComparison.Ordinal);
        Assert.Contains("(NotFound)", (await c.Run("get", "cm", "bad-keys")).Stderr, StringComparison.Ordinal);

        var big = ApiCluster.File($"""
            apiVersion: v1
            kind: ConfigMap
            metadata: {"{"}name: too-big{"}"}
            data: {"{"}a: "{new string('x', 700_000)}", b: "{new string('y', 400_000)}"{"}"}
            """);
        var tooBig = await c.Run("create", "-f", big);
        Assert.Contains("The ConfigMap \"too-big\" is invalid: []: Too long: may not be more than 1048576 bytes", tooBig.Stderr, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task Secrets_keep_data_base64_fold_stringData_in_and_check_what_their_type_requires()
    {
        Assert.Equal("secret/db created\n", await c.Ok("create", "secret", "generic", "db", "--from-literal=user=admin", "--from-literal=password=p@ss w0rd"));
        Assert.Matches(@"(?m)^NAME\s+TYPE\s+DATA\s+AGE\ndb\s+Opaque\s+2\s+\d+s$", await c.Ok("get", "secret", "db"));
        Assert.Equal(Convert.ToBase64String("p@ss w0rd"u8.ToArray()), await c.Ok("get", "secret", "db", "-o", "jsonpath={.data.password}"));
        Assert.Equal("secret/registry created\n", await c.Ok("create", "secret", "docker-registry", "registry", "--docker-server=r.example", "--docker-username=u", "--docker-password=p"));
        Assert.Matches(@"(?m)^registry\s+kubernetes\.io/dockerconfigjson\s+1\s", await c.Ok("get", "secrets"));

        // stringData is write-only: merged into data (winning over the same key), never stored.
        var manifest = ApiCluster.File("""
            apiVersion: v1
            kind: Secret
            metadata: {name: mixed}
            data: {token: b2xk}
            stringData: {token: new, extra: plain}
            """);
        await c.Ok("apply", "-f", manifest);
        Assert.Equal($"{Convert.ToBase64String("new"u8.ToArray())} {Convert.ToBase64String("plain"u8.ToArray())} ", await c.Ok("get", "secret", "mixed", "-o", "jsonpath={.data.token} {.data.extra} {.stringData}"));

        var tls = ApiCluster.File("""
            apiVersion: v1
            kind: Secret
            metadata: {name: half-tls}
            type: kubernetes.io/tls
            data: {tls.crt: AA==}
            """);
        Assert.Contains("The Secret \"half-tls\" is invalid: data[tls.key]: Required value", (await c.Run("apply", "-f", tls)).Stderr, StringComparison.Ordinal);
        var retyped = await c.Run("patch", "secret", "db", "-p", """{"type":"kubernetes.io/basic-auth"}""");
        Assert.Contains("The Secret \"db\" is invalid: type: Invalid value: \"kubernetes.io/basic-auth\": field is immutable", retyped.Stderr, StringComparison.Ordinal);
        var dryRun = await c.Ok("create", "secret", "generic", "dry", "--from-literal=a=b", "--dry-run=server", "-o", "name");
        Assert.Equal("secret/dry\n", dryRun);
        Assert.Contains("(NotFound)", (await c.Run("get", "secret", "dry")).Stderr, StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task A_pods_environment_reads_ConfigMaps_Secrets_and_the_downward_API_and_waits_for_a_missing_ConfigMap()
    {
        await c.Ok("create", "configmap", "env-config", "--from-literal=MODE=fast", "--from-literal=LEVEL=3");
        await c.Ok("create", "secret", "generic", "env-secret", "--from-literal=password=hunter2");
        // A Service that exists before the pod: kubelet's service variables (enableServiceLinks).
        await c.Ok("create", "service", "clusterip", "env-svc", "--tcp=9000:8080");
        var svcIP = await c.Ok("get", "svc", "env-svc", "-o", "jsonpath={.spec.clusterIP}");
        var pod = ApiCluster.File("""
            apiVersion: v1
            kind: Pod
            metadata: {name: env-pod, labels: {app: env}}
            spec:
              containers:
              - name: app
                image: kubetm/app
                envFrom:
                - configMapRef: {name: env-config}
                  prefix: CFG_
                env:
                - {name: CFG_LEVEL, value: overridden}
                - name: DB_PASSWORD
                  valueFrom: {secretKeyRef: {name: env-secret, key: password}}
                - name: MY_POD
                  valueFrom: {fieldRef: {fieldPath: metadata.name}}
                - name: MY_IP
                  valueFrom: {fieldRef: {fieldPath: status.podIP}}
                - name: MY_APP
                  valueFrom: {fieldRef: {fieldPath: "metadata.labels['app']"}}
                - {name: URL, value: "http://$(MY_IP):8080/$(CFG_MODE)/$$(MY_POD)"}
                - name: OPTIONAL
                  valueFrom: {configMapKeyRef: {name: absent, key: x, optional: true}}
            """);
        await c.Ok("apply", "-f", pod);
        await c.Ok("wait", "--for=condition=Ready", "pod/env-pod", "--timeout=30s");
        var ip = await c.Ok("get", "pod", "env-pod", "-o", "jsonpath={.status.podIP}");
        var env = await c.Ok("exec", "env-pod", "--", "env");
        foreach (var line in new[] { "CFG_MODE=fast", "CFG_LEVEL=overridden", "DB_PASSWORD=hunter2", "MY_POD=env-pod", $"MY_IP={ip}", "MY_APP=env", $"URL=http://{ip}:8080/fast/$(MY_POD)",
                     $"ENV_SVC_SERVICE_HOST={svcIP}", "ENV_SVC_SERVICE_PORT=9000", $"ENV_SVC_PORT=tcp://{svcIP}:9000", $"ENV_SVC_PORT_9000_TCP_ADDR={svcIP}" })
            Assert.Contains(line + "\n", env, StringComparison.Ordinal);
        Assert.DoesNotContain("OPTIONAL=", env, StringComparison.Ordinal);

        // A ConfigMap that is not there keeps the container from being created, in kubelet's words, until it is.
        var waiting = ApiCluster.File("""
            apiVersion: v1
            kind: Pod
            metadata: {name: waits-for-config}
            spec:
              containers:
              - name: app
                image: kubetm/app
                env:
                - name: LATER
                  valueFrom: {configMapKeyRef: {name: later-config, key: value}}
            """);
        await c.Ok("apply", "-f", waiting);
        await Cluster.Tests.TestCluster.Eventually(async () => (await c.Ok("get", "pod", "waits-for-config", "-o", "jsonpath={.status.containerStatuses[0].state.waiting.reason}")) == "CreateContainerConfigError",
            TimeSpan.FromSeconds(30), "the container waiting on its ConfigMap");
        Assert.Matches(@"(?m)^waits-for-config\s+0/1\s+CreateContainerConfigError\s", await c.Ok("get", "pod", "waits-for-config"));
        Assert.Equal("configmap \"later-config\" not found", await c.Ok("get", "pod", "waits-for-config", "-o", "jsonpath={.status.containerStatuses[0].state.waiting.message}"));
        Assert.Contains("Error: configmap \"later-config\" not found", await c.Ok("describe", "pod", "waits-for-config"), StringComparison.Ordinal);
        // Then a ConfigMap without the key: kubelet's other message.
        await c.Ok("create", "configmap", "later-config", "--from-literal=other=1");
        await Cluster.Tests.TestCluster.Eventually(async () => (await c.Ok("get", "pod", "waits-for-config", "-o", "jsonpath={.status.containerStatuses[0].state.waiting.message}")) == "couldn't find key value in ConfigMap default/later-config",
            TimeSpan.FromSeconds(30), "kubelet's message for a missing key");
        await c.Ok("patch", "configmap", "later-config", "-p", """{"data":{"value":"arrived"}}""");
        await c.Ok("wait", "--for=condition=Ready", "pod/waits-for-config", "--timeout=30s");
        Assert.Contains("LATER=arrived\n", await c.Ok("exec", "waits-for-config", "--", "env"), StringComparison.Ordinal);
    }

    [SkippableFact]
    public async Task ConfigMap_and_Secret_volumes_put_their_keys_under_the_mount_path_and_a_missing_one_fails_the_mount()
    {
        await c.Ok("create", "configmap", "game-config", "--from-literal=lives=3", "--from-literal=game.properties=enemies=aliens");
        await c.Ok("create", "secret", "generic", "game-secret", "--from-literal=token=t0k3n");
        var pod = ApiCluster.File("""
            apiVersion: v1
            kind: Pod
            metadata: {name: vol-pod}
            spec:
              volumes:
              - {name: config, configMap: {name: game-config}}
              - {name: renamed, configMap: {name: game-config, items: [{key: lives, path: nested/count}]}}
              - {name: secret, secret: {secretName: game-secret}}
              containers:
              - name: app
                image: kubetm/app
                volumeMounts:
                - {name: config, mountPath: /etc/game}
                - {name: renamed, mountPath: /opt}
                - {name: secret, mountPath: /run/secrets/game, readOnly: true}
                readinessProbe:
                  exec: {command: [cat, /etc/game/lives]}
                  periodSeconds: 1
            """);
        await c.Ok("apply", "-f", pod);
        await c.Ok("wait", "--for=condition=Ready", "pod/vol-pod", "--timeout=30s");
        Assert.Equal("3", await c.Ok("exec", "vol-pod", "--", "cat", "/etc/game/lives"));
        Assert.Equal("enemies=aliens3t0k3n", await c.Ok("exec", "vol-pod", "--", "cat", "/etc/game/game.properties", "/opt/nested/count", "/run/secrets/game/token"));
        var missing = await c.Run("exec", "vol-pod", "--", "cat", "/etc/game/nope");
        Assert.Equal(1, missing.ExitCode);
        Assert.Contains("cat: /etc/game/nope: No such file or directory", missing.Stderr, StringComparison.Ordinal);

        var broken = ApiCluster.File("""
            apiVersion: v1
            kind: Pod
            metadata: {name: no-volume-pod}
            spec:
              volumes: [{name: config, configMap: {name: not-there}}]
              containers: [{name: app, image: kubetm/app, volumeMounts: [{name: config, mountPath: /etc/x}]}]
            """);
        await c.Ok("apply", "-f", broken);
        await Cluster.Tests.TestCluster.Eventually(async () => (await c.Ok("describe", "pod", "no-volume-pod")).Contains("MountVolume.SetUp failed for volume \"config\" : configmap \"not-there\" not found", StringComparison.Ordinal),
            TimeSpan.FromSeconds(30), "kubelet's FailedMount event");
        Assert.Matches(@"(?m)^no-volume-pod\s+0/1\s+ContainerCreating\s", await c.Ok("get", "pod", "no-volume-pod"));
        Assert.Matches(@"Warning\s+FailedMount\s", await c.Ok("describe", "pod", "no-volume-pod"));
    }

    [SkippableFact]
    public async Task Every_namespace_has_a_default_ServiceAccount_and_a_pod_naming_a_missing_one_is_refused()
    {
        await c.Ok("create", "namespace", "team-sa");
        Assert.Matches(@"(?m)^NAME\s+SECRETS\s+AGE\ndefault\s+0\s+\d+s$", await c.Ok("-n", "team-sa", "get", "serviceaccounts"));
        Assert.Equal("serviceaccount/robot created\n", await c.Ok("-n", "team-sa", "create", "serviceaccount", "robot"));
        Assert.Matches(@"(?m)^robot\s+0\s", await c.Ok("-n", "team-sa", "get", "sa"));
        var ghost = ApiCluster.File("""
            apiVersion: v1
            kind: Pod
            metadata: {name: ghost-pod, namespace: team-sa}
            spec:
              serviceAccountName: ghost
              containers: [{name: app, image: kubetm/app}]
            """);
        var refused = await c.Run("apply", "-f", ghost);
        Assert.Contains("Error from server (Forbidden): error when creating \"" + ghost + "\": pods \"ghost-pod\" is forbidden: error looking up service account team-sa/ghost: serviceaccount \"ghost\" not found", refused.Stderr, StringComparison.Ordinal);
        await c.Ok("-n", "team-sa", "run", "robot-pod", "--image=kubetm/app", "--overrides", """{"spec":{"serviceAccountName":"robot"}}""");
        Assert.Equal("robot", await c.Ok("-n", "team-sa", "get", "pod", "robot-pod", "-o", "jsonpath={.spec.serviceAccountName}"));
        await c.Ok("-n", "team-sa", "run", "plain-pod", "--image=kubetm/app");
        Assert.Equal("default", await c.Ok("-n", "team-sa", "get", "pod", "plain-pod", "-o", "jsonpath={.spec.serviceAccountName}"));
        await c.Ok("delete", "namespace", "team-sa", "--wait=false");
    }

    [SkippableFact]
    public async Task The_official_client_reads_Secret_bytes_and_many_writers_of_one_ConfigMap_each_get_their_turn()
    {
        using var client = Client();
        var created = await client.CoreV1.CreateNamespacedSecretAsync(new V1Secret
        {
            Metadata = new V1ObjectMeta { Name = "binary" },
            Data = new Dictionary<string, byte[]> { ["blob"] = [0, 1, 2, 255] },
            StringData = new Dictionary<string, string> { ["text"] = "hello" },
        }, "default");
        Assert.Equal("Opaque", created.Type);
        Assert.Null(created.StringData);
        var read = await client.CoreV1.ReadNamespacedSecretAsync("binary", "default");
        Assert.Equal(new byte[] { 0, 1, 2, 255 }, read.Data["blob"]);
        Assert.Equal("hello"u8.ToArray(), read.Data["text"]);

        // 20 writers, each adding its own key to one ConfigMap with read-modify-write: a stale write gets 409 and
        // retries with a jittered exponential back-off (client-go's retry.RetryOnConflict shape; a read shows only
        // durable writes, so a retry at once can meet the same in-flight write again); every key must be there in the
        // end (none lost to a write that did not see it).
        await client.CoreV1.CreateNamespacedConfigMapAsync(new V1ConfigMap { Metadata = new V1ObjectMeta { Name = "counter" }, Data = new Dictionary<string, string>() }, "default");
        var conflicts = 0;
        await Task.WhenAll(Enumerable.Range(0, 20).Select(async i =>
        {
            using var writer = Client();
            var random = new Random(i);
            for (var attempt = 0; attempt < 30; attempt++)
            {
                if (attempt > 0) await Task.Delay(TimeSpan.FromMilliseconds(Math.Min(10 << Math.Min(attempt, 6), 500) * (1 + random.NextDouble() * 0.5)));
                var cm = await writer.CoreV1.ReadNamespacedConfigMapAsync("counter", "default");
                cm.Data ??= new Dictionary<string, string>();
                cm.Data[$"writer-{i}"] = i.ToString(System.Globalization.CultureInfo.InvariantCulture);
                try
                {
                    await writer.CoreV1.ReplaceNamespacedConfigMapAsync(cm, "counter", "default");
                    return;
                }
                catch (k8s.Autorest.HttpOperationException e) when (e.Response.StatusCode == System.Net.HttpStatusCode.Conflict)
                {
                    Interlocked.Increment(ref conflicts);
                }
            }
            Assert.Fail($"writer {i} never got its turn");
        }));
        var final = await client.CoreV1.ReadNamespacedConfigMapAsync("counter", "default");
        Assert.Equal(Enumerable.Range(0, 20).Select(i => $"writer-{i}").Order(), final.Data.Keys.Order());
        Assert.True(conflicts > 0, "20 concurrent read-modify-writes met no conflict: the test did not race");
    }
}
