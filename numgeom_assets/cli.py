"""The `numgeom` command line."""

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from numgeom_assets import paths
from numgeom_core.errors import NumgeomError


def main(argv: Sequence[str] | None = None) -> int:
    """Run a `numgeom` subcommand and return its exit status."""
    parser = _parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    try:
        return args.handler(args)
    except NumgeomError as error:
        print(f"numgeom: error: {error}", file=sys.stderr)
        return 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="numgeom", description=__doc__)
    commands = parser.add_subparsers(required=True, metavar="COMMAND")

    run = commands.add_parser(
        "run", help="materialise every asset for every default backbone (the main job)"
    )
    run.add_argument(
        "--backbone",
        action="append",
        metavar="NAME",
        help="registered backbone to run; repeat for several (default: the default backbones)",
    )
    run.add_argument(
        "--profile",
        default="default",
        help="dataset size: small, default or large (default: %(default)s)",
    )
    run.set_defaults(handler=_run)

    backbones = commands.add_parser("backbones", help="list the registered backbones")
    backbones.set_defaults(handler=_backbones)
    return parser


def _run(args: argparse.Namespace) -> int:
    os.environ.setdefault("DAGSTER_HOME", str(paths.dagster_home()))
    import dagster as dg

    from numgeom_assets.definitions import defs
    from numgeom_assets.main_job import run_main_job

    instance = dg.DagsterInstance.get()
    report = run_main_job(defs, instance, args.backbone, args.profile)
    _print_report(report)
    return 0


def _print_report(report) -> None:
    import polars as pl

    from numgeom_assets.io_manager import read_stored

    print("\nWall time per asset (seconds, summed over partitions):")
    for step, seconds in report.asset_seconds.items():
        print(f"  {step:<22} {seconds:8.1f}")
    print(f"  {'total':<22} {report.total_seconds:8.1f}")

    summary = read_stored(paths.storage_dir(), "metrics_summary")
    primary = summary.filter(pl.col("metric").is_in(["silhouette", "davies_bouldin"]))
    wide = primary.pivot(on="metric", index=["backbone", "merge_method", "split"], values="value")
    with pl.Config(tbl_rows=100, float_precision=4):
        print("\nSilhouette (higher is better) and Davies–Bouldin (lower is better):")
        print(wide)
    print(f"\nAsset files: {paths.storage_dir()}")
    print(f"MLflow store: {paths.mlflow_tracking_uri()}")
    print(f"Dagster instance: {os.environ['DAGSTER_HOME']}")


def _backbones(args: argparse.Namespace) -> int:
    from numgeom_assets.resources import registered_backbones
    from numgeom_core.models import check_available

    for name, spec in registered_backbones().items():
        try:
            check_available(spec)
            status = "available"
        except NumgeomError as error:
            status = f"unavailable: {error}"
        default = "default" if spec.default else "       "
        print(f"{name:<24} {spec.kind:<8} {default} {spec.source_type}:{spec.source}  ({status})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
