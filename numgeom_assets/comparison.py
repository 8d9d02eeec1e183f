"""Read the geometry_metrics runs back from MLflow into one comparison table."""

import datetime as dt
from collections.abc import Sequence

import polars as pl

from numgeom_core.errors import NumgeomError

KEY_COLUMNS = ["backbone", "merge_method", "split"]


def comparison_table(
    tracking_uri: str,
    backbones: Sequence[str] | None = None,
    methods: Sequence[str] | None = None,
    splits: Sequence[str] | None = None,
    metrics: Sequence[str] = ("silhouette", "davies_bouldin"),
    since: dt.datetime | None = None,
    until: dt.datetime | None = None,
    latest_only: bool = True,
    experiment_name: str = "numgeom",
) -> pl.DataFrame:
    """Return one row per backbone × merge method × split with the chosen metrics as columns.

    Only complete `geometry_metrics` runs count. With `latest_only`, each backbone × method
    keeps its most recent run; otherwise every run is a row (with its run id and start time).
    An undefined metric is null.
    """
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        raise NumgeomError(
            f"No MLflow experiment {experiment_name!r} at {tracking_uri}; run the main job "
            "first (bash scripts/main.sh), or point MLFLOW_TRACKING_URI at its store."
        )
    runs = client.search_runs(
        [experiment.experiment_id],
        filter_string=(
            "tags.`dagster.asset_key` = 'geometry_metrics' and tags.`numgeom.status` = 'complete'"
        ),
        order_by=["attributes.start_time DESC"],
        max_results=50_000,
    )

    rows = []
    seen: set[tuple[str, str]] = set()
    for run in runs:
        tags = run.data.tags
        cell = (tags.get("numgeom.backbone", ""), tags.get("numgeom.merge_method", ""))
        started = dt.datetime.fromtimestamp(run.info.start_time / 1000, tz=dt.UTC)
        if not _keep(cell, started, backbones, methods, since, until):
            continue
        if latest_only and cell in seen:
            continue
        seen.add(cell)
        rows.extend(_rows_of_run(run, cell, started, metrics, splits))

    schema = {
        "backbone": pl.Utf8,
        "merge_method": pl.Utf8,
        "split": pl.Utf8,
        **{metric: pl.Float64 for metric in metrics},
        "run_id": pl.Utf8,
        "started": pl.Datetime("us", "UTC"),
    }
    table = pl.DataFrame(rows, schema=schema)
    return table.sort(KEY_COLUMNS + ["started"], descending=[False, False, False, True])


def _keep(cell, started, backbones, methods, since, until) -> bool:
    if backbones and cell[0] not in backbones:
        return False
    if methods and cell[1] not in methods:
        return False
    if since and started < since:
        return False
    return not (until and started >= until)


def _rows_of_run(run, cell, started, metrics, splits) -> list[dict]:
    by_split: dict[str, dict[str, float]] = {}
    for key, value in run.data.metrics.items():
        split, _, metric = key.partition("/")
        if metric:
            by_split.setdefault(split, {})[metric] = value
    rows = []
    for split, values in sorted(by_split.items()):
        if splits and split not in splits:
            continue
        row = {"backbone": cell[0], "merge_method": cell[1], "split": split}
        row.update({metric: values.get(metric) for metric in metrics})
        row.update({"run_id": run.info.run_id, "started": started})
        rows.append(row)
    return rows
