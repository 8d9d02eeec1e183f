"""The `slerp_sweep` asset: clustering scores along SLERP from base to the LoRA weights."""

import tempfile
from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl

from numgeom_assets.io_manager import read_stored
from numgeom_assets.markdown import markdown_image, markdown_table
from numgeom_assets.partitions import backbone_partitions
from numgeom_assets.registry import backbone_spec
from numgeom_assets.resources import NumgeomStorage
from numgeom_assets.settings import MetricsSettings, SweepSettings
from numgeom_assets.tracking import MlflowTracking, mlflow_metadata
from numgeom_core.data import NUISANCE_ATTRIBUTES
from numgeom_core.errors import ConfigError
from numgeom_core.merging import SlerpSettings, merge_checkpoints
from numgeom_core.metrics import compute_geometry_metrics
from numgeom_core.models import EmbeddingConfig, embed_texts, load_backbone
from numgeom_core.plots import plot_sweep_curves

CURVE_METRICS = ("silhouette", "davies_bouldin")
SWEEP_SCHEMA = {
    "backbone": pl.Utf8,
    "t": pl.Float64,
    "split": pl.Utf8,
    "metric": pl.Utf8,
    "value": pl.Float64,
    "reason": pl.Utf8,
}


class SlerpSweepSettings(SweepSettings):
    """Sweep settings plus the k-means settings of the metrics."""

    metrics: MetricsSettings = MetricsSettings()


@dg.asset(
    partitions_def=backbone_partitions,
    group_name="metrics",
    kinds={"polars", "parquet"},
    deps=["backbone_checkpoint", "lora_adapter"],
    code_version="1",
)
def slerp_sweep(
    context: dg.AssetExecutionContext,
    config: SlerpSweepSettings,
    sequence_dataset: pl.DataFrame,
    storage: NumgeomStorage,
    mlflow: MlflowTracking,
) -> dg.Output[pl.DataFrame]:
    """Geometry metrics of SLERP(base, final LoRA weights) at each t of the sweep."""
    spec = backbone_spec(context.partition_key)
    base = Path(read_stored(storage.root, "backbone_checkpoint", spec.name)["path"])
    final = Path(read_stored(storage.root, "lora_adapter", spec.name)["merged_stages"][-1])
    _check_t_values(config.t_values)
    part = sequence_dataset.filter(pl.col("split").is_in(config.splits))

    rows = []
    params = {"backbone": spec.name, **{f"sweep.{k}": v for k, v in config.model_dump().items()}}
    with mlflow.start_run(context, params=params) as run:
        for t in sorted(config.t_values):
            context.log.info(f"SLERP t={t:g}: merging, embedding {part.height} sequences")
            vectors = _embed_at(t, base, final, spec, part, config, storage)
            for split in config.splits:
                rows.extend(_score(spec.name, t, split, part, vectors, config))
            scores = {f"{r['split']}/{r['metric']}": r["value"] for r in rows if r["t"] == t}
            run.log_metrics(scores, step=round(100 * t))
        table = pl.DataFrame(rows, schema=SWEEP_SCHEMA)
        plot = storage.folder("slerp_sweep", spec.name) / "curves.png"
        plot_sweep_curves(table.filter(pl.col("split") == config.splits[0]), plot, CURVE_METRICS)
        run.log_artifact(plot, "plots")
        run.log_table(table, "slerp_sweep")

    wide = table.filter(pl.col("metric").is_in(CURVE_METRICS)).pivot(
        on="metric", index=["t", "split"], values="value"
    )
    metadata = {
        "curve": dg.MetadataValue.md(markdown_image(plot, "SLERP sweep")),
        "scores": dg.MetadataValue.md(markdown_table(wide)),
        **mlflow_metadata(run),
    }
    return dg.Output(table, metadata=metadata)


def _embed_at(t, base, final, spec, part, config, storage) -> np.ndarray:
    """Embed the sweep's samples with SLERP(base, final) at t; endpoints use the inputs."""
    embedding_config = EmbeddingConfig(batch_size=config.batch_size)
    texts = part["text"].to_list()
    if t in (0.0, 1.0):
        model, tokenizer = load_backbone(base if t == 0.0 else final, spec)
        return embed_texts(model, tokenizer, texts, spec, embedding_config).vectors

    scratch = storage.folder("slerp_sweep", spec.name)
    with tempfile.TemporaryDirectory(dir=scratch, prefix=".t-") as folder:
        output = Path(folder) / "merged"
        layer_t = tuple(config.slerp_layer_t) if config.slerp_layer_t else None
        merge_checkpoints("slerp", [base, final], output, SlerpSettings(t=t, layer_t=layer_t))
        model, tokenizer = load_backbone(output, spec)
        return embed_texts(model, tokenizer, texts, spec, embedding_config).vectors


def _score(backbone, t, split, part, vectors, config) -> list[dict]:
    mask = (part["split"] == split).to_numpy()
    rows = part.filter(pl.Series(mask))
    attributes = {name: rows[name].to_list() for name in NUISANCE_ATTRIBUTES}
    values = compute_geometry_metrics(
        vectors[mask], rows["family"].to_list(), attributes, config.metrics.to_core()
    )
    return [
        {
            "backbone": backbone,
            "t": float(t),
            "split": split,
            "metric": value.name,
            "value": value.value,
            "reason": value.reason,
        }
        for value in values
    ]


def _check_t_values(t_values: list[float]) -> None:
    if not t_values or any(not 0.0 <= t <= 1.0 for t in t_values):
        raise ConfigError(
            f"Invalid t_values {t_values}: expected a non-empty list of values in [0, 1], "
            "for example [0, 0.25, 0.5, 0.75, 1]."
        )
