#!/usr/bin/env bash
# Create (once) the project's virtual environment and print its directory.
# The environment lives outside the clone, keyed by a hash of the requirements files, so a second
# run on the same machine skips the ~1 GB MindSpore install; MIXNET_HOME moves it (default
# ~/.cache/mixnet-ms). Peers used only by parity tests (MindCV 0.3.0) go to a separate --target
# directory, never onto the package path, since their package is also called `mindcv`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${MIXNET_HOME:-$HOME/.cache/mixnet-ms}"
PY="${PYTHON:-python3}"
HASH="$(cd "$ROOT" && cat requirements.txt requirements-dev.txt | sha256sum | cut -c1-12)"
VENV="$CACHE/venvs/$HASH"
if [ ! -f "$VENV/.complete" ]; then
  echo "[env] creating $VENV (first run installs MindSpore, ~1 GB, a few minutes)" >&2
  rm -rf "$VENV"
  mkdir -p "$CACHE/venvs"
  "$PY" -m venv "$VENV"
  "$VENV/bin/python" -m pip install --quiet --upgrade pip >&2
  "$VENV/bin/python" -m pip install --quiet -r "$ROOT/requirements-dev.txt" >&2
  touch "$VENV/.complete"
fi
if [ "${WITH_PEERS:-0}" = "1" ]; then
  PHASH="$(cd "$ROOT" && sha256sum requirements-peers.txt | cut -c1-12)"
  PEERS="$CACHE/peers/$PHASH"
  if [ ! -f "$PEERS/.complete" ]; then
    echo "[env] installing parity peers into $PEERS" >&2
    rm -rf "$PEERS"
    "$VENV/bin/python" -m pip install --quiet --no-deps --target "$PEERS" -r "$ROOT/requirements-peers.txt" >&2
    touch "$PEERS/.complete"
  fi
  echo "$VENV $PEERS"
else
  echo "$VENV"
fi
