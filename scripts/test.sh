#!/usr/bin/env bash
# Set up the environment (and the parity peers: MindCV 0.3.0, torch + geffnet), then run the test suite.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
read -r VENV MINDCV_PEER TORCH_PEER < <(WITH_PEERS=1 bash "$ROOT/scripts/env.sh")
export MINDCV_PEER_PATH="$MINDCV_PEER" TORCH_PEER_PATH="$TORCH_PEER"
cd "$ROOT"
exec "$VENV/bin/python" -m pytest -q -p no:cacheprovider tests "$@"
