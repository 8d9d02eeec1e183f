"""MLflow tracking for asset materialisations: one MLflow run per (asset, partition).

A run is created when an asset starts, filled with params, metrics and artifacts, and
ended FINISHED with the tag `numgeom.status=complete` only when the asset succeeds. A
failed asset ends its run FAILED; a killed process leaves it RUNNING without that tag, so
an incomplete record never looks complete.
"""

import contextlib
import json
import math
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl

from numgeom_assets import paths

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

MAX_PARAM_LENGTH = 6000  # MLflow's limit on one param value
# URL of the MLflow UI that the README starts. $NUMGEOM_MLFLOW_UI_URL or `ui_url` overrides it.
DEFAULT_UI_URL = "http://127.0.0.1:5000"


class TrackedRun:
    """An open MLflow run: the id plus helpers that log into it."""

    def __init__(self, client: Any, run_id: str, url: str) -> None:
        self.client = client
        self.run_id = run_id
        self.url = url

    def log_params(self, params: Mapping[str, Any]) -> None:
        """Log flat params; values are stringified and must fit MLflow's length limit."""
        from mlflow.entities import Param

        entries = [Param(key, _param_value(value)) for key, value in params.items()]
        for start in range(0, len(entries), 100):
            self.client.log_batch(self.run_id, params=entries[start : start + 100])

    def log_metrics(self, metrics: Mapping[str, float | None], step: int = 0) -> None:
        """Log finite metric values; None (an undefined metric) is skipped here and tagged."""
        import time

        from mlflow.entities import Metric

        timestamp = int(time.time() * 1000)
        entries = [
            Metric(key, float(value), timestamp, step)
            for key, value in metrics.items()
            if value is not None and math.isfinite(value)
        ]
        for start in range(0, len(entries), 500):
            self.client.log_batch(self.run_id, metrics=entries[start : start + 500])

    def set_tags(self, tags: Mapping[str, Any]) -> None:
        """Set string tags on the run."""
        from mlflow.entities import RunTag

        entries = [RunTag(key, str(value)) for key, value in tags.items()]
        if entries:
            self.client.log_batch(self.run_id, tags=entries)

    def log_artifact(self, path: Path, artifact_path: str | None = None) -> None:
        """Copy one file or folder into the run's artifacts."""
        path = Path(path)
        if path.is_dir():
            self.client.log_artifacts(self.run_id, str(path), artifact_path)
        else:
            self.client.log_artifact(self.run_id, str(path), artifact_path)

    def log_table(self, table: pl.DataFrame, name: str) -> None:
        """Store a polars table as `<name>.csv` and `<name>.parquet` artifacts."""
        with tempfile.TemporaryDirectory() as folder:
            table.write_csv(Path(folder) / f"{name}.csv")
            table.write_parquet(Path(folder) / f"{name}.parquet")
            self.client.log_artifacts(self.run_id, folder, "tables")

    def log_dict(self, data: Mapping[str, Any], name: str) -> None:
        """Store a JSON artifact."""
        self.client.log_text(self.run_id, json.dumps(data, indent=2, default=str), name)


class MlflowTracking(dg.ConfigurableResource):
    """MLflow tracking settings: where runs go and how to link to them."""

    tracking_uri: str = ""
    artifact_root: str = ""
    experiment_name: str = "numgeom"
    ui_url: str = ""

    def resolved_tracking_uri(self) -> str:
        return self.tracking_uri or paths.mlflow_tracking_uri()

    @contextlib.contextmanager
    def start_run(
        self,
        context: dg.AssetExecutionContext,
        params: Mapping[str, Any] | None = None,
        tags: Mapping[str, Any] | None = None,
    ) -> Iterator[TrackedRun]:
        """Open the MLflow run of the current asset and partition, tagged with Dagster ids."""
        from mlflow.tracking import MlflowClient

        client = MlflowClient(tracking_uri=self.resolved_tracking_uri())
        experiment_id = self._experiment_id(client)
        asset_key = context.asset_key.to_user_string()
        partition = _partition_label(context)
        run_tags = {
            "dagster.run_id": context.run.run_id,
            "dagster.asset_key": asset_key,
            "dagster.partition_key": partition,
            "numgeom.status": "running",
            **_code_version_tag(context),
            **_partition_tags(context),
            **(tags or {}),
        }
        run_name = asset_key if not partition else f"{asset_key} {partition.replace('|', ' ')}"
        mlflow_run = client.create_run(
            experiment_id, run_name=run_name, tags={k: str(v) for k, v in run_tags.items()}
        )
        run_id = mlflow_run.info.run_id
        ui_url = self.ui_url or os.environ.get("NUMGEOM_MLFLOW_UI_URL", DEFAULT_UI_URL)
        url = f"{ui_url}/#/experiments/{experiment_id}/runs/{run_id}"
        tracked = TrackedRun(client, run_id, url)
        context.log.info(f"MLflow run {run_id} started in experiment {self.experiment_name!r}")
        try:
            if params:
                tracked.log_params(params)
            yield tracked
        except BaseException:
            client.set_tag(run_id, "numgeom.status", "failed")
            client.set_terminated(run_id, status="FAILED")
            raise
        client.set_tag(run_id, "numgeom.status", "complete")
        client.set_terminated(run_id, status="FINISHED")

    def _experiment_id(self, client: Any) -> str:
        experiment = client.get_experiment_by_name(self.experiment_name)
        if experiment is not None:
            return experiment.experiment_id
        artifact_root = Path(self.artifact_root or paths.mlflow_artifact_root())
        artifact_root.mkdir(parents=True, exist_ok=True)
        return client.create_experiment(
            self.experiment_name, artifact_location=artifact_root.resolve().as_uri()
        )


def mlflow_metadata(run: TrackedRun) -> dict[str, dg.MetadataValue]:
    """Dagster metadata entries that link an asset materialisation to its MLflow run."""
    return {
        "mlflow_run_id": dg.MetadataValue.text(run.run_id),
        "mlflow_run_url": dg.MetadataValue.url(run.url),
    }


def _code_version_tag(context: dg.AssetExecutionContext) -> dict[str, str]:
    """The asset's code version as a tag, so runs of different code can be distinguished."""
    if not context.has_assets_def:
        return {}
    version = context.assets_def.code_versions_by_key.get(context.asset_key)
    return {"numgeom.code_version": version} if version else {}


def _partition_label(context: dg.AssetExecutionContext) -> str:
    return context.partition_key if context.has_partition_key else ""


def _partition_tags(context: dg.AssetExecutionContext) -> dict[str, str]:
    if not context.has_partition_key:
        return {}
    key = context.partition_key
    if isinstance(key, dg.MultiPartitionKey):
        return {f"numgeom.{dim}": value for dim, value in key.keys_by_dimension.items()}
    return {"numgeom.partition": str(key)}


def _param_value(value: Any) -> str:
    text = json.dumps(value) if isinstance(value, list | tuple | dict) else str(value)
    if len(text) > MAX_PARAM_LENGTH:
        return text[: MAX_PARAM_LENGTH - 3] + "..."
    return text
