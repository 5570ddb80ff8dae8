namespace ActorCluster.IntegrationTests;

/// <summary>
/// <c>actorcluster up --proxy-mode nftables</c> as a user runs it, inside a network namespace of its own (so its
/// kernel rules cannot touch this machine's traffic or the other tests' clusters, and it can run beside them): the
/// walkthrough's NodePort carried by the kernel, a crash (kill -9 of <c>up</c> and every node) that leaves the
/// tables behind, the next <c>up</c> removing them, and nothing left in the kernel after <c>down</c>.
/// </summary>
public sealed class KernelModeUpTests : IDisposable
{
    private readonly string _dataDir = Path.Combine(Path.GetTempPath(), "actorcluster-nft-e2e", Guid.NewGuid().ToString("N"));

    public void Dispose()
    {
        // The namespace (and every process and table in it) is gone with the script; only files remain.
        if (Directory.Exists(_dataDir)) Directory.Delete(_dataDir, recursive: true);
    }

    [SkippableFact]
    public async Task Up_in_nftables_mode_serves_through_the_kernel_and_cleans_up_after_a_crash()
    {
        Skip.IfNot(Environment.UserName == "root" && File.Exists("/usr/sbin/nft") && File.Exists("/usr/bin/unshare"),
            "needs root, nft (Debian package nftables) and unshare");
        var seed = Path.Combine(UpProcess.RepositoryRoot(), "deploy", "examples", "seed");
        const string script = """
            set -u
            ip link set lo up
            A="$1"; D="$2"; SEED="$3"; KUBECTL="$4"
            tables() { nft list tables ip | grep -c '^table ip actorcluster-' ; }
            answers() { for i in $(seq 1 100); do r=$(curl -s -m 2 "http://$1/hostname") && [ -n "$r" ] && { echo "$r"; return 0; }; sleep 0.3; done; return 1; }
            "$A" up --detach --proxy-mode nftables --data-dir "$D" || exit 10
            echo "tables after up: $(tables)"
            export KUBECONFIG="$D/kubeconfig"
            "$KUBECTL" apply -f "$SEED/pod-1.yaml" -f "$SEED/pod-2.yaml" -f "$SEED/svc-2-nodeport.yaml" >/dev/null || exit 11
            "$KUBECTL" wait --for=condition=Ready pod/pod-1 pod/pod-2 --timeout=60s >/dev/null || exit 12
            echo "node 3 NodePort: $(answers 127.0.1.3:30000)"
            grep -h "service proxy mode" "$D"/logs/k8s-worker*.log | sed 's/.*service proxy mode/service proxy mode/' | sort -u
            "$KUBECTL" get --raw /metrics | grep '^actorcluster_proxy_mode{'
            # gone: no process, or a zombie nobody reaps (it holds no socket)
            gone() { [ ! -e "/proc/$1" ] || [ "$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null)" = Z ]; }
            for f in "$D/up.pid" "$D"/nodes/*.pid; do kill -9 "$(cat "$f")"; done
            for f in "$D/up.pid" "$D"/nodes/*.pid; do p=$(cat "$f"); for i in $(seq 1 200); do gone "$p" && break; sleep 0.05; done; done
            echo "tables after kill -9: $(tables)"
            "$A" up --detach --proxy-mode nftables --data-dir "$D" | grep "removed nftables table" | sort
            echo "node 1 NodePort after the crash: $(answers 127.0.1.1:30000)"
            "$A" down --data-dir "$D" >/dev/null || exit 13
            echo "tables after down: $(tables)"
            """;
        var (code, stdout, stderr) = await UpProcess.Exec("unshare", TimeSpan.FromMinutes(4), null,
            "--net", "--", "bash", "-c", script, "nft-e2e", UpProcess.Binary, _dataDir, seed, UpProcess.Kubectl());
        var text = stdout + stderr;
        Assert.True(code == 0, text);
        Assert.True(text.Contains("tables after up: 3", StringComparison.Ordinal), text);
        Assert.Matches("node 3 NodePort: pod-[12]", text);
        Assert.Contains("service proxy mode: nftables (table ip actorcluster-k8s-worker1; the kernel carries Service traffic)", text, StringComparison.Ordinal);
        Assert.Contains("actorcluster_proxy_mode{mode=\"nftables\",node=\"k8s-worker1\"} 1", text, StringComparison.Ordinal);
        Assert.Contains("actorcluster_proxy_mode{mode=\"userspace\",node=\"k8s-worker1\"} 0", text, StringComparison.Ordinal);
        // A process killed with -9 cannot remove its table: they stay until the next `up` removes them.
        Assert.Contains("tables after kill -9: 3", text, StringComparison.Ordinal);
        for (var i = 1; i <= 3; i++)
            Assert.Contains($"actorcluster up: removed nftables table actorcluster-k8s-worker{i} (its node process is gone)", text, StringComparison.Ordinal);
        Assert.Matches("node 1 NodePort after the crash: pod-[12]", text);
        Assert.Contains("tables after down: 0", text, StringComparison.Ordinal);
    }
}
