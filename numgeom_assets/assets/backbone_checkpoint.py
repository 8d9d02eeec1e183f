"""The `backbone_checkpoint` asset: each registered model as a local loadable folder."""

import time

import dagster as dg

from numgeom_assets.partitions import backbone_partitions
from numgeom_assets.registry import backbone_spec
from numgeom_assets.resources import NumgeomStorage
from numgeom_assets.tracking import MlflowTracking, mlflow_metadata
from numgeom_core.models import check_available, resolve_checkpoint


@dg.asset(
    partitions_def=backbone_partitions,
    group_name="models",
    kinds={"pytorch"},
    code_version="1",
)
def backbone_checkpoint(
    context: dg.AssetExecutionContext, storage: NumgeomStorage, mlflow: MlflowTracking
) -> dg.Output[dict]:
    """A registered backbone's weights as a local folder of safetensors and tokenizer files."""
    spec = backbone_spec(context.partition_key)
    check_available(spec)

    with mlflow.start_run(
        context,
        params={f"backbone.{k}": v for k, v in spec.to_dict().items()},
        tags={"numgeom.backbone": spec.name, "numgeom.kind": spec.kind},
    ) as run:
        started = time.perf_counter()
        context.log.info(f"Resolving {spec.name} from {spec.source_type} source {spec.source}")
        resolved = resolve_checkpoint(spec, storage.folder("checkpoints"))
        seconds = time.perf_counter() - started
        context.log.info(f"{spec.name} ready at {resolved.path} in {seconds:.1f} s")
        run.set_tags({"numgeom.sha256": resolved.sha256, "numgeom.source": resolved.source})
        run.log_metrics({"resolve_seconds": seconds})

    record = {
        "name": spec.name,
        "path": str(resolved.path),
        "sha256": resolved.sha256,
        "source": resolved.source,
        "converted": resolved.converted,
        "spec": spec.to_dict(),
        "mlflow_run_id": run.run_id,
    }
    metadata = {
        "sha256": dg.MetadataValue.text(resolved.sha256),
        "source": dg.MetadataValue.text(resolved.source),
        "checkpoint_path": dg.MetadataValue.path(str(resolved.path)),
        "kind": dg.MetadataValue.text(spec.kind),
        "pooling": dg.MetadataValue.text(spec.pooling),
        "converted_from_gguf": dg.MetadataValue.bool(resolved.converted),
        "quantized_from": dg.MetadataValue.text(spec.quantized_from or "not quantised"),
        **mlflow_metadata(run),
    }
    return dg.Output(record, metadata=metadata)
