#!/bin/bash
# deploy/swarm/e2e.sh: ActorCluster on a real 3-host Docker Swarm on this machine, end to end.
#
# Needs root and Debian packages (installed when missing): docker.io containerd runc iptables postgresql
# iputils-arping curl. Three network namespaces n1..n3 (10.200.0.11-13, behind bridge kbr0 at 10.200.0.1) each
# run their own dockerd with hostname k8s-worker<i>; they form a swarm (manager on n1). PostgreSQL (a cluster of
# its own, port 5433) listens on 10.200.0.1. The node image is built with deploy/docker/build-image.sh, loaded on
# each host, and deploy/swarm/stack.yml is deployed. Then the seed walkthrough runs across the hosts with the real
# kubectl; at the end (even on failure or Ctrl-C) everything is torn down. Last line: "swarm e2e: N passed, M failed".
set -u
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
WORK=${ACTORCLUSTER_E2E_DIR:-/tmp/actorcluster-swarm-e2e}
IMAGE=127.0.0.1:5999/actorcluster:e2e
PG_PORT=5433
PG_CLUSTER=actorcluster_e2e
LB_IP=10.200.0.100
PASSED=0
FAILED=0
START=$(date +%s)

log() { echo "[$(($(date +%s) - START))s] $*"; }
pass() { PASSED=$((PASSED + 1)); log "ok   $1"; }
fail() { FAILED=$((FAILED + 1)); log "FAIL $1"; }
# check NAME COMMAND...: one demonstrated item.
check() { local name=$1; shift; if "$@"; then pass "$name"; else fail "$name"; fi; }
# until_ok SECONDS COMMAND...: polls every half second until the command succeeds, within a bound.
until_ok() {
  local deadline=$(($(date +%s) + $1)); shift
  until "$@" >/dev/null 2>&1; do [ "$(date +%s)" -ge "$deadline" ] && return 1; sleep 0.5; done
}
dk() { local i=$1; shift; DOCKER_HOST=unix://$WORK/dn$i/docker.sock docker "$@"; }
kc() { kubectl --kubeconfig "$WORK/kubeconfig" --request-timeout=10s "$@"; }
PG_VERSION=""

teardown() {
  local rc=$?
  trap - EXIT INT TERM
  log "tearing down"
  if [ -S "$WORK/dn1/docker.sock" ]; then
    if [ "$FAILED" -gt 0 ] || [ "$rc" -ne 0 ]; then
      for i in 1 2 3; do
        c=$(dk "$i" ps -aq --filter label=com.docker.swarm.service.name=actorcluster_node 2>/dev/null | head -1)
        [ -n "$c" ] && { echo "--- k8s-worker$i log (tail)"; dk "$i" logs --tail 40 "$c" 2>&1; }
      done
    fi
    dk 1 stack rm actorcluster >/dev/null 2>&1 || true
  fi
  for i in 1 2 3; do [ -S "$WORK/dn$i/docker.sock" ] && dk "$i" swarm leave --force >/dev/null 2>&1; done
  for i in 1 2 3; do [ -f "$WORK/dn$i/dockerd.pid" ] && kill "$(cat "$WORK/dn$i/dockerd.pid")" 2>/dev/null; done
  for i in 1 2 3; do
    for _ in $(seq 1 60); do [ -f "$WORK/dn$i/dockerd.pid" ] && kill -0 "$(cat "$WORK/dn$i/dockerd.pid")" 2>/dev/null || break; sleep 0.25; done
  done
  # dockerd leaves its mounts under the data roots; unmount before removing
  grep -o " $WORK/[^ ]*" /proc/mounts 2>/dev/null | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
  for i in 1 2 3; do ip netns del "n$i" 2>/dev/null; ip link del "veth$i" 2>/dev/null; done
  ip link del kbr0 2>/dev/null
  iptables -D FORWARD -i kbr0 -o kbr0 -j ACCEPT 2>/dev/null
  [ -n "$PG_VERSION" ] && pg_dropcluster --stop "$PG_VERSION" "$PG_CLUSTER" 2>/dev/null
  rm -rf "$WORK"
  [ "$rc" -ne 0 ] && [ "$FAILED" -eq 0 ] && FAILED=1
  echo "swarm e2e: $PASSED passed, $FAILED failed"
  [ "$FAILED" -eq 0 ] && exit 0 || exit 1
}
trap teardown EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- what this machine needs
if [ "$(id -u)" -ne 0 ]; then echo "e2e.sh needs root (network namespaces, dockerd)"; FAILED=1; exit 1; fi
need=""
command -v dockerd >/dev/null || need="$need docker.io containerd runc"
command -v iptables >/dev/null || need="$need iptables"
command -v pg_createcluster >/dev/null || need="$need postgresql"
command -v arping >/dev/null || need="$need iputils-arping"
command -v nft >/dev/null || need="$need nftables"
command -v conntrack >/dev/null || need="$need conntrack"
command -v curl >/dev/null || need="$need curl"
if [ -n "$need" ]; then
  log "installing:$need"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q $need >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q $need >/dev/null 2>&1; } || { fail "apt-get install$need"; exit 1; }
fi
command -v kubectl >/dev/null || { fail "kubectl is not installed"; exit 1; }
check "docker stack config accepts deploy/swarm/stack.yml" sh -c "docker stack config -c '$HERE/stack.yml' >/dev/null"

# ---------------------------------------------------------------- three hosts
rm -rf "$WORK"; mkdir -p "$WORK"
ip link add kbr0 type bridge && ip addr add 10.200.0.1/24 dev kbr0 && ip link set kbr0 up || { fail "bridge kbr0"; exit 1; }
for i in 1 2 3; do
  ip netns add "n$i" && ip link add "veth$i" type veth peer name eth0 netns "n$i" && ip link set "veth$i" master kbr0 up \
    && ip -n "n$i" addr add "10.200.0.1$i/24" dev eth0 && ip -n "n$i" link set eth0 up && ip -n "n$i" link set lo up \
    && ip -n "n$i" route add default via 10.200.0.1 || { fail "namespace n$i"; exit 1; }
done
iptables -I FORWARD -i kbr0 -o kbr0 -j ACCEPT

# PostgreSQL for the stack: a cluster of its own on the test network's host address.
PG_VERSION=$(ls /usr/lib/postgresql | sort -n | tail -1)
pg_dropcluster --stop "$PG_VERSION" "$PG_CLUSTER" 2>/dev/null
pg_createcluster "$PG_VERSION" "$PG_CLUSTER" --port "$PG_PORT" >/dev/null \
  -- --auth-local=peer --auth-host=scram-sha-256 >/dev/null || { fail "pg_createcluster"; exit 1; }
PGCONF=/etc/postgresql/$PG_VERSION/$PG_CLUSTER
echo "listen_addresses = '10.200.0.1'" >> "$PGCONF/postgresql.conf"
echo "host all all 10.200.0.0/24 scram-sha-256" >> "$PGCONF/pg_hba.conf"
pg_ctlcluster "$PG_VERSION" "$PG_CLUSTER" start || { fail "PostgreSQL start"; exit 1; }
su postgres -c "psql -q -p $PG_PORT -c \"CREATE ROLE actorcluster LOGIN PASSWORD 'actorcluster'\" -c 'CREATE DATABASE actorcluster OWNER actorcluster'" >/dev/null \
  || { fail "PostgreSQL role and database"; exit 1; }

# One dockerd per namespace, each with its own hostname (the swarm node name, and so the ActorCluster node name).
for i in 1 2 3; do
  mkdir -p "$WORK/dn$i"
  setsid ip netns exec "n$i" unshare --uts sh -c "
    hostname k8s-worker$i
    mount -t tmpfs cgroup /sys/fs/cgroup
    for c in cpu cpuacct cpuset memory devices freezer blkio pids; do mkdir -p /sys/fs/cgroup/\$c; mount -t cgroup -o \$c cgroup /sys/fs/cgroup/\$c; done
    mkdir -p /sys/fs/cgroup/systemd; mount -t cgroup -o none,name=systemd cgroup /sys/fs/cgroup/systemd
    exec dockerd --data-root $WORK/dn$i/data --exec-root $WORK/dn$i/exec --pidfile $WORK/dn$i/dockerd.pid -H unix://$WORK/dn$i/docker.sock
  " >"$WORK/dn$i/dockerd.log" 2>&1 </dev/null &
done
for i in 1 2 3; do
  until_ok 60 dk "$i" info || { fail "dockerd on n$i"; cat "$WORK/dn$i/dockerd.log" | tail -20; exit 1; }
  # Containers must not reach past this machine.
  ip netns exec "n$i" iptables -I DOCKER-USER -o eth0 ! -d 10.200.0.0/24 -j DROP 2>/dev/null
done
pass "three dockerd hosts up"

# ---------------------------------------------------------------- the image, on every host
DOCKER_HOST=unix://$WORK/dn1/docker.sock "$ROOT/deploy/docker/build-image.sh" "$IMAGE" "$WORK/image.tar" || { fail "build the image"; exit 1; }
for i in 2 3; do dk "$i" load -q -i "$WORK/image.tar" >/dev/null || { fail "load the image on n$i"; exit 1; }; done
pass "image built without a registry and loaded on every host"

# ---------------------------------------------------------------- the swarm and the stack
dk 1 swarm init --advertise-addr 10.200.0.11 --listen-addr 10.200.0.11:2377 >/dev/null || { fail "swarm init"; exit 1; }
TOKEN=$(dk 1 swarm join-token -q worker)
for i in 2 3; do
  dk "$i" swarm join --token "$TOKEN" --advertise-addr "10.200.0.1$i" --listen-addr "10.200.0.1$i:2377" 10.200.0.11:2377 >/dev/null || { fail "swarm join n$i"; exit 1; }
done
check "a 3-node swarm" sh -c "[ \"\$(DOCKER_HOST=unix://$WORK/dn1/docker.sock docker node ls -q | wc -l)\" -eq 3 ]"

API_TOKEN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')
printf '%s' "$API_TOKEN" | dk 1 secret create actorcluster_token - >/dev/null
printf '%s' "Host=10.200.0.1;Port=$PG_PORT;Database=actorcluster;Username=actorcluster;Password=actorcluster" | dk 1 secret create actorcluster_postgres - >/dev/null
# One cluster CA for every host (remoting is mutual TLS), made by the image's own `actorcluster ca`.
mkdir -p "$WORK/pki"
dk 1 run --rm --network none --entrypoint /app/actorcluster -v "$WORK/pki:/pki" "$IMAGE" ca --out /pki >/dev/null || { fail "actorcluster ca"; exit 1; }
dk 1 secret create actorcluster_ca_crt "$WORK/pki/ca.crt" >/dev/null && dk 1 secret create actorcluster_ca_key "$WORK/pki/ca.key" >/dev/null || { fail "CA secrets"; exit 1; }
export ACTORCLUSTER_IMAGE=$IMAGE ACTORCLUSTER_HOST_CIDR=10.200.0.0/24 ACTORCLUSTER_SEEDS=10.200.0.11:4053,10.200.0.12:4053,10.200.0.13:4053
dk 1 stack deploy -c "$HERE/stack.yml" --resolve-image never actorcluster >/dev/null || { fail "stack deploy"; exit 1; }

node_container() { dk "$1" ps -q --filter label=com.docker.swarm.service.name=actorcluster_node | head -1; }
until_ok 120 sh -c "[ -n \"\$(DOCKER_HOST=unix://$WORK/dn1/docker.sock docker ps -q --filter label=com.docker.swarm.service.name=actorcluster_node)\" ]" || { fail "the node task on the manager"; exit 1; }
# The manager's node writes the kubeconfig (https://10.200.0.11:6443, its CA, the token from the secret).
until_ok 120 dk 1 cp "$(node_container 1):/data/kubeconfig" "$WORK/kubeconfig" || { fail "kubeconfig from the manager's node"; exit 1; }
ready_nodes() { [ "$(kc get nodes --no-headers 2>/dev/null | awk '$2=="Ready"' | wc -l)" -eq "$1" ]; }
check "3 Ready nodes through kubectl against the manager's API" until_ok 180 ready_nodes 3
kc get nodes -o wide
# The stack's proxy mode is auto: with NET_ADMIN and the image's nft, every host's node carries Service traffic in
# its kernel (its table, route_localnet so other hosts reach pods on its loopback).
kernel_mode() {
  local i=$1
  dk "$i" logs "$(node_container "$i")" 2>&1 | grep -q "service proxy mode: nftables (table ip actorcluster-k8s-worker$i" &&
    ip netns exec "n$i" nft list table ip "actorcluster-k8s-worker$i" >/dev/null 2>&1 &&
    [ "$(ip netns exec "n$i" cat /proc/sys/net/ipv4/conf/eth0/route_localnet)" = 1 ]
}
for i in 1 2 3; do check "host $i: proxy mode auto chose nftables (its table in the host's kernel, route_localnet on)" until_ok 60 kernel_mode "$i"; done

# ---------------------------------------------------------------- the seed walkthrough across hosts
SEED=$ROOT/deploy/examples/seed
kc apply -f "$SEED/pod-1.yaml" -f "$SEED/pod-2.yaml" -f "$SEED/svc-1-clusterip.yaml" -f "$SEED/svc-2-nodeport.yaml" -f "$SEED/svc-4-loadbalancer.yaml" >/dev/null \
  || fail "kubectl apply the seed manifests"
pods_ready() { [ "$(kc get pods --no-headers 2>/dev/null | awk '$2=="1/1" && $3=="Running"' | wc -l)" -eq 2 ]; }
check "pod-1 and pod-2 Running" until_ok 120 pods_ready
check "pods on the hosts their selectors name" sh -c "
  kubectl --kubeconfig $WORK/kubeconfig get pod pod-1 -o jsonpath='{.spec.nodeName}' | grep -qx k8s-worker1 &&
  kubectl --kubeconfig $WORK/kubeconfig get pod pod-2 -o jsonpath='{.spec.nodeName}' | grep -qx k8s-worker2"

# answers URL [NETNS]: the set of pod names answering /hostname over 12 fresh connections, sorted, one line.
answers() {
  local url=$1 ns=${2:-} out=""
  for _ in $(seq 1 12); do
    if [ -n "$ns" ]; then r=$(ip netns exec "$ns" curl -s -m 3 "$url" 2>/dev/null); else r=$(curl -s -m 3 "$url" 2>/dev/null); fi
    [ -n "$r" ] && out="$out $r"
  done
  echo "$out" | tr ' ' '\n' | grep . | sort -u | tr '\n' ' ' | sed 's/ $//'
}
spreads() { [ "$(answers "$@")" = "pod-1 pod-2" ]; }
answered_by() { [ "$(answers "$1")" = "$2" ]; }
# refused URL: no answer, and quickly (a reset, not a timeout).
refused() {
  local t0=$(date +%s%N) r
  r=$(curl -s -m 3 "$1" 2>/dev/null); local rc=$?
  [ -z "$r" ] && [ "$rc" -ne 28 ] && [ $(( ($(date +%s%N) - t0) / 1000000 )) -lt 1000 ]
}

for i in 1 2 3; do
  check "NodePort 30000 on host $i (10.200.0.1$i) spreads over both pods" until_ok 60 spreads "http://10.200.0.1$i:30000/hostname"
done
# The kernel carries them: host 3 has no pod, so its NodePort's rules DNAT to its local stand-ins for the two pods
# behind the other hosts' tunnels; hosts 1 and 2 DNAT to their own pod directly.
check "host 3's kernel DNATs NodePort 30000 to its tunnel stand-ins" sh -c "ip netns exec n3 nft list table ip actorcluster-k8s-worker3 | grep -q 'dnat to 127.253.0.1:'"
CLUSTER_IP=$(kc get svc svc-1 -o jsonpath='{.spec.clusterIP}')
check "ClusterIP $CLUSTER_IP:9000 from inside host n3 (no pod there) spreads over both pods" until_ok 60 spreads "http://$CLUSTER_IP:9000/hostname" n3
# externalIPs: every node takes them; here host 2's own address, from this machine, spread over both pods.
kc apply -f - >/dev/null <<'YAML' || fail "kubectl apply svc-ext"
apiVersion: v1
kind: Service
metadata: {name: svc-ext}
spec:
  selector: {app: pod}
  externalIPs: [10.200.0.12]
  ports: [{port: 9100, targetPort: 8080}]
YAML
check "externalIP 10.200.0.12:9100 (host 2's address) spreads over both pods" until_ok 60 spreads "http://10.200.0.12:9100/hostname"
# Cluster across hosts: the pod sees a node's address (the node of the pod, where the tunnel ends), never the client's.
check "under Cluster the pod sees a node's address, not the client's" sh -c "curl -s -m 3 http://10.200.0.13:30000/client | grep -q '^10.200.0.1[123]:'"

kc apply -f "$SEED/svc-2-nodeport-local.yaml" >/dev/null || fail "kubectl apply svc-2-nodeport-local"
LOCAL_PORT=$(kc get svc svc-2 -o jsonpath='{.spec.ports[0].nodePort}')
check "Local: host 1 answers only from pod-1" until_ok 60 answered_by "http://10.200.0.11:$LOCAL_PORT/hostname" pod-1
check "Local: host 2 answers only from pod-2" until_ok 60 answered_by "http://10.200.0.12:$LOCAL_PORT/hostname" pod-2
check "Local: host 3 (no pod) refuses at once" until_ok 30 refused "http://10.200.0.13:$LOCAL_PORT/hostname"

kc annotate svc svc-2 actorcluster.io/proxy-protocol=v2 >/dev/null || fail "kubectl annotate svc-2"
client_seen() { curl -s -m 3 "http://10.200.0.11:$LOCAL_PORT/client" | grep -q '^10.200.0.1:'; }
check "Local with PROXY protocol: the pod sees the client's own address across hosts" until_ok 30 client_seen
# UDP across hosts: one pod on host 1, reached at host 3's NodePort, so through host 1's node tunnel.
kc apply -f - >/dev/null <<'YAML' || fail "kubectl apply the UDP pod and Service"
apiVersion: v1
kind: Pod
metadata: {name: udp-1, labels: {app: udp}}
spec:
  nodeSelector: {kubernetes.io/hostname: k8s-worker1}
  containers: [{name: app, image: kubetm/app, ports: [{containerPort: 5353, protocol: UDP}]}]
---
apiVersion: v1
kind: Service
metadata: {name: udp}
spec:
  type: NodePort
  selector: {app: udp}
  ports: [{port: 53, targetPort: 5353, protocol: UDP}]
YAML
UDP_PORT=$(kc get svc udp -o jsonpath='{.spec.ports[0].nodePort}')
# udp_answers HOST PORT POD: one datagram "hostname", answered with POD's name within 2 s.
udp_answers() {
  python3 - "$@" <<'PY'
import socket, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(2)
s.sendto(b"hostname", (sys.argv[1], int(sys.argv[2])))
sys.exit(0 if s.recv(2048).decode().strip() == sys.argv[3] else 1)
PY
}
check "UDP NodePort on host 3 answers from udp-1 on host 1 (through the node tunnel)" until_ok 90 udp_answers 10.200.0.13 "$UDP_PORT" udp-1
# port-forward across hosts: the manager's API (host 1) reaches pod-2 on host 2 through host 2's node tunnel.
forwards_to_pod2() {
  local log="$WORK/port-forward.log" pf port ok=1
  kubectl --kubeconfig "$WORK/kubeconfig" port-forward pod/pod-2 :8080 >"$log" 2>&1 & pf=$!
  for _ in $(seq 1 20); do
    port=$(sed -n 's/^Forwarding from 127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$log" | head -1)
    if [ -n "$port" ] && [ "$(curl -s -m 3 "http://127.0.0.1:$port/hostname")" = "pod-2" ]; then ok=0; break; fi
    sleep 0.5
  done
  kill "$pf" 2>/dev/null; wait "$pf" 2>/dev/null
  return $ok
}
check "kubectl port-forward to pod-2 on host 2 through the manager's API (the node tunnel)" until_ok 60 forwards_to_pod2
check "svc-4 shows EXTERNAL-IP <pending> without a pool" sh -c "kubectl --kubeconfig $WORK/kubeconfig get svc svc-4 --no-headers | awk '{print \$4}' | grep -qx '<pending>'"

# ---------------------------------------------------------------- a LoadBalancer pool of test-network addresses
log "adding the pool $LB_IP-10.200.0.110 (a rolling restart of the nodes; the cluster's state stays in PostgreSQL)"
dk 1 service update --quiet --detach --env-add ACTORCLUSTER_LB_POOLS=$LB_IP-10.200.0.110 actorcluster_node >/dev/null || fail "service update"
lb_assigned() { kc get svc svc-4 -o jsonpath='{.status.loadBalancer.ingress[0].ip}' | grep -qx "$LB_IP"; }
check "svc-4 gets $LB_IP from the pool" until_ok 300 lb_assigned
updated() { dk 1 service inspect actorcluster_node --format '{{if .UpdateStatus}}{{.UpdateStatus.State}}{{else}}completed{{end}}' | grep -qx completed; }
until_ok 300 updated || log "the rolling update did not report completed"
check "3 Ready nodes after the rolling restart" until_ok 180 ready_nodes 3
check "ClusterIP and NodePort kept across the restart" sh -c "
  [ \"\$(kubectl --kubeconfig $WORK/kubeconfig get svc svc-1 -o jsonpath='{.spec.clusterIP}')\" = '$CLUSTER_IP' ] &&
  [ \"\$(kubectl --kubeconfig $WORK/kubeconfig get svc svc-2 -o jsonpath='{.spec.ports[0].nodePort}')\" = '$LOCAL_PORT' ]"
announcer() { for i in 1 2 3; do ip -n "n$i" -4 addr show dev eth0 | grep -q " $LB_IP/32" && echo "$i"; done; }
one_announcer() { [ "$(announcer | wc -l)" -eq 1 ]; }
check "exactly one host holds $LB_IP on its interface (layer 2)" until_ok 60 one_announcer
check "$LB_IP:9000 answers from this machine" until_ok 60 spreads "http://$LB_IP:9000/hostname"

# ---------------------------------------------------------------- a host's node stops
HOLDER=$(announcer | head -1)
log "stopping the node on host $HOLDER (it holds $LB_IP): docker node update --availability drain k8s-worker$HOLDER"
dk 1 node update --availability drain "k8s-worker$HOLDER" >/dev/null || fail "drain k8s-worker$HOLDER"
moved() { local a; a=$(announcer); [ -n "$a" ] && [ "$a" != "$HOLDER" ] && [ "$(echo "$a" | wc -l)" -eq 1 ]; }
check "another host takes $LB_IP" until_ok 120 moved
no_table() { ! ip netns exec "n$HOLDER" nft list tables ip | grep -q actorcluster; }
check "the stopped node removed its nftables table from host $HOLDER's kernel" until_ok 60 no_table
SURVIVOR=$(( HOLDER == 3 ? 1 : (HOLDER == 1 ? 2 : 1) ))
case $HOLDER in 1) ALIVE=pod-2 ;; 2) ALIVE=pod-1 ;; *) ALIVE="pod-1 pod-2" ;; esac
check "$LB_IP answers again, from the pods still running ($ALIVE)" until_ok 120 answered_by "http://$LB_IP:9000/hostname" "$ALIVE"
LB_NODE_PORT=$(kc get svc svc-4 -o jsonpath='{.spec.ports[0].nodePort}')
check "svc-4's NodePort on host $SURVIVOR answers from $ALIVE" until_ok 120 answered_by "http://10.200.0.1$SURVIVOR:$LB_NODE_PORT/hostname" "$ALIVE"

log "done in $(($(date +%s) - START))s"
