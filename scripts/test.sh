#!/usr/bin/env bash
# Sets up (with test extras and a headless Chromium) and runs the whole test suite.
# Usage: scripts/test.sh [pytest options]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh --dev
if [ ! -x /usr/bin/chromium ]; then
  echo "test: installing Debian chromium for the browser tests" >&2
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq >/dev/null && $SUDO apt-get install -y -qq chromium >/dev/null
fi
export RAG_CONFIG="$PWD/tests/rag-test.toml"
exec .venv/bin/python -m pytest "$@"
