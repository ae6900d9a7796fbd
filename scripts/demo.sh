#!/usr/bin/env bash
# Set up the environment, then train MixNet-S on the embedded digits dataset on CPU and validate it.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$(bash "$ROOT/scripts/env.sh")"
cd "$ROOT"
exec "$VENV/bin/python" train.py -c configs/mixnet/mixnet_s_demo.yaml "$@"
