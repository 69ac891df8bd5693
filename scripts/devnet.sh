#!/usr/bin/env bash
# `npm run devnet`: prepares the machine (scripts/setup.sh), then brings the whole marketplace up on the embedded
# devnet chain: chain server, nats-server, matcher, a provider, API and web page. Extra arguments go to `ntx up`
# (e.g. `npm run devnet -- --api-port 9090`). State persists in .devnet/ (NTX_DEVNET_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node_modules/.bin/tsx src/cli/main.ts up "$@"
