"""The `lora_adapter` asset: LoRA adapters trained on the family labels, one per stage."""

import dagster as dg
import polars as pl

from numgeom_assets.markdown import markdown_image
from numgeom_assets.partitions import backbone_partitions
from numgeom_assets.progress import throttled_progress
from numgeom_assets.registry import backbone_spec
from numgeom_assets.resources import NumgeomStorage
from numgeom_assets.settings import LoraAdapterSettings
from numgeom_assets.tracking import MlflowTracking, mlflow_metadata
from numgeom_core.adaptation import merge_adapter, train_lora
from numgeom_core.models import load_backbone
from numgeom_core.plots import plot_loss_curve


@dg.asset(
    partitions_def=backbone_partitions,
    group_name="models",
    kinds={"pytorch"},
    deps=["backbone_checkpoint"],
    code_version="1",
)
def lora_adapter(
    context: dg.AssetExecutionContext,
    config: LoraAdapterSettings,
    sequence_dataset: pl.DataFrame,
    storage: NumgeomStorage,
    mlflow: MlflowTracking,
) -> dg.Output[dict]:
    """LoRA adapters trained on the train split's family labels, and each stage merged."""
    from numgeom_assets.io_manager import read_stored

    spec = backbone_spec(context.partition_key)
    checkpoint = read_stored(storage.root, "backbone_checkpoint", spec.name)
    settings = config.to_core()
    train = sequence_dataset.filter(pl.col("split") == "train")
    folder = storage.folder("adapters", spec.name)

    params = {"backbone": spec.name, **{f"lora.{k}": v for k, v in settings.to_dict().items()}}
    with mlflow.start_run(context, params=params, tags={"numgeom.kind": spec.kind}) as run:
        model, tokenizer = load_backbone(checkpoint["path"], spec)
        context.log.info(
            f"Training LoRA on {spec.name}: {train.height} samples, {settings.stages} stages × "
            f"{settings.steps_per_stage} steps"
        )
        result = train_lora(
            model,
            tokenizer,
            spec,
            train["text"].to_list(),
            train["family"].to_list(),
            settings,
            folder / "lora",
            progress=throttled_progress(context, "LoRA step", with_loss=True),
        )
        for step, loss in enumerate(result.losses, start=1):
            run.log_metrics({"loss": loss}, step=step)
        merged = []
        for stage, adapter in enumerate(result.stage_adapters, start=1):
            target = folder / "merged" / f"stage-{stage}"
            context.log.info(f"Merging the stage {stage} adapter into {spec.name}")
            merged.append(str(merge_adapter(checkpoint["path"], adapter, spec, target)))
            run.log_artifact(adapter, f"adapters/stage-{stage}")
        plot = plot_loss_curve(
            result.losses, result.stage_of_step, folder / "loss.png", f"{spec.name}: LoRA loss"
        )
        run.log_artifact(plot, "plots")
        first, last = _loss_ends(result.losses)
        run.log_metrics({"loss_first": first, "loss_last": last, "seconds": result.seconds})

    record = {
        "backbone": spec.name,
        "base_checkpoint": checkpoint["path"],
        "base_sha256": checkpoint["sha256"],
        "adapters": [str(path) for path in result.stage_adapters],
        "merged_stages": merged,
        "losses": result.losses,
        "settings": settings.to_dict(),
        "mlflow_run_id": run.run_id,
    }
    metadata = {
        "stages": dg.MetadataValue.int(len(merged)),
        "loss_first_steps": dg.MetadataValue.float(round(first, 4)),
        "loss_last_steps": dg.MetadataValue.float(round(last, 4)),
        "seconds": dg.MetadataValue.float(round(result.seconds, 1)),
        "loss_curve": dg.MetadataValue.md(markdown_image(plot, "LoRA loss")),
        "adapter_folder": dg.MetadataValue.path(str(folder)),
        **mlflow_metadata(run),
    }
    return dg.Output(record, metadata=metadata)


def _loss_ends(losses: list[float], window: int = 5) -> tuple[float, float]:
    """Mean loss of the first and of the last `window` steps."""
    head = losses[:window]
    tail = losses[-window:]
    return sum(head) / len(head), sum(tail) / len(tail)
