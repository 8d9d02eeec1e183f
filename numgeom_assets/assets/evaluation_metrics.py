"""The `evaluation_metrics` asset: classification, similarity to base and bootstrap intervals
of each cell's embeddings, per split."""

import math
from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl

from numgeom_assets.io_manager import read_stored
from numgeom_assets.markdown import markdown_image, markdown_table
from numgeom_assets.partitions import cell_key, cell_partitions, parse_cell
from numgeom_assets.resources import NumgeomStorage
from numgeom_assets.settings import MetricsSettings
from numgeom_assets.tracking import MlflowTracking, mlflow_metadata
from numgeom_core.data import NUISANCE_ATTRIBUTES
from numgeom_core.errors import NumgeomError
from numgeom_core.evaluation import (
    EvaluationConfig,
    contingency_rows,
    evaluate_split,
    probe_rows,
)
from numgeom_core.metrics import BootstrapConfig, metric_spec
from numgeom_core.plots_eval import plot_contingency_heatmaps

PRIMARY_SPLIT = "eval"
SPLIT_ORDER = ("train", "eval", "ood")
_BOOTSTRAP = BootstrapConfig()

EVALUATION_SCHEMA = {
    "backbone": pl.Utf8,
    "merge_method": pl.Utf8,
    "split": pl.Utf8,
    "metric": pl.Utf8,
    "value": pl.Float64,
    "low": pl.Float64,
    "high": pl.Float64,
    "level": pl.Float64,
    "reason": pl.Utf8,
    "n_samples": pl.Int64,
    "replicates": pl.List(pl.Float64),
}

evaluation_check = dg.AssetCheckSpec(
    "evaluation_values_are_in_valid_ranges",
    asset="evaluation_metrics",
    description=(
        "Every defined value and interval end lies in its metric's valid range, low <= high, "
        "and every undefined value has a reason."
    ),
)


class EvaluationSettings(dg.Config):
    """k-NN, probe, neighbour overlap and bootstrap settings, and the k-means settings."""

    k: int = 5
    folds: int = 5
    probe_c: float = 1.0
    probe_max_iter: int = 1000
    overlap_k: int = 10
    resamples: int = _BOOTSTRAP.resamples
    level: float = _BOOTSTRAP.level
    seed: int = _BOOTSTRAP.seed
    metrics: MetricsSettings = MetricsSettings()

    def to_core(self) -> EvaluationConfig:
        bootstrap = BootstrapConfig(
            resamples=self.resamples, level=self.level, seed=self.seed, knn_k=self.k
        )
        return EvaluationConfig(
            knn_k=self.k,
            folds=self.folds,
            probe_c=self.probe_c,
            probe_max_iter=self.probe_max_iter,
            overlap_k=self.overlap_k,
            bootstrap=bootstrap,
            kmeans=self.metrics.to_core(),
        )


@dg.asset(
    partitions_def=cell_partitions,
    group_name="metrics",
    kinds={"polars", "parquet"},
    check_specs=[evaluation_check],
    code_version="1",
)
def evaluation_metrics(
    context: dg.AssetExecutionContext,
    config: EvaluationSettings,
    embeddings: pl.DataFrame,
    sequence_dataset: pl.DataFrame,
    storage: NumgeomStorage,
    mlflow: MlflowTracking,
):
    """k-NN and probe accuracy, CKA and neighbour overlap with base, intervals, per split."""
    cell = parse_cell(context.partition_key)
    evaluation_config = config.to_core()
    joined = _join(sequence_dataset, embeddings, "embedding")
    joined = joined.join(
        _join(
            sequence_dataset, _base_embeddings(storage, cell, embeddings), "base_embedding"
        ).select("sample_id", "base_embedding"),
        on="sample_id",
        how="left",
        maintain_order="left",
    )

    splits = _ordered_splits(joined)
    train = joined.filter(pl.col("split") == "train")
    X_train = _vectors(train, "embedding") if train.height else None
    train_labels = train["family"].to_list() if train.height else None
    rows, contingency = [], {}
    for split in splits:
        part = joined.filter(pl.col("split") == split)
        X, labels = _vectors(part, "embedding"), part["family"].to_list()
        attributes = {name: part[name].to_list() for name in NUISANCE_ATTRIBUTES}
        context.log.info(f"{cell.backbone}/{cell.merge_method} {split}: {part.height} samples")
        split_rows = evaluate_split(
            split, X, _vectors(part, "base_embedding"), labels, evaluation_config
        )
        split_rows += probe_rows(split, X_train, train_labels, X, labels, evaluation_config)
        nmi_rows, contingency[split] = contingency_rows(
            split, X, labels, attributes, evaluation_config
        )
        for entry in split_rows + nmi_rows:
            rows.append(
                {
                    "backbone": cell.backbone,
                    "merge_method": cell.merge_method,
                    "n_samples": part.height,
                    **entry,
                }
            )
    table = pl.DataFrame(rows, schema=EVALUATION_SCHEMA)

    heatmap = _plot_heatmaps(storage, cell, contingency)
    params = {
        "backbone": cell.backbone,
        "merge_method": cell.merge_method,
        **{f"evaluation.{k}": v for k, v in config.model_dump().items()},
    }
    with mlflow.start_run(context, params=params) as run:
        run.log_metrics({f"{r['split']}/{r['metric']}": r["value"] for r in rows})
        run.set_tags(
            {f"undefined.{r['split']}.{r['metric']}": r["reason"] for r in rows if r["reason"]}
        )
        run.log_table(table.drop("replicates"), "evaluation_metrics")
        for split, tables in contingency.items():
            for attribute, counts in tables.items():
                run.log_table(counts, f"contingency_{split}_{attribute}")
        if heatmap is not None:
            run.log_artifact(heatmap, "plots")

    yield dg.Output(table, metadata=_metadata(table, heatmap, run))
    yield check_evaluation_ranges(table)


def _join(dataset: pl.DataFrame, embeddings: pl.DataFrame, column: str) -> pl.DataFrame:
    """Join embeddings onto the dataset's rows, in dataset order, with the vectors as `column`."""
    renamed = embeddings.select("sample_id", pl.col("embedding").alias(column))
    joined = dataset.join(
        renamed, on="sample_id", how="inner", validate="1:1", maintain_order="left"
    )
    if joined.height != dataset.height:
        raise NumgeomError(
            f"Only {joined.height} of the {dataset.height} dataset samples have embeddings in "
            f"{column!r}: re-materialise embeddings for this cell after sequence_dataset."
        )
    return joined


def _base_embeddings(storage: NumgeomStorage, cell, embeddings: pl.DataFrame) -> pl.DataFrame:
    """Return the base cell's embeddings of the same backbone (this cell's own when it is base)."""
    if cell.merge_method == "base":
        return embeddings
    key = cell_key(cell.backbone, "base")
    try:
        return read_stored(Path(storage.root), "embeddings", key)
    except FileNotFoundError as error:
        raise NumgeomError(
            f"The base embeddings of backbone {cell.backbone!r} are not materialised, and "
            f"{cell.backbone}/{cell.merge_method} is compared with them. Materialise "
            f"embeddings for partition {key} first, then this cell again."
        ) from error


def _ordered_splits(joined: pl.DataFrame) -> list[str]:
    present = joined["split"].unique(maintain_order=True).to_list()
    return [s for s in SPLIT_ORDER if s in present] + [s for s in present if s not in SPLIT_ORDER]


def _vectors(part: pl.DataFrame, column: str) -> np.ndarray:
    return part[column].to_numpy().astype(np.float32)  # [n, H]


def _plot_heatmaps(storage: NumgeomStorage, cell, contingency: dict) -> Path | None:
    """Draw the primary split's cluster × attribute heat maps, or None if it has none."""
    split = PRIMARY_SPLIT if PRIMARY_SPLIT in contingency else next(iter(contingency), None)
    if split is None or not contingency[split]:
        return None
    folder = storage.folder("evaluation_metrics", cell.backbone, cell.merge_method)
    title = f"{cell.backbone}/{cell.merge_method}: k-means clusters against attributes ({split})"
    return plot_contingency_heatmaps(contingency[split], folder / f"contingency_{split}.png", title)


def check_evaluation_ranges(table: pl.DataFrame) -> dg.AssetCheckResult:
    """Check values and interval ends against each metric's valid range, and reasons on the rest."""
    problems = []
    for entry in table.iter_rows(named=True):
        label = f"{entry['split']}/{entry['metric']}"
        if entry["value"] is None:
            if not entry["reason"]:
                problems.append(f"{label} is missing without a reason")
            continue
        low, high = metric_spec(entry["metric"]).valid_range
        for name in ("value", "low", "high"):
            value = entry[name]
            if value is not None and not (math.isfinite(value) and low <= value <= high):
                problems.append(f"{label} {name} = {value} outside [{low}, {high}]")
        if entry["low"] is not None and entry["high"] is not None and entry["low"] > entry["high"]:
            problems.append(f"{label} interval [{entry['low']}, {entry['high']}] is reversed")
    return dg.AssetCheckResult(
        check_name="evaluation_values_are_in_valid_ranges",
        passed=not problems,
        metadata={"problems": dg.MetadataValue.text("; ".join(problems) or "none")},
    )


def _metadata(table: pl.DataFrame, heatmap: Path | None, run) -> dict:
    wide = table.pivot(on="metric", index="split", values="value")
    intervals = table.filter(pl.col("low").is_not_null()).select(
        "split", "metric", "value", "low", "high"
    )
    metadata = {
        "scores": dg.MetadataValue.md(markdown_table(wide)),
        "intervals": dg.MetadataValue.md(markdown_table(intervals)),
        **mlflow_metadata(run),
    }
    if heatmap is not None:
        metadata["contingency"] = dg.MetadataValue.md(markdown_image(heatmap, "contingency"))
        metadata["contingency_path"] = dg.MetadataValue.path(str(heatmap))
    primary = table.filter(pl.col("split") == PRIMARY_SPLIT)
    for name in ("knn_accuracy", "probe_accuracy", "linear_cka"):
        value = primary.filter(pl.col("metric") == name)["value"]
        if value.len() and value[0] is not None:
            metadata[f"{PRIMARY_SPLIT}_{name}"] = dg.MetadataValue.float(round(value[0], 4))
    return metadata
