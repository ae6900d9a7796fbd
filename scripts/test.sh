#!/usr/bin/env bash
# Set up the environment (and the parity peers: MindCV 0.3.0, torch + geffnet), then run the test suite on 2
# pytest-xdist workers, one module per worker at a time (--dist loadfile: module fixtures run once), handed out
# in collection order (tests/conftest.py puts the slowest modules first). Extra arguments go to pytest; -n 0
# runs the suite in one process.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
read -r VENV MINDCV_PEER TORCH_PEER < <(WITH_PEERS=1 bash "$ROOT/scripts/env.sh")
export MINDCV_PEER_PATH="$MINDCV_PEER" TORCH_PEER_PATH="$TORCH_PEER"
cd "$ROOT"
exec "$VENV/bin/python" -m pytest -q -p no:cacheprovider -n 2 --dist loadfile --no-loadscope-reorder tests "$@"
