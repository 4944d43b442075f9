#!/usr/bin/env bash
# Sets up, indexes seeds/ (only what changed) and serves the API and chat page.
# Usage: scripts/serve.sh [rag serve options, e.g. --port 8080]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
.venv/bin/rag index "${RAG_CORPUS:-seeds}"
exec .venv/bin/rag serve "$@"
