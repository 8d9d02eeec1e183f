"""The `metrics_summary` asset: every cell's scores in one table, with the study's figures."""

import dagster as dg
import polars as pl

from numgeom_assets.assets.geometry_metrics import METRICS_SCHEMA
from numgeom_assets.markdown import markdown_image, markdown_table
from numgeom_assets.partitions import parse_cell
from numgeom_assets.registry import registered_backbones
from numgeom_assets.resources import NumgeomStorage
from numgeom_assets.tracking import MlflowTracking, mlflow_metadata
from numgeom_core.errors import NumgeomError
from numgeom_core.metrics import metric_spec
from numgeom_core.plots import plot_metric_bars, plot_sweep_curves, plot_umap_grid

BAR_METRICS = ("silhouette", "davies_bouldin")


@dg.asset(
    group_name="metrics",
    kinds={"polars", "parquet"},
    ins={
        "geometry_metrics": dg.AssetIn(partition_mapping=dg.AllPartitionMapping()),
        "embedding_map": dg.AssetIn(partition_mapping=dg.AllPartitionMapping()),
        "slerp_sweep": dg.AssetIn(partition_mapping=dg.AllPartitionMapping()),
    },
    code_version="1",
    # Refresh after upstream cells change (a backfill, the schedule), once none is running.
    automation_condition=dg.AutomationCondition.eager(),
)
def metrics_summary(
    context: dg.AssetExecutionContext,
    geometry_metrics: dict[str, pl.DataFrame],
    embedding_map: dict[str, pl.DataFrame],
    slerp_sweep: dict[str, pl.DataFrame],
    sequence_dataset: pl.DataFrame,
    storage: NumgeomStorage,
    mlflow: MlflowTracking,
) -> dg.Output[pl.DataFrame]:
    """The metrics of every materialised backbone × merge method cell, with bar charts and maps."""
    if not geometry_metrics:
        raise NumgeomError(
            "No geometry_metrics partition is materialised, so there is nothing to summarise. "
            "Materialise embeddings and geometry_metrics for at least one backbone first."
        )
    table = pl.concat(list(geometry_metrics.values())).cast(METRICS_SCHEMA)
    table = table.sort("backbone", "merge_method", "split", maintain_order=True)
    table = table.join(_backbone_labels(table), on="backbone", how="left")
    maps = (
        pl.concat(
            [
                frame.with_columns(
                    backbone=pl.lit(parse_cell(key).backbone),
                    merge_method=pl.lit(parse_cell(key).merge_method),
                )
                for key, frame in embedding_map.items()
            ]
        )
        if embedding_map
        else pl.DataFrame(schema={"backbone": pl.Utf8, "merge_method": pl.Utf8})
    )
    context.log.info(
        f"Summarising {table.select('backbone', 'merge_method').n_unique()} cells "
        f"and {len(embedding_map)} maps"
    )

    plots_dir = storage.folder("metrics_summary", "plots")
    families = sequence_dataset["family"].unique(maintain_order=True).to_list()
    figures = {}
    for metric in BAR_METRICS:
        better = "higher" if metric_spec(metric).higher_is_better else "lower"
        figures[metric] = plot_metric_bars(table, metric, plots_dir / f"{metric}.png", better)
    if maps.height:
        figures["umap"] = plot_umap_grid(maps, plots_dir / "umap_grid.png", families)
    if slerp_sweep:
        curves = pl.concat(list(slerp_sweep.values()))
        curves = curves.filter(pl.col("split") == curves["split"][0])
        figures["slerp_sweep"] = plot_sweep_curves(
            curves, plots_dir / "slerp_sweep.png", BAR_METRICS
        )

    with mlflow.start_run(context, params={"n_cells": len(geometry_metrics)}) as run:
        run.log_table(table, "metrics_summary")
        for path in figures.values():
            run.log_artifact(path, "plots")

    return dg.Output(table, metadata=_metadata(table, figures, run))


def _backbone_labels(table: pl.DataFrame) -> pl.DataFrame:
    """Kind and weight provenance of each backbone, so quantised LLM weights are labelled."""
    specs = registered_backbones()
    rows = []
    for name in table["backbone"].unique().to_list():
        spec = specs.get(name)
        rows.append(
            {
                "backbone": name,
                "kind": spec.kind if spec else None,
                "weights": (
                    f"dequantised from {spec.quantized_from}"
                    if spec and spec.quantized_from
                    else "original"
                ),
            }
        )
    return pl.DataFrame(rows, schema={"backbone": pl.Utf8, "kind": pl.Utf8, "weights": pl.Utf8})


def _metadata(table: pl.DataFrame, figures: dict, run) -> dict:
    wide = table.filter(pl.col("metric").is_in(["silhouette", "davies_bouldin", "kmeans_ari"]))
    wide = wide.pivot(
        on="metric", index=["backbone", "kind", "weights", "merge_method", "split"], values="value"
    )
    metadata = {
        "n_rows": dg.MetadataValue.int(table.height),
        "scores": dg.MetadataValue.md(markdown_table(wide)),
        **mlflow_metadata(run),
    }
    for name, path in figures.items():
        metadata[f"plot_{name}"] = dg.MetadataValue.md(markdown_image(path, name))
        metadata[f"plot_{name}_path"] = dg.MetadataValue.path(str(path))
    return metadata
