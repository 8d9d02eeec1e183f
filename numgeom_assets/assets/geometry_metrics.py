"""The `geometry_metrics` asset: clustering scores of each cell's embeddings, per split."""

import math

import dagster as dg
import numpy as np
import polars as pl

from numgeom_assets.markdown import markdown_table
from numgeom_assets.partitions import cell_partitions, parse_cell
from numgeom_assets.settings import MetricsSettings
from numgeom_assets.tracking import MlflowTracking, mlflow_metadata
from numgeom_core.data import NUISANCE_ATTRIBUTES
from numgeom_core.metrics import compute_geometry_metrics, metric_spec

PRIMARY_SPLIT = "eval"

METRICS_SCHEMA = {
    "backbone": pl.Utf8,
    "merge_method": pl.Utf8,
    "split": pl.Utf8,
    "metric": pl.Utf8,
    "value": pl.Float64,
    "reason": pl.Utf8,
    "n_samples": pl.Int64,
}

metrics_check = dg.AssetCheckSpec(
    "metric_values_are_in_valid_ranges",
    asset="geometry_metrics",
    description="Every defined metric lies in its valid range; every undefined one has a reason.",
)


@dg.asset(
    partitions_def=cell_partitions,
    group_name="metrics",
    kinds={"polars", "parquet"},
    check_specs=[metrics_check],
    code_version="1",
)
def geometry_metrics(
    context: dg.AssetExecutionContext,
    config: MetricsSettings,
    embeddings: pl.DataFrame,
    sequence_dataset: pl.DataFrame,
    mlflow: MlflowTracking,
):
    """Silhouette, Davies–Bouldin, Calinski–Harabasz and k-means agreement per split."""
    cell = parse_cell(context.partition_key)
    metrics_config = config.to_core()
    joined = sequence_dataset.join(embeddings, on="sample_id", how="inner", validate="1:1")

    rows = []
    for split in joined["split"].unique(maintain_order=True).to_list():
        part = joined.filter(pl.col("split") == split)
        vectors = part["embedding"].to_numpy().astype(np.float32)  # [n, H]
        attributes = {name: part[name].to_list() for name in NUISANCE_ATTRIBUTES}
        values = compute_geometry_metrics(
            vectors, part["family"].to_list(), attributes, metrics_config
        )
        context.log.info(f"{cell.backbone}/{cell.merge_method} {split}: {_summary(values)}")
        for value in values:
            rows.append(
                {
                    "backbone": cell.backbone,
                    "merge_method": cell.merge_method,
                    "split": split,
                    "metric": value.name,
                    "value": value.value,
                    "reason": value.reason,
                    "n_samples": part.height,
                }
            )
    table = pl.DataFrame(rows, schema=METRICS_SCHEMA)

    params = {
        "backbone": cell.backbone,
        "merge_method": cell.merge_method,
        **{f"metrics.{k}": v for k, v in config.model_dump().items()},
    }
    with mlflow.start_run(context, params=params) as run:
        run.log_metrics({f"{r['split']}/{r['metric']}": r["value"] for r in rows})
        undefined = {
            f"undefined.{r['split']}.{r['metric']}": r["reason"] for r in rows if r["reason"]
        }
        run.set_tags(undefined)
        run.log_table(table, "geometry_metrics")

    yield dg.Output(table, metadata=_metadata(table, run))
    yield check_metric_ranges(table)


def check_metric_ranges(table: pl.DataFrame) -> dg.AssetCheckResult:
    """Check every defined value against its metric's valid range, and reasons on the rest."""
    problems = []
    for row in table.iter_rows(named=True):
        label = f"{row['split']}/{row['metric']}"
        if row["value"] is None:
            if not row["reason"]:
                problems.append(f"{label} is missing without a reason")
            continue
        low, high = metric_spec(row["metric"]).valid_range
        if not (math.isfinite(row["value"]) and low <= row["value"] <= high):
            problems.append(f"{label} = {row['value']} outside [{low}, {high}]")
    return dg.AssetCheckResult(
        check_name="metric_values_are_in_valid_ranges",
        passed=not problems,
        metadata={"problems": dg.MetadataValue.text("; ".join(problems) or "none")},
    )


def _metadata(table: pl.DataFrame, run) -> dict:
    wide = table.pivot(on="metric", index="split", values="value")
    metadata = {"scores": dg.MetadataValue.md(markdown_table(wide)), **mlflow_metadata(run)}
    primary = table.filter(pl.col("split") == PRIMARY_SPLIT)
    for name in ("silhouette", "davies_bouldin", "kmeans_ari"):
        value = primary.filter(pl.col("metric") == name)["value"]
        if value.len() and value[0] is not None:
            metadata[f"{PRIMARY_SPLIT}_{name}"] = dg.MetadataValue.float(round(value[0], 4))
    return metadata


def _summary(values) -> str:
    shown = []
    for value in values[:3]:
        shown.append(
            f"{value.name}={value.value:.4f}" if value.value is not None else f"{value.name}=n/a"
        )
    return ", ".join(shown)
