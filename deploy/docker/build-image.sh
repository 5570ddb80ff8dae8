#!/bin/sh
# deploy/docker/build-image.sh [TAG] [IMAGE.tar]
#
# Builds the ActorCluster node image without a registry or a Dockerfile base image: a self-contained
# `dotnet publish` of the `actorcluster` executable, the shared libraries it loads (found with ldd, plus OpenSSL,
# which .NET opens at run time), the two tools the node calls to announce LoadBalancer IPs (`ip` from iproute2;
# `arping` from iputils-arping when installed) and the two of the kernel data path (`nft` from nftables, `conntrack`
# from conntrack, when installed: without them proxy mode auto falls back to the relay), imported with `docker import`
# into the engine DOCKER_HOST names.
# With IMAGE.tar it also writes the image with `docker save`, to `docker load` on other hosts.
# The container runs `actorcluster node`, configured by ACTORCLUSTER_* environment variables (see README).
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
TAG=${1:-127.0.0.1:5999/actorcluster:latest}
OUT=${2:-}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT

echo "build-image: publishing src/ActorCluster.Host (self-contained, linux-x64)"
dotnet publish "$ROOT/src/ActorCluster.Host" -c Release -r linux-x64 --self-contained -o "$WORK/publish" -v quiet -nologo >/dev/null

R=$WORK/rootfs
mkdir -p "$R/app" "$R/tmp" "$R/data" "$R/usr/sbin" "$R/etc"
chmod 1777 "$R/tmp"
cp -a "$WORK/publish/." "$R/app/"
echo "hosts: files dns" > "$R/etc/nsswitch.conf"
cp /etc/os-release "$R/etc/os-release" # the Node's OS-IMAGE
# nft resolves protocol and service names (tcp, udp) through these, as libc does.
for f in /etc/protocols /etc/services; do [ -f "$f" ] && cp "$f" "$R/etc/"; done

# Copies a file (following links) to the same path under the image root.
put() { mkdir -p "$R$(dirname "$1")"; cp -L "$1" "$R$1"; }
# The libraries an executable or library links against, and the loader.
libs_of() { for f in "$@"; do ldd "$f" 2>/dev/null; done | awk '$2=="=>" && $3 ~ /^\// {print $3} $1 ~ /^\// && $1 !~ /:$/ {print $1}'; }

TOOLS=$(command -v ip)
if command -v arping >/dev/null 2>&1; then TOOLS="$TOOLS $(command -v arping)"; else echo "build-image: arping not installed (apt-get install iputils-arping): LoadBalancer IPs are announced without a gratuitous ARP"; fi
for t in nft conntrack; do
  if command -v "$t" >/dev/null 2>&1; then TOOLS="$TOOLS $(command -v "$t")"; else echo "build-image: $t not installed (apt-get install nftables conntrack): the image's nodes use the relay"; fi
done
for t in $TOOLS; do mkdir -p "$R/usr/sbin"; cp -L "$t" "$R/usr/sbin/"; done
# Opened at run time, so ldd cannot see them: OpenSSL (HTTPS API), GSSAPI (Npgsql probes for Kerberos).
SSL=$(ls /usr/lib/x86_64-linux-gnu/libssl.so.3 /usr/lib/x86_64-linux-gnu/libcrypto.so.3 /usr/lib/x86_64-linux-gnu/libgssapi_krb5.so.2 2>/dev/null || true)
for lib in $(libs_of "$R/app/actorcluster" "$R"/app/*.so $TOOLS $SSL | sort -u) $SSL; do put "$lib"; done

echo "build-image: importing $TAG"
tar -C "$R" -c . | docker import \
  -c 'ENV DOTNET_EnableDiagnostics=0' \
  -c 'ENV PATH=/usr/sbin:/app' \
  -c 'ENV ACTORCLUSTER_DATA_DIR=/data' \
  -c 'WORKDIR /app' \
  -c 'ENTRYPOINT ["/app/actorcluster", "node"]' \
  - "$TAG" >/dev/null
if [ -n "$OUT" ]; then docker save -o "$OUT" "$TAG"; fi
echo "build-image: $TAG ($(du -sh "$R" | cut -f1) unpacked)"
