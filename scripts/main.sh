#!/usr/bin/env bash
# Set up the environment, then run the main job: every asset for every default backbone.
# Extra arguments go to `numgeom run` (for example --profile small).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
source scripts/env.sh
exec numgeom run "$@"
