"""The `embeddings` asset: one L2-normalised vector per sample for each backbone × method."""

import dagster as dg
import numpy as np
import polars as pl

from numgeom_assets.partitions import cell_partitions, parse_cell
from numgeom_assets.progress import throttled_progress
from numgeom_assets.registry import backbone_spec
from numgeom_assets.resources import NumgeomStorage
from numgeom_assets.reuse import SIGNATURE_KEY, input_signature, stored_if_unchanged, table_digest
from numgeom_assets.settings import EmbeddingSettings
from numgeom_assets.tracking import MlflowTracking, mlflow_metadata
from numgeom_core.models import embed_texts, load_backbone

NORM_TOLERANCE = 1e-4
CODE_VERSION = "1"

embeddings_check = dg.AssetCheckSpec(
    "embeddings_are_finite_and_shaped",
    asset="embeddings",
    description="One finite unit-norm row per dataset sample, in dataset order.",
)


@dg.asset(
    partitions_def=cell_partitions,
    group_name="embeddings",
    kinds={"pytorch", "parquet"},
    check_specs=[embeddings_check],
    code_version=CODE_VERSION,
)
def embeddings(
    context: dg.AssetExecutionContext,
    config: EmbeddingSettings,
    merged_checkpoint: dict,
    sequence_dataset: pl.DataFrame,
    storage: NumgeomStorage,
    mlflow: MlflowTracking,
):
    """Pooled, L2-normalised float32 embeddings of every dataset sample, keyed by sample_id."""
    cell = parse_cell(context.partition_key)
    spec = backbone_spec(cell.backbone)
    embedding_config = config.to_core()
    texts = sequence_dataset["text"].to_list()

    params = {
        "backbone": spec.name,
        "merge_method": cell.merge_method,
        "checkpoint_sha256": merged_checkpoint["sha256"],
        **{f"embedding.{k}": v for k, v in config.model_dump().items()},
    }
    signature = input_signature(
        {
            **params,
            "dataset": table_digest(sequence_dataset, ["sample_id", "text"]),
            "code_version": CODE_VERSION,
        }
    )
    reused = stored_if_unchanged(context, signature, storage.root)
    if reused is not None:
        yield from _reuse(context, reused, sequence_dataset, signature, params, mlflow)
        return

    with mlflow.start_run(context, params=params, tags={"numgeom.kind": spec.kind}) as run:
        model, tokenizer = load_backbone(merged_checkpoint["path"], spec)
        context.log.info(f"Embedding {len(texts)} sequences with {spec.name} ({spec.kind})")
        result = embed_texts(
            model,
            tokenizer,
            texts,
            spec,
            embedding_config,
            progress=throttled_progress(context, "Embedded sequences"),
        )
        run.log_metrics(
            {
                "sequences_per_second": result.sequences_per_second,
                "seconds": result.seconds,
                "n_tokens": result.n_tokens,
            }
        )

    vectors = result.vectors  # [N, H] float32, unit rows, dataset order
    table = pl.DataFrame(
        {"sample_id": sequence_dataset["sample_id"], "embedding": vectors},
        schema={"sample_id": pl.Utf8, "embedding": pl.Array(pl.Float32, vectors.shape[1])},
    )
    metadata = {
        "n_samples": dg.MetadataValue.int(vectors.shape[0]),
        "dimension": dg.MetadataValue.int(vectors.shape[1]),
        "sequences_per_second": dg.MetadataValue.float(round(result.sequences_per_second, 2)),
        "seconds": dg.MetadataValue.float(round(result.seconds, 2)),
        "n_tokens": dg.MetadataValue.int(result.n_tokens),
        "checkpoint_sha256": dg.MetadataValue.text(merged_checkpoint["sha256"]),
        "recomputed": dg.MetadataValue.bool(True),
        SIGNATURE_KEY: dg.MetadataValue.text(signature),
        **mlflow_metadata(run),
    }
    yield dg.Output(table, metadata=metadata)
    yield check_embeddings(vectors, table["sample_id"].to_list(), sequence_dataset)


def _reuse(context, table, dataset, signature, params, mlflow):
    """Yield the stored embeddings again: checkpoint, dataset and settings are unchanged."""
    context.log.info(
        "Checkpoint digest, dataset and settings are unchanged since the last "
        "materialisation of this partition; reusing its stored embeddings."
    )
    with mlflow.start_run(context, params=params, tags={"numgeom.recomputed": "false"}) as run:
        pass
    vectors = table["embedding"].to_numpy().astype("float32")  # [N, H]
    metadata = {
        "n_samples": dg.MetadataValue.int(table.height),
        "dimension": dg.MetadataValue.int(vectors.shape[1]),
        "recomputed": dg.MetadataValue.bool(False),
        SIGNATURE_KEY: dg.MetadataValue.text(signature),
        **mlflow_metadata(run),
    }
    yield dg.Output(table, metadata=metadata)
    yield check_embeddings(vectors, table["sample_id"].to_list(), dataset)


def check_embeddings(
    vectors: np.ndarray, sample_ids: list[str], dataset: pl.DataFrame
) -> dg.AssetCheckResult:
    """Check that there is one finite unit-norm row per dataset sample, in dataset order."""
    problems = []
    if vectors.ndim != 2 or vectors.shape[0] != dataset.height:
        problems.append(f"shape {vectors.shape}, expected ({dataset.height}, dimension)")
    finite = np.isfinite(vectors).all(axis=1)
    if not finite.all():
        problems.append(f"{int((~finite).sum())} rows with non-finite values")
    norms = np.linalg.norm(vectors, axis=1)
    off_norm = int((np.abs(norms - 1.0) > NORM_TOLERANCE).sum())
    if off_norm:
        problems.append(f"{off_norm} rows whose L2 norm is not 1 within {NORM_TOLERANCE}")
    if sample_ids != dataset["sample_id"].to_list():
        problems.append("sample ids do not match the dataset's order")
    return dg.AssetCheckResult(
        check_name="embeddings_are_finite_and_shaped",
        passed=not problems,
        metadata={
            "problems": dg.MetadataValue.text("; ".join(problems) or "none"),
            "rows": dg.MetadataValue.int(int(vectors.shape[0])),
        },
    )
