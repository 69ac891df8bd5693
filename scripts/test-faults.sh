#!/usr/bin/env bash
# `npm run test:faults [-- --heavy]`: the fault suite (test/faults/) against real processes; --heavy (or
# NTX_HEAVY=1) runs the heavy tier. Its figures are written into docs/RELIABILITY.md.
set -euo pipefail
cd "$(dirname "$0")/.."
args=()
for arg in "$@"; do
  if [ "$arg" = "--heavy" ]; then export NTX_HEAVY=1; else args+=("$arg"); fi
done
export NTX_RELIABILITY_WRITE=1 NTX_FAULTS=1
exec npx vitest run test/faults "${args[@]}"
