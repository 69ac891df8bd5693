#!/usr/bin/env bash
# `npm run devnet`: prepares the machine (scripts/setup.sh), then brings the whole marketplace up on the embedded
# devnet chain: chain server, nats-server, matcher, a provider, API and web page. Extra arguments go to `ntx up`
# (e.g. `npm run devnet -- --api-port 9090`). State persists in .devnet/ (NTX_DEVNET_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
# Help needs nothing installed beyond node_modules: answer it before setup runs.
for arg in "$@"; do
  case "$arg" in
    -h|--help)
      if [ -x node_modules/.bin/tsx ]; then exec node_modules/.bin/tsx src/cli/main.ts up --help; fi
      echo "usage: npm run devnet -- [--dir DIR] [--chain-port N] [--nats-port N] [--api-port N] [--block-time S] [--host H]"
      echo "(run npm run setup first for the full help of ntx up)"
      exit 0 ;;
  esac
done
bash scripts/setup.sh
exec node_modules/.bin/tsx src/cli/main.ts up "$@"
