"""The Dagster definitions of numgeom: the entry point for `dg` and workspace.yaml."""

import os

import dagster as dg

from numgeom_assets import paths
from numgeom_assets.assets.backbone_checkpoint import backbone_checkpoint
from numgeom_assets.assets.embedding_map import embedding_map
from numgeom_assets.assets.embeddings import embeddings
from numgeom_assets.assets.evaluation_metrics import evaluation_metrics
from numgeom_assets.assets.geometry_metrics import geometry_metrics
from numgeom_assets.assets.geometry_report import geometry_report
from numgeom_assets.assets.lora_adapter import lora_adapter
from numgeom_assets.assets.merged_checkpoint import merged_checkpoint
from numgeom_assets.assets.metrics_summary import metrics_summary
from numgeom_assets.assets.sequence_dataset import sequence_dataset
from numgeom_assets.assets.slerp_sweep import slerp_sweep
from numgeom_assets.automation import new_backbone_sensor, reevaluation_schedule
from numgeom_assets.io_manager import NumgeomIOManager
from numgeom_assets.jobs import JOBS
from numgeom_assets.resources import NumgeomStorage
from numgeom_assets.tracking import MlflowTracking

# No network on the machines numgeom targets: libraries must not try a hub or telemetry.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

ASSETS = [
    backbone_checkpoint,
    sequence_dataset,
    lora_adapter,
    merged_checkpoint,
    embeddings,
    geometry_metrics,
    embedding_map,
    evaluation_metrics,
    slerp_sweep,
    metrics_summary,
    geometry_report,
]


def build_resources(storage_root: str | None = None, tracking_uri: str = "") -> dict:
    """Resources with the default locations, or the given ones (tests pass temporary folders)."""
    root = storage_root or str(paths.storage_dir())
    return {
        "io_manager": NumgeomIOManager(root=root),
        "storage": NumgeomStorage(root=root),
        "mlflow": MlflowTracking(tracking_uri=tracking_uri),
    }


def build_definitions(resources: dict | None = None) -> dg.Definitions:
    """The numgeom Definitions, bound to `resources` (default locations when None).

    Steps run in one process: every step is CPU-bound and imports torch, so separate
    processes would only add start-up time.
    """
    return dg.Definitions(
        assets=ASSETS,
        jobs=JOBS,
        sensors=[new_backbone_sensor],
        schedules=[reevaluation_schedule],
        resources=resources or build_resources(),
        executor=dg.in_process_executor,
    )


defs = build_definitions()
