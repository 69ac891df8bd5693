#!/usr/bin/env bash
# Builds the local image `ntx-test/busybox:1` (also tagged `busybox:<version>`, the devnet page's default job
# image) from Debian's busybox-static: a rootfs with one symlink per applet,
# `nobody` in /etc/passwd, and /tmp and /work writable by anyone. No registry is needed. Idempotent.
set -euo pipefail
IMAGE=${NTX_TEST_IMAGE:-ntx-test/busybox:1}
BUSYBOX=$(command -v busybox)
# sed reads the whole banner: `head -1` would close the pipe early and, under pipefail, fail on SIGPIPE.
VERSION_TAG="busybox:$("$BUSYBOX" 2>&1 | sed -n '1s/^BusyBox v\([0-9.]*\).*/\1/p')"
if docker image inspect "$IMAGE" >/dev/null 2>&1; then
  docker image inspect "$VERSION_TAG" >/dev/null 2>&1 || docker tag "$IMAGE" "$VERSION_TAG"
  exit 0
fi
rootfs=$(mktemp -d)
trap 'rm -rf "$rootfs"' EXIT
mkdir -p "$rootfs"/{bin,etc,tmp,work,out,proc,sys,dev}
cp "$BUSYBOX" "$rootfs/bin/busybox"
for applet in $("$BUSYBOX" --list); do
  [ "$applet" = busybox ] || ln -sf busybox "$rootfs/bin/$applet"
done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/sh\n' >"$rootfs/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
chmod 1777 "$rootfs/tmp" "$rootfs/work" "$rootfs/out"
tar -C "$rootfs" -c . | docker import -c 'ENV PATH=/bin' -c 'CMD ["/bin/sh"]' - "$IMAGE" >/dev/null
docker tag "$IMAGE" "$VERSION_TAG"
echo "[setup] built $IMAGE ($VERSION_TAG)"
