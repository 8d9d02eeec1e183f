# Environment for numgeom commands; sourced by the other scripts.
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
export DAGSTER_HOME="${DAGSTER_HOME:-$ROOT/dagster_home}"
export MLFLOW_TRACKING_URI="${MLFLOW_TRACKING_URI:-sqlite:///$ROOT/mlruns/mlflow.db}"
export MLFLOW_DISABLE_TELEMETRY=true
# mlflow ui otherwise starts a job runner: 7 more processes and a minute to start on 2 cores.
export MLFLOW_SERVER_ENABLE_JOB_EXECUTION=false
export HF_HUB_OFFLINE=1
export TRANSFORMERS_OFFLINE=1
export VIRTUAL_ENV="$ROOT/.venv"
export PATH="$VIRTUAL_ENV/bin:$PATH"
mkdir -p "$DAGSTER_HOME" "$ROOT/mlruns"
