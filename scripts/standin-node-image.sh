#!/usr/bin/env bash
# Builds the stand-in cardano-node image (src/pool/standin/standin-node.c, static) on a busybox rootfs: no
# registry is reachable, so tests and a local `ntx pool deploy` dry run use it in place of the real node image.
# Like the real image it declares VOLUMEs and EXPOSEs ports (the provider must cover and not publish them).
# Usage: scripts/standin-node-image.sh [IMAGE]   (default ntx-standin/cardano-node:1). Idempotent.
set -euo pipefail
IMAGE=${1:-${NTX_STANDIN_IMAGE:-ntx-standin/cardano-node:1}}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
if docker image inspect "$IMAGE" >/dev/null 2>&1; then exit 0; fi
command -v cc >/dev/null || { echo "standin-node-image: a C compiler (gcc, libc6-dev) is needed" >&2; exit 1; }
BUSYBOX=$(command -v busybox)
rootfs=$(mktemp -d)
trap 'rm -rf "$rootfs"' EXIT
mkdir -p "$rootfs"/{bin,etc,tmp,data,ipc,proc,sys,dev,usr/local/bin}
cp "$BUSYBOX" "$rootfs/bin/busybox"
for applet in sh ls cat nc sleep test; do ln -sf busybox "$rootfs/bin/$applet"; done
cc -static -O2 -Wall -o "$rootfs/usr/local/bin/cardano-node" "$ROOT/src/pool/standin/standin-node.c"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
chmod 1777 "$rootfs/tmp"
tar -C "$rootfs" -c . | docker import \
  -c 'ENV PATH=/usr/local/bin:/bin' -c 'ENTRYPOINT ["/usr/local/bin/cardano-node"]' \
  -c 'VOLUME ["/data", "/ipc"]' -c 'EXPOSE 3001 12798' - "$IMAGE" >/dev/null
echo "[setup] built $IMAGE"
