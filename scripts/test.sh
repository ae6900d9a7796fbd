#!/usr/bin/env bash
# Set up the environment (and the parity peers: MindCV 0.3.0, torch + geffnet), then run the test suite on 2
# pytest-xdist workers, one module per worker at a time (--dist loadfile: module fixtures run once), handed out
# in collection order (tests/conftest.py puts the slowest modules first).
#   bash scripts/test.sh                          the whole suite (tests/)
#   bash scripts/test.sh tests/models -x          only these paths (files, folders, file::test); options go to pytest
#   bash scripts/test.sh -k sampler -n 0          the whole suite filtered, in one process
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
read -r VENV MINDCV_PEER TORCH_PEER < <(WITH_PEERS=1 bash "$ROOT/scripts/env.sh")
export MINDCV_PEER_PATH="$MINDCV_PEER" TORCH_PEER_PATH="$TORCH_PEER"
cd "$ROOT"
# the suite's root unless a test path is among the arguments (a path, or path::test, that exists)
TARGET=(tests)
for arg in "$@"; do
  if [[ "$arg" != -* && -e "${arg%%::*}" ]]; then
    TARGET=()
    break
  fi
done
exec "$VENV/bin/python" -m pytest -q -p no:cacheprovider -n 2 --dist loadfile --no-loadscope-reorder \
  ${TARGET[@]+"${TARGET[@]}"} "$@"
