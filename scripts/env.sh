#!/usr/bin/env bash
# Create (once) the project's virtual environment and print its directory.
# The environment lives outside the clone, keyed by a hash of the requirements files, so a second
# run on the same machine skips the ~1 GB MindSpore install; MIXNET_HOME moves it (default
# ~/.cache/mixnet-ms). Peers used only by parity tests (MindCV 0.3.0; torch + geffnet) go to separate
# --target directories, never onto the package path (MindCV's package is also called `mindcv`).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="${MIXNET_HOME:-$HOME/.cache/mixnet-ms}"
# Python 3.10-3.12: the versions MindSpore 2.10 ships wheels for (pyproject.toml's requires-python says the same)
SUPPORTED="3.10 3.11 3.12"
supported() {  # supported PYTHON: true when that interpreter runs and is one of SUPPORTED
  local version
  version="$("$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])' 2>/dev/null)" || return 1
  [[ " $SUPPORTED " == *" $version "* ]]
}
if [ -n "${PYTHON:-}" ]; then
  if ! supported "$PYTHON"; then
    echo "[env] error: PYTHON=$PYTHON is not Python ${SUPPORTED// /, } (MindSpore 2.10 has wheels for those only)" >&2
    exit 2
  fi
  PY="$PYTHON"
else
  PY=""
  for candidate in python3 python3.12 python3.11 python3.10; do
    if supported "$candidate"; then PY="$candidate"; break; fi
  done
  if [ -z "$PY" ]; then
    echo "[env] error: no Python ${SUPPORTED// /, } found (python3 is $(python3 --version 2>&1 || echo missing));" \
      "MindSpore 2.10 has wheels for those only: install one, or set PYTHON=/path/to/python3.12" >&2
    exit 2
  fi
fi
# keyed by the requirements and the interpreter's version: each Python gets its own environment
HASH="$(cd "$ROOT" && { cat requirements.txt requirements-dev.txt; "$PY" -c 'import sys; print(sys.version_info[:2])'; } \
  | sha256sum | cut -c1-12)"
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
# the package itself, editable, pointing at this clone (re-pointed when another clone shares the venv)
if [ "$(cd / && "$VENV/bin/python" -c 'import importlib.util as u, os; s = u.find_spec("mindcv"); print(os.path.dirname(os.path.dirname(s.origin)) if s else "")')" != "$ROOT" ]; then
  echo "[env] pip install -e $ROOT" >&2
  PYTHONWARNINGS=ignore "$VENV/bin/python" -m pip install --quiet --no-deps --no-build-isolation -e "$ROOT" >&2
fi
# install_peer NAME REQUIREMENTS: a --no-deps --target directory keyed by the requirements' hash
install_peer() {
  local req="$ROOT/$2" hash dir
  hash="$(sha256sum "$req" | cut -c1-12)"
  dir="$CACHE/peers/$1-$hash"
  if [ ! -f "$dir/.complete" ]; then
    echo "[env] installing parity peers ($2) into $dir" >&2
    rm -rf "$dir"
    "$VENV/bin/python" -m pip install --quiet --no-deps --target "$dir" -r "$req" >&2
    touch "$dir/.complete"
  fi
  echo "$dir"
}
if [ "${WITH_PEERS:-0}" = "1" ]; then
  echo "$VENV $(install_peer mindcv requirements-peers.txt) $(install_peer torch requirements-peers-torch.txt)"
else
  echo "$VENV"
fi
