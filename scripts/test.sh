#!/usr/bin/env bash
# Set up the environment (and the MindCV 0.3.0 peer for parity tests), then run the test suite.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
read -r VENV PEERS < <(WITH_PEERS=1 bash "$ROOT/scripts/env.sh")
export MINDCV_PEER_PATH="$PEERS"
cd "$ROOT"
exec "$VENV/bin/python" -m pytest -q -p no:cacheprovider tests "$@"
