"""Automation: a sensor that materialises newly registered backbones, and a re-evaluation
schedule. Both are off until switched on in the Dagster UI (Automation tab).
"""

import dagster as dg

from numgeom_assets.jobs import (
    adapter_job,
    cell_job,
    checkpoint_job,
    dataset_job,
    evaluation_job,
    summary_job,
    sweep_job,
)
from numgeom_assets.partitions import BACKBONE, all_cells
from numgeom_assets.registry import user_backbones

SENSOR_INTERVAL_SECONDS = 60


def tracked_backbones() -> list[str]:
    """Backbones the sensor looks after: those users registered with `numgeom backbone add`.

    The built-in default backbones are the main job's (`numgeom run`).
    """
    return list(user_backbones())


@dg.sensor(
    jobs=[dataset_job, checkpoint_job, adapter_job, cell_job, sweep_job, summary_job],
    minimum_interval_seconds=SENSOR_INTERVAL_SECONDS,
    default_status=dg.DefaultSensorStatus.STOPPED,
    description=(
        "Adds a partition for every backbone registered with `numgeom backbone add` that lacks "
        "one, and requests the runs its partitions still miss: the dataset if absent, its "
        "checkpoint, then its cells, then the summary. Partitions that are already "
        "materialised are never requested again."
    ),
)
def new_backbone_sensor(context: dg.SensorEvaluationContext) -> dg.SensorResult:
    instance = context.instance
    existing = set(instance.get_dynamic_partitions(BACKBONE))
    tracked = tracked_backbones()
    if not tracked:
        return dg.SensorResult(skip_reason="No backbone registered with `numgeom backbone add`.")
    missing_partitions = [name for name in tracked if name not in existing]
    if instance.get_latest_materialization_event(dg.AssetKey("sequence_dataset")) is None:
        requests = [dg.RunRequest(job_name=dataset_job.name, run_key="dataset")]
    else:
        requests = []
        for name in tracked:
            requests.extend(_pending_runs(instance, name))
    return dg.SensorResult(
        run_requests=requests,
        dynamic_partitions_requests=(
            [dg.AddDynamicPartitionsRequest(BACKBONE, missing_partitions)]
            if missing_partitions
            else []
        ),
    )


def _pending_runs(instance: dg.DagsterInstance, backbone: str) -> list[dg.RunRequest]:
    """The next runs a backbone needs, one stage at a time.

    The order is its checkpoint, its LoRA adapter, then its missing cells and SLERP sweep
    together, followed by a summary. Nothing is requested once all are materialised.
    """
    for asset, job in (("backbone_checkpoint", checkpoint_job), ("lora_adapter", adapter_job)):
        if backbone not in _materialised(instance, asset):
            return [
                dg.RunRequest(
                    job_name=job.name, partition_key=backbone, run_key=f"{asset}:{backbone}"
                )
            ]

    done = _materialised(instance, "geometry_metrics")
    requests = [
        dg.RunRequest(
            job_name=cell_job.name, partition_key=cell.key(), run_key=f"cell:{cell.key()}"
        )
        for cell in all_cells([backbone])
        if str(cell.key()) not in done
    ]
    if backbone not in _materialised(instance, "slerp_sweep"):
        requests.append(
            dg.RunRequest(
                job_name=sweep_job.name, partition_key=backbone, run_key=f"sweep:{backbone}"
            )
        )
    if requests:
        requests.append(
            dg.RunRequest(job_name=summary_job.name, run_key=f"summary-after:{backbone}")
        )
    return requests


def _materialised(instance: dg.DagsterInstance, asset: str) -> set[str]:
    return {str(key) for key in instance.get_materialized_partitions(dg.AssetKey(asset))}


@dg.schedule(
    job=evaluation_job,
    cron_schedule="0 3 * * 1",
    default_status=dg.DefaultScheduleStatus.STOPPED,
    description=(
        "Every Monday at 03:00, re-evaluates every backbone × merge method partition "
        "(embeddings, metrics, maps) from its existing merged checkpoint: adapters and "
        "checkpoints are not recomputed. metrics_summary "
        "follows by its automation condition once the cells are done."
    ),
)
def reevaluation_schedule(context: dg.ScheduleEvaluationContext):
    tick = context.scheduled_execution_time.isoformat() if context.scheduled_execution_time else ""
    backbones = sorted(context.instance.get_dynamic_partitions(BACKBONE))
    if not backbones:
        return dg.SkipReason("No backbone partitions yet; run the main job or add a backbone.")
    return [
        dg.RunRequest(partition_key=cell.key(), run_key=f"{tick}:{cell.key()}")
        for cell in all_cells(backbones)
    ]
