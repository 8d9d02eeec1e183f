"""`numgeom compare`: one table of backbones × merge methods from the MLflow runs."""

import argparse
import datetime as dt
import json
import sys

import polars as pl

from numgeom_core.errors import ConfigError

MAIN_METRICS = ("silhouette", "davies_bouldin", "calinski_harabasz", "kmeans_ari", "kmeans_nmi")
FORMATS = ("table", "csv", "markdown", "json")


def add_commands(commands: argparse._SubParsersAction) -> None:
    compare = commands.add_parser(
        "compare", help="print the latest scores of every backbone × merge method from MLflow"
    )
    compare.add_argument("--backbone", action="append", help="keep this backbone (repeatable)")
    compare.add_argument("--method", action="append", help="keep this merge method (repeatable)")
    compare.add_argument("--split", action="append", help="keep this split (repeatable)")
    compare.add_argument(
        "--metric", action="append", help=f"metric column (default: {', '.join(MAIN_METRICS)})"
    )
    compare.add_argument("--since", help="only runs started on or after this date (YYYY-MM-DD)")
    compare.add_argument("--until", help="only runs started before this date (YYYY-MM-DD)")
    compare.add_argument(
        "--all-runs",
        action="store_true",
        help="one row per MLflow run, not only the latest run of each cell",
    )
    compare.add_argument("--format", choices=FORMATS, default="table", help="output format")
    compare.set_defaults(handler=_compare)


def _compare(args: argparse.Namespace) -> int:
    from numgeom_assets.comparison import comparison_table
    from numgeom_assets.tracking import MlflowTracking

    table = comparison_table(
        MlflowTracking().resolved_tracking_uri(),
        backbones=args.backbone,
        methods=args.method,
        splits=args.split,
        metrics=args.metric or list(MAIN_METRICS),
        since=_date(args.since, "--since"),
        until=_date(args.until, "--until"),
        latest_only=not args.all_runs,
    )
    _write(table, args.format)
    return 0


def _write(table: pl.DataFrame, output_format: str) -> None:
    from numgeom_assets.markdown import markdown_table

    if output_format == "csv":
        sys.stdout.write(table.write_csv())
    elif output_format == "markdown":
        print(markdown_table(table))
    elif output_format == "json":
        print(json.dumps(table.to_dicts(), indent=2, default=str))
    else:
        with pl.Config(tbl_rows=-1, tbl_cols=-1, float_precision=4, tbl_width_chars=200):
            print(table)


def _date(text: str | None, option: str) -> dt.datetime | None:
    if text is None:
        return None
    try:
        return dt.datetime.strptime(text, "%Y-%m-%d").replace(tzinfo=dt.UTC)
    except ValueError as error:
        raise ConfigError(
            f"Invalid {option} {text!r}: expected a date as YYYY-MM-DD, for example 2026-12-01."
        ) from error
