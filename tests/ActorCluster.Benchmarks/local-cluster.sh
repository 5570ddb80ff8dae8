#!/usr/bin/env bash
# Times the local cluster as a user meets it (figures go to docs/benchmarks.md):
#   1. `actorcluster up` to "nodes Ready" (3 nodes)
#   2. `kubectl apply` of a pod to its first answer through a NodePort
#   3. kill -9 of the node running one of two pods to the NodePort answering only from the surviving pod
# Usage: tests/ActorCluster.Benchmarks/local-cluster.sh   (needs kubectl and curl; uses 127.0.1.1-3, ports 4053/6443/30080)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
dotnet build -c Release "$root/src/ActorCluster.Host" -v q >/dev/null
bin="$root/src/ActorCluster.Host/bin/Release/net10.0/actorcluster"
dir=$(mktemp -d /tmp/actorcluster-bench-up.XXXXXX)
export KUBECONFIG="$dir/kubeconfig"
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
cleanup() { [ -n "${up:-}" ] && kill -TERM "$up" 2>/dev/null; wait "${up:-}" 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT

t0=$(now)
"$bin" up --data-dir "$dir" > "$dir/up.out" 2>&1 &
up=$!
for _ in $(seq 1 600); do grep -q "nodes Ready" "$dir/up.out" && break; sleep 0.1; done
echo "up to ready (3 nodes): $(since "$t0") s"

kubectl apply -f - >/dev/null <<'YAML'
apiVersion: v1
kind: Service
metadata: {name: bench}
spec:
  type: NodePort
  selector: {app: bench}
  ports: [{port: 80, targetPort: 8080, nodePort: 30080}]
YAML
pod() { cat <<YAML
apiVersion: v1
kind: Pod
metadata: {name: $1, labels: {app: bench}}
spec:
  nodeSelector: {kubernetes.io/hostname: $2}
  containers: [{name: app, image: kubetm/app, ports: [{containerPort: 8080}]}]
YAML
}
t1=$(now)
pod bench-1 k8s-worker1 | kubectl apply -f - >/dev/null
for _ in $(seq 1 600); do [ "$(curl -s --max-time 1 127.0.1.3:30080/hostname)" = "bench-1" ] && break; sleep 0.05; done
echo "apply of a pod to its first answer through a NodePort: $(since "$t1") s"

pod bench-2 k8s-worker2 | kubectl apply -f - >/dev/null
kubectl wait --for=condition=Ready pod/bench-2 --timeout=60s >/dev/null
for _ in $(seq 1 200); do [ "$(curl -s --max-time 1 127.0.1.1:30080/hostname)" = "bench-2" ] && break; done
t2=$(now)
kill -9 "$(cat "$dir/nodes/k8s-worker2.pid")"
streak=0
for _ in $(seq 1 3000); do
  if [ "$(curl -s --max-time 1 127.0.1.1:30080/hostname)" = "bench-1" ]; then streak=$((streak + 1)); else streak=0; fi
  [ $streak -ge 20 ] && break
  sleep 0.02
done
echo "kill -9 of k8s-worker2 to the NodePort answering only from bench-1 (20 in a row): $(since "$t2") s"
