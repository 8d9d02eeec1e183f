"""The main job: materialise every asset for every default partition, in dependency order.

It runs the asset jobs in process against a persistent Dagster instance, so the runs,
materialisations, metadata and plots appear in the Dagster UI on the same DAGSTER_HOME.
"""

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import dagster as dg

from numgeom_assets.partitions import BACKBONE, all_cells
from numgeom_assets.profiles import profile_config, run_config_for
from numgeom_assets.registry import backbone_spec, registered_backbones
from numgeom_assets.settings import DatasetSettings
from numgeom_core.data import check_feasible
from numgeom_core.errors import NumgeomError
from numgeom_core.models import check_available, default_backbone_names

logger = logging.getLogger(__name__)


@dataclass
class MainJobReport:
    """Record of the main job: Dagster run ids and wall seconds per asset."""

    run_ids: list[str] = field(default_factory=list)
    asset_seconds: dict[str, float] = field(default_factory=dict)
    total_seconds: float = 0.0
    skipped: list[str] = field(default_factory=list)


def run_main_job(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    backbones: Sequence[str] | None = None,
    profile: str = "default",
    skip_existing: bool = False,
) -> MainJobReport:
    """Materialise dataset, checkpoints, every cell and the summary for `backbones`.

    Every backbone name, the dataset settings and the availability of each model are
    checked before anything runs, so a bad input fails in seconds, not after the first
    model. With `skip_existing`, jobs whose assets are all materialised for their
    partition are skipped (the summary always runs), which is how a new backbone is
    backfilled without recomputing the others.
    """
    names = list(backbones) if backbones else default_backbone_names(registered_backbones())
    specs = [backbone_spec(name) for name in names]
    for spec in specs:
        check_available(spec)
    settings = profile_config(profile)
    check_feasible(DatasetSettings(**settings.get("sequence_dataset", {})).to_core())

    new = [name for name in names if not instance.has_dynamic_partition(BACKBONE, name)]
    if new:
        instance.add_dynamic_partitions(BACKBONE, new)
        logger.info("Added backbone partitions: %s", ", ".join(new))

    report = MainJobReport()
    started = time.perf_counter()
    steps = [("dataset_job", None)]
    steps += [("checkpoint_job", name) for name in names]
    steps += [("adapter_job", name) for name in names]
    steps += [("cell_job", cell.key()) for cell in all_cells(names)]
    steps += [("sweep_job", name) for name in names]
    steps += [("summary_job", None), ("report_job", None)]
    for job_name, partition_key in steps:
        if (
            skip_existing
            and job_name not in ("summary_job", "report_job")
            and _materialised(defs, instance, job_name, partition_key)
        ):
            report.skipped.append(_label(job_name, partition_key))
            continue
        run_config = run_config_for(profile, _job_assets(defs, job_name))
        _execute(defs, instance, job_name, partition_key, run_config, report)
    report.total_seconds = time.perf_counter() - started
    return report


def _materialised(
    defs: dg.Definitions, instance: dg.DagsterInstance, job_name: str, partition_key: str | None
) -> bool:
    """Return True if every asset of the job is materialised for `partition_key`."""
    job = defs.resolve_job_def(job_name)
    for asset_key in job.asset_layer.selected_asset_keys:
        if partition_key is None:
            if instance.get_latest_materialization_event(asset_key) is None:
                return False
        elif str(partition_key) not in {
            str(key) for key in instance.get_materialized_partitions(asset_key)
        }:
            return False
    return True


def _job_assets(defs: dg.Definitions, job_name: str) -> set[str]:
    job = defs.resolve_job_def(job_name)
    return {key.to_user_string() for key in job.asset_layer.selected_asset_keys}


def _label(job_name: str, partition_key: str | None) -> str:
    return job_name + (f" [{partition_key}]" if partition_key else "")


def _execute(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    job_name: str,
    partition_key: str | None,
    run_config: dict,
    report: MainJobReport,
) -> None:
    label = _label(job_name, partition_key)
    logger.info("Starting %s", label)
    job = defs.resolve_job_def(job_name)
    result = job.execute_in_process(
        instance=instance, partition_key=partition_key, run_config=run_config, raise_on_error=False
    )
    report.run_ids.append(result.run_id)
    for stats in instance.get_run_step_stats(result.run_id):
        if stats.end_time and stats.start_time:
            seconds = stats.end_time - stats.start_time
            report.asset_seconds[stats.step_key] = (
                report.asset_seconds.get(stats.step_key, 0) + seconds
            )
    if not result.success:
        raise NumgeomError(
            f"{label} failed (Dagster run {result.run_id}). The error and its traceback are "
            "in the log above and in the run's page in the Dagster UI; fix the cause and run "
            "again: materialised partitions are kept."
        )
    logger.info("Finished %s (Dagster run %s)", label, result.run_id)
