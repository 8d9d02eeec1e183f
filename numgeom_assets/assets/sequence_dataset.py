"""The `sequence_dataset` asset: labelled windows of integer sequences in three splits."""

import dagster as dg
import polars as pl

from numgeom_assets.markdown import markdown_table
from numgeom_assets.settings import DatasetSettings
from numgeom_assets.tracking import MlflowTracking, mlflow_metadata
from numgeom_core.data import build_dataset, check_feasible

PREVIEW_ROWS_PER_FAMILY = 2


@dg.asset(group_name="data", kinds={"polars", "parquet"}, code_version="1")
def sequence_dataset(
    context: dg.AssetExecutionContext, config: DatasetSettings, mlflow: MlflowTracking
) -> dg.Output[pl.DataFrame]:
    """Integer-sequence windows labelled by family, with nuisance attributes, in train/eval/ood."""
    dataset_config = config.to_core()
    check_feasible(dataset_config)

    with mlflow.start_run(
        context, params={f"dataset.{k}": v for k, v in dataset_config.to_dict().items()}
    ) as run:
        table = build_dataset(dataset_config)
        counts = table.group_by("split", "family", maintain_order=True).len()
        context.log.info(
            f"Built {table.height} samples: {len(dataset_config.families)} families × "
            f"{counts['split'].n_unique()} splits"
        )
        run.log_metrics({"n_samples": table.height})
        run.log_table(table.drop("terms"), "sequence_dataset")

    preview = table.group_by("split", "family", maintain_order=True).head(PREVIEW_ROWS_PER_FAMILY)
    per_split = counts.pivot(on="split", index="family", values="len")
    metadata = {
        "n_samples": dg.MetadataValue.int(table.height),
        "samples_per_split_and_family": dg.MetadataValue.md(markdown_table(per_split)),
        "preview": dg.MetadataValue.md(
            markdown_table(preview.select("sample_id", "family", "text", "length", "magnitude"))
        ),
        **mlflow_metadata(run),
    }
    return dg.Output(table, metadata=metadata)
