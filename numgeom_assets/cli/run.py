"""`numgeom run` and `numgeom backfill`: materialise assets from the command line."""

import argparse
import os

from numgeom_assets import paths


def add_commands(commands: argparse._SubParsersAction) -> None:
    run = commands.add_parser(
        "run", help="materialise every asset for every default backbone (the main job)"
    )
    run.add_argument(
        "--backbone",
        action="append",
        metavar="NAME",
        help="registered backbone to run; repeat for several (default: the default backbones)",
    )
    _add_common(run)
    run.set_defaults(handler=_run)

    backfill = commands.add_parser(
        "backfill",
        help="materialise every partition of the named backbones that is not materialised yet",
    )
    backfill.add_argument("backbones", nargs="+", metavar="NAME", help="registered backbone")
    backfill.add_argument(
        "--profile", default="default", help="dataset size if the dataset is not built yet"
    )
    backfill.set_defaults(handler=_backfill)


def _add_common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--profile",
        default="default",
        help="dataset size: small, default or large (default: %(default)s)",
    )
    parser.add_argument(
        "--skip-existing",
        action="store_true",
        help="leave partitions that are already materialised as they are",
    )


def _run(args: argparse.Namespace) -> int:
    return _materialise(args.backbone, args.profile, args.skip_existing)


def _backfill(args: argparse.Namespace) -> int:
    return _materialise(args.backbones, args.profile, skip_existing=True)


def _materialise(backbones: list[str] | None, profile: str, skip_existing: bool) -> int:
    os.environ.setdefault("DAGSTER_HOME", str(paths.dagster_home()))
    import dagster as dg

    from numgeom_assets.definitions import defs
    from numgeom_assets.main_job import run_main_job

    instance = dg.DagsterInstance.get()
    report = run_main_job(defs, instance, backbones, profile, skip_existing=skip_existing)
    _print_report(report)
    return 0


def _print_report(report) -> None:
    import polars as pl

    from numgeom_assets.io_manager import read_stored

    print("\nWall time per asset (seconds, summed over partitions):")
    for step, seconds in report.asset_seconds.items():
        print(f"  {step:<22} {seconds:8.1f}")
    print(f"  {'total':<22} {report.total_seconds:8.1f}")
    if report.skipped:
        print(f"Skipped (already materialised): {', '.join(report.skipped)}")

    summary = read_stored(paths.storage_dir(), "metrics_summary")
    primary = summary.filter(pl.col("metric").is_in(["silhouette", "davies_bouldin"]))
    wide = primary.pivot(on="metric", index=["backbone", "merge_method", "split"], values="value")
    with pl.Config(tbl_rows=200, float_precision=4):
        print("\nSilhouette (higher is better) and Davies–Bouldin (lower is better):")
        print(wide)
    print(f"\nAsset files: {paths.storage_dir()}")
    print(f"MLflow store: {paths.mlflow_tracking_uri()}")
    print(f"Dagster instance: {os.environ['DAGSTER_HOME']}")
