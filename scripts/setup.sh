#!/usr/bin/env bash
# Installs and starts what ntx-market and its tests need on Debian (run as root). Idempotent: every step
# checks before it acts, so running it again costs a second or two.
#   - system packages: nats-server, Docker engine, busybox-static (test images), Chromium (browser tests),
#     gcc + libc6-dev (the stand-in cardano-node image), openssl (certificates for the NATS TLS test)
#   - npm dependencies (npm install from the lock when node_modules is missing or older than the lock file)
#   - dockerd, started in the background when `docker info` does not answer
#   - the local test image `ntx-test/busybox:1` (no registry is reachable, so it is built from busybox-static)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
STATE_DIR=${NTX_STATE_DIR:-$ROOT/.ntx}
mkdir -p "$STATE_DIR"

log() { printf '[setup] %s\n' "$*"; }

need_pkgs=()
command -v nats-server >/dev/null 2>&1 || need_pkgs+=(nats-server)
command -v dockerd >/dev/null 2>&1 || need_pkgs+=(docker.io)
[ -x /bin/busybox ] || [ -x /usr/bin/busybox ] || need_pkgs+=(busybox-static)
[ -x /usr/lib/chromium/chromium ] || need_pkgs+=(chromium)
# The stand-in cardano-node image (scripts/standin-node-image.sh) is a static C program.
{ command -v cc >/dev/null 2>&1 && [ -e "$(cc -print-file-name=libc.a)" ]; } || need_pkgs+=(gcc libc6-dev)
command -v openssl >/dev/null 2>&1 || need_pkgs+=(openssl)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: missing system packages (${need_pkgs[*]}); run as root or install them: apt-get install ${need_pkgs[*]}" >&2
    exit 1
  fi
  log "installing ${need_pkgs[*]} (apt)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  log "installing npm dependencies"
  # `npm install` from the committed lock, not `npm ci`: the registry reachable here lacks cbor-extract's optional
  # native builds (404), which npm install skips as optional but npm ci reports as a lock mismatch.
  npm install --no-audit --no-fund --loglevel=error
fi

docker_ok() { timeout 10 docker info >/dev/null 2>&1; }
if ! docker_ok; then
  if [ "$(id -u)" != 0 ]; then
    echo "setup: the Docker engine is not running and this user cannot start it" >&2
    exit 1
  fi
  log "starting dockerd (log: $STATE_DIR/dockerd.log)"
  nohup dockerd >"$STATE_DIR/dockerd.log" 2>&1 &
  echo $! >"$STATE_DIR/dockerd.pid"
  for _ in $(seq 1 100); do docker_ok && break; sleep 0.2; done
  docker_ok || { echo "setup: dockerd did not come up; see $STATE_DIR/dockerd.log" >&2; tail -20 "$STATE_DIR/dockerd.log" >&2; exit 1; }
fi

bash scripts/test-image.sh
log "ready"
