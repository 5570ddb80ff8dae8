#!/usr/bin/env bash
# Seconds from `actorcluster up` on an empty data directory to its "N/N nodes Ready" line, several runs.
# usage: up-start.sh [runs] [actorcluster binary] [extra up arguments...]
#   default binary: the Debug apphost the tests use (build it first: dotnet build src/ActorCluster.Host)
set -uo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-5}
bin=${2:-src/ActorCluster.Host/bin/Debug/net10.0/actorcluster}
shift 2 2>/dev/null || shift $#
for _ in $(seq "$runs"); do
  dir=$(mktemp -d)
  start=$(date +%s.%N)
  "$bin" up --data-dir "$dir" "$@" > "$dir.out" 2>&1 &
  pid=$!
  for _ in $(seq 1 1200); do grep -q "nodes Ready" "$dir.out" && break; kill -0 $pid 2>/dev/null || break; sleep 0.05; done
  ready=$(date +%s.%N)
  grep -q "nodes Ready" "$dir.out" && printf "%.1f " "$(echo "$ready - $start" | bc)" || printf "failed "
  kill -TERM $pid 2>/dev/null; wait $pid 2>/dev/null
  rm -rf "$dir" "$dir.out"
done
echo
