"""The `geometry_report` asset: the study's Markdown report, its figures and claim verdicts."""

import datetime as dt
import re
from collections.abc import Callable
from pathlib import Path

import dagster as dg
import polars as pl

from numgeom_assets.assets.evaluation_metrics import EVALUATION_SCHEMA
from numgeom_assets.markdown import markdown_image, markdown_table
from numgeom_assets.resources import NumgeomStorage
from numgeom_assets.tracking import MlflowTracking, mlflow_metadata
from numgeom_core.atomic import write_bytes_atomic
from numgeom_core.claims import ClaimVerdict, evaluate_claims, retained_gain_table
from numgeom_core.errors import NumgeomError
from numgeom_core.metrics import metric_spec
from numgeom_core.plots import plot_metric_bars
from numgeom_core.plots_eval import plot_slerp_curves, plot_tradeoff

PAGE = "report.md"
PRIMARY_SPLIT = "eval"
SUMMARY_BARS = ("silhouette", "davies_bouldin")
EVALUATION_BARS = ("knn_accuracy", "linear_cka")
TABLE_METRICS = ("silhouette", "davies_bouldin", "kmeans_ari")
IMAGE_LINK = re.compile(r"!\[([^\]]*)\]\(([^)\s]+\.png)\)")


@dg.asset(
    group_name="report",
    kinds={"markdown"},
    ins={
        "evaluation_metrics": dg.AssetIn(partition_mapping=dg.AllPartitionMapping()),
        "slerp_sweep": dg.AssetIn(partition_mapping=dg.AllPartitionMapping()),
    },
    code_version="1",
)
def geometry_report(
    context: dg.AssetExecutionContext,
    metrics_summary: pl.DataFrame,
    evaluation_metrics: dict[str, pl.DataFrame],
    slerp_sweep: dict[str, pl.DataFrame],
    storage: NumgeomStorage,
    mlflow: MlflowTracking,
) -> dg.Output[dict]:
    """The study's report page with its figures, tables and the verdict on each claim."""
    if not evaluation_metrics:
        raise NumgeomError(
            "No evaluation_metrics partition is materialised, so the report has no evidence. "
            "Materialise evaluation_metrics for at least one backbone's cells first."
        )
    evaluation = pl.concat(list(evaluation_metrics.values())).cast(EVALUATION_SCHEMA)
    sweep = pl.concat(list(slerp_sweep.values())) if slerp_sweep else None
    folder = storage.folder("geometry_report")

    figures = draw_figures(metrics_summary, evaluation, sweep, folder, Path(storage.root))
    verdicts = evaluate_claims(metrics_summary, evaluation)
    gains = retained_gain_table(evaluation)
    page = render_page(metrics_summary, evaluation, gains, verdicts, figures)
    page_path = folder / PAGE
    write_bytes_atomic(page_path, page.encode())
    context.log.info(f"Wrote {page_path} with {len(figures)} figures")

    with mlflow.start_run(context, params={"n_cells": len(evaluation_metrics)}) as run:
        run.log_artifact(page_path, "report")
        for path in figures.values():
            run.log_artifact(path, "report")
        run.log_table(gains, "retained_gain")
        run.set_tags({f"claim.{v.claim_id}": v.verdict for v in verdicts})

    record = {
        "path": str(page_path),
        "created": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
        "figures": {name: str(path) for name, path in figures.items()},
        "verdicts": {str(v.claim_id): v.verdict for v in verdicts},
    }
    metadata = {
        "report": dg.MetadataValue.md(inline_images(page, folder)),
        "path": dg.MetadataValue.path(str(page_path)),
        "verdicts": dg.MetadataValue.text(
            "; ".join(f"claim {v.claim_id}: {v.verdict}" for v in verdicts)
        ),
        **mlflow_metadata(run),
    }
    return dg.Output(record, metadata=metadata)


def draw_figures(
    summary: pl.DataFrame,
    evaluation: pl.DataFrame,
    sweep: pl.DataFrame | None,
    folder: Path,
    storage_root: Path,
) -> dict[str, Path]:
    """Draw (or copy) every figure of the page into `folder`, keyed by figure name."""
    figures = {}
    for metric in SUMMARY_BARS:
        if summary.filter(pl.col("metric") == metric).height:
            figures[metric] = plot_metric_bars(
                summary, metric, folder / f"{metric}.png", _better(metric)
            )
    for metric in EVALUATION_BARS:
        if evaluation.filter(pl.col("metric") == metric).height:
            figures[metric] = plot_metric_bars(
                evaluation, metric, folder / f"{metric}.png", _better(metric)
            )

    umap = storage_root / "metrics_summary" / "plots" / "umap_grid.png"
    if umap.is_file():
        write_bytes_atomic(folder / "umap_grid.png", umap.read_bytes())
        figures["umap_grid"] = folder / "umap_grid.png"

    figures["tradeoff"] = plot_tradeoff(tradeoff_points(evaluation), folder / "tradeoff.png")
    if sweep is not None and sweep.height:
        curves = sweep.filter(
            (pl.col("split") == PRIMARY_SPLIT) & pl.col("metric").is_in(SUMMARY_BARS)
        ).select("backbone", "t", "metric", "value")
        if curves.height:
            figures["slerp_curves"] = plot_slerp_curves(curves, folder / "slerp_curves.png")
    return figures


def tradeoff_points(evaluation: pl.DataFrame) -> pl.DataFrame:
    """One row per cell: eval CKA to base (similarity) and eval silhouette (separation)."""
    primary = evaluation.filter(pl.col("split") == PRIMARY_SPLIT)
    columns = {}
    for metric, name in (("linear_cka", "similarity"), ("silhouette", "separation")):
        columns[name] = primary.filter(pl.col("metric") == metric).select(
            "backbone",
            "merge_method",
            pl.col("value").alias(name),
            pl.col("low").alias(f"{name}_low"),
            pl.col("high").alias(f"{name}_high"),
        )
    return columns["similarity"].join(
        columns["separation"], on=["backbone", "merge_method"], how="full", coalesce=True
    )


def render_page(
    summary: pl.DataFrame,
    evaluation: pl.DataFrame,
    gains: pl.DataFrame,
    verdicts: list[ClaimVerdict],
    figures: dict[str, Path],
) -> str:
    """Render the report as Markdown; figures are linked by file name, relative to the page."""
    lines = [
        "# numgeom geometry report",
        "",
        f"Date: {dt.datetime.now(dt.UTC).date().isoformat()}",
        "",
        "## Backbones",
        "",
        markdown_table(_backbones(summary, evaluation)),
        "",
        "## Claims",
        "",
    ]
    for verdict in verdicts:
        lines += [
            f"### Claim {verdict.claim_id}: {verdict.verdict}",
            "",
            f"> {verdict.statement}",
            "",
        ]
        lines += [verdict.sentence, ""]

    lines += ["## Geometry metrics (eval split)", "", markdown_table(_summary_table(summary)), ""]
    lines += [
        "## Evaluation metrics (eval split)",
        "",
        markdown_table(_evaluation_table(evaluation)),
        "",
    ]
    eval_gains = gains.filter(pl.col("split") == PRIMARY_SPLIT)
    lines += [
        "## Retained gain (eval split)",
        "",
        "(m(method) − m(base)) / (m(lora) − m(base)): 1 keeps all of LoRA's gain, 0 none.",
        "",
        markdown_table(eval_gains) if eval_gains.height else "No merged cell besides lora.",
        "",
        "## Figures",
        "",
    ]
    for name, path in figures.items():
        lines += [f"### {name.replace('_', ' ')}", "", f"![{name}]({path.name})", ""]
    return "\n".join(lines)


def inline_images(page: str, folder: Path, image: Callable = markdown_image) -> str:
    """Return the page with each relative PNG link replaced by an inline data URI."""
    return IMAGE_LINK.sub(lambda match: image(folder / match.group(2), match.group(1)), page)


def referenced_images(page: str) -> list[str]:
    """Return the PNG file names a page links to, in order."""
    return [match.group(2) for match in IMAGE_LINK.finditer(page)]


def _better(metric: str) -> str:
    return "higher" if metric_spec(metric).higher_is_better is not False else "lower"


def _backbones(summary: pl.DataFrame, evaluation: pl.DataFrame) -> pl.DataFrame:
    """Kind and weight provenance of every backbone, with its evaluated merge methods."""
    labels = summary.select("backbone", "kind", "weights").unique().sort("backbone")
    methods = evaluation.group_by("backbone").agg(
        pl.col("merge_method").unique().sort().str.join(", ").alias("evaluated methods")
    )
    return labels.join(methods, on="backbone", how="full", coalesce=True).sort("backbone")


def _summary_table(summary: pl.DataFrame) -> pl.DataFrame:
    rows = summary.filter(
        (pl.col("split") == PRIMARY_SPLIT) & pl.col("metric").is_in(TABLE_METRICS)
    )
    return rows.pivot(on="metric", index=["backbone", "merge_method"], values="value").sort(
        "backbone", "merge_method"
    )


def _evaluation_table(evaluation: pl.DataFrame) -> pl.DataFrame:
    rows = evaluation.filter(pl.col("split") == PRIMARY_SPLIT).with_columns(
        pl.when(pl.col("low").is_not_null())
        .then(
            pl.format(
                "{} [{}, {}]",
                pl.col("value").round(3),
                pl.col("low").round(3),
                pl.col("high").round(3),
            )
        )
        .otherwise(pl.col("value").round(4).cast(pl.Utf8))
        .fill_null("n/a")
        .alias("shown")
    )
    metrics = ["knn_accuracy", "probe_accuracy", "silhouette", "linear_cka", "neighbour_overlap"]
    rows = rows.filter(pl.col("metric").is_in(metrics))
    return rows.pivot(on="metric", index=["backbone", "merge_method"], values="shown").sort(
        "backbone", "merge_method"
    )
