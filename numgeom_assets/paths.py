"""Default locations of the Dagster instance, asset storage and the MLflow store."""

import os
from pathlib import Path


def project_root() -> Path:
    """Return the repository root when numgeom is installed from a checkout, else the cwd."""
    candidate = Path(__file__).resolve().parents[1]
    if (candidate / "pyproject.toml").is_file():
        return candidate
    return Path.cwd()


def dagster_home() -> Path:
    """Return $DAGSTER_HOME, or the repository's dagster_home/ when it is unset."""
    configured = os.environ.get("DAGSTER_HOME")
    return Path(configured) if configured else project_root() / "dagster_home"


def storage_dir() -> Path:
    """Return where asset files live: $NUMGEOM_STORAGE_DIR, else <DAGSTER_HOME>/storage."""
    configured = os.environ.get("NUMGEOM_STORAGE_DIR")
    return Path(configured) if configured else dagster_home() / "storage"


def mlflow_tracking_uri() -> str:
    """Return $MLFLOW_TRACKING_URI, else the SQLite database under the repository's mlruns/."""
    configured = os.environ.get("MLFLOW_TRACKING_URI")
    if configured:
        return configured
    return f"sqlite:///{project_root() / 'mlruns' / 'mlflow.db'}"


def mlflow_artifact_root() -> Path:
    """Return where new MLflow experiments keep artifacts: $NUMGEOM_MLFLOW_ARTIFACTS or mlruns/."""
    configured = os.environ.get("NUMGEOM_MLFLOW_ARTIFACTS")
    return Path(configured) if configured else project_root() / "mlruns" / "artifacts"
