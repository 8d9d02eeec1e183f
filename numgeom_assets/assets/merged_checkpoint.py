"""The `merged_checkpoint` asset: the weights that each backbone × merge method embeds with."""

from pathlib import Path

import dagster as dg

from numgeom_assets.io_manager import read_stored
from numgeom_assets.merge_plan import merge_plan
from numgeom_assets.partitions import cell_partitions, parse_cell
from numgeom_assets.progress import throttled_progress
from numgeom_assets.resources import NumgeomStorage
from numgeom_assets.settings import MergeSettings
from numgeom_assets.tracking import MlflowTracking, mlflow_metadata
from numgeom_core.atomic import sha256_tree
from numgeom_core.errors import NumgeomError
from numgeom_core.merging import get_merge_method, merge_checkpoints


@dg.asset(
    partitions_def=cell_partitions,
    group_name="models",
    kinds={"pytorch", "safetensors"},
    deps=["backbone_checkpoint", "lora_adapter"],
    code_version="1",
)
def merged_checkpoint(
    context: dg.AssetExecutionContext,
    config: MergeSettings,
    storage: NumgeomStorage,
    mlflow: MlflowTracking,
) -> dg.Output[dict]:
    """A loadable checkpoint folder: base, LoRA-merged, or a merge of base and LoRA stages."""
    cell = parse_cell(context.partition_key)
    base = read_stored(storage.root, "backbone_checkpoint", cell.backbone)
    params = {"backbone": cell.backbone, "merge_method": cell.merge_method}

    with mlflow.start_run(context, params=params) as run:
        if cell.merge_method == "base":
            record = _reference(base["path"], base["sha256"], [], {})
        else:
            stages = _lora_stages(storage, cell.backbone)
            if cell.merge_method == "lora":
                final = stages[-1]
                record = _reference(str(final), sha256_tree(final), [str(final)], {})
            else:
                record = _merge(context, cell, Path(base["path"]), stages, config, storage)
        run.log_params({f"merge.{k}": v for k, v in record["settings"].items()})
        run.set_tags({"numgeom.sha256": record["sha256"]})
        run.log_dict(record, "merged_checkpoint.json")

    metadata = {
        "sha256": dg.MetadataValue.text(record["sha256"]),
        "checkpoint_path": dg.MetadataValue.path(record["path"]),
        "inputs": dg.MetadataValue.json(record["inputs"]),
        "settings": dg.MetadataValue.json(record["settings"]),
        **mlflow_metadata(run),
    }
    if "reference" in record:
        metadata["reference"] = dg.MetadataValue.text(record["reference"])
    return dg.Output({**record, "mlflow_run_id": run.run_id}, metadata=metadata)


def _merge(context, cell, base: Path, stages: list[Path], config, storage) -> dict:
    plan = merge_plan(cell.merge_method, base, stages, config)
    output = storage.folder("merged", cell.backbone) / cell.merge_method
    context.log.info(f"Merging {len(plan.inputs)} checkpoint(s) with {plan.method} into {output}")
    report = merge_checkpoints(
        plan.method,
        plan.inputs,
        output,
        plan.settings,
        base=plan.base,
        progress=throttled_progress(context, "Merged tensors"),
    )
    context.log.info(
        f"Merged {report.n_tensors} tensors in {report.seconds:.1f} s "
        f"({report.lerp_fallbacks} linear fallbacks, {report.copied_buffers} copied buffers)"
    )
    settings = {"method": plan.method, **_settings_dict(plan.settings)}
    record = _reference(str(output), report.sha256, [str(p) for p in plan.inputs], settings)
    record["reference"] = get_merge_method(plan.method).reference
    if plan.base is not None:
        record["base"] = str(plan.base)
    return record


def _lora_stages(storage: NumgeomStorage, backbone: str) -> list[Path]:
    try:
        lora = read_stored(storage.root, "lora_adapter", backbone)
    except FileNotFoundError as error:
        raise NumgeomError(
            f"The lora_adapter of {backbone!r} is not materialised, so its merged checkpoints "
            f"cannot be built. Materialise lora_adapter for partition {backbone!r} first."
        ) from error
    return [Path(path) for path in lora["merged_stages"]]


def _reference(path: str, sha256: str, inputs: list[str], settings: dict) -> dict:
    return {"path": path, "sha256": sha256, "inputs": inputs, "settings": settings}


def _settings_dict(settings) -> dict:
    from dataclasses import asdict

    return {key: (list(v) if isinstance(v, tuple) else v) for key, v in asdict(settings).items()}
