"""The `embedding_map` asset: 2-D UMAP coordinates of each cell's embeddings."""

import time

import dagster as dg
import numpy as np
import polars as pl

from numgeom_assets.markdown import markdown_image
from numgeom_assets.partitions import cell_partitions, parse_cell
from numgeom_assets.resources import NumgeomStorage
from numgeom_assets.settings import MapSettings
from numgeom_assets.tracking import MlflowTracking, mlflow_metadata
from numgeom_core.errors import ConfigError
from numgeom_core.plots import plot_umap_cell
from numgeom_core.projection import umap_2d


@dg.asset(
    partitions_def=cell_partitions,
    group_name="embeddings",
    kinds={"polars", "parquet"},
    code_version="1",
)
def embedding_map(
    context: dg.AssetExecutionContext,
    config: MapSettings,
    embeddings: pl.DataFrame,
    sequence_dataset: pl.DataFrame,
    storage: NumgeomStorage,
    mlflow: MlflowTracking,
) -> dg.Output[pl.DataFrame]:
    """UMAP coordinates (x, y) of the mapped splits' samples, with their family and split."""
    cell = parse_cell(context.partition_key)
    known_splits = sequence_dataset["split"].unique().to_list()
    unknown = sorted(set(config.splits) - set(known_splits))
    if unknown:
        raise ConfigError(
            f"Unknown split(s) {unknown} in the map settings: the dataset has "
            f"{sorted(known_splits)}. Set `splits` to some of those."
        )

    part = sequence_dataset.filter(pl.col("split").is_in(config.splits)).join(
        embeddings, on="sample_id", how="inner", validate="1:1"
    )
    vectors = part["embedding"].to_numpy().astype(np.float32)  # [n, H]
    started = time.perf_counter()
    context.log.info(f"UMAP of {part.height} points from splits {config.splits}")
    coords = umap_2d(vectors, config.to_core())  # [n, 2]
    seconds = time.perf_counter() - started
    context.log.info(f"UMAP finished in {seconds:.1f} s")

    table = part.select("sample_id", "split", "family").with_columns(
        pl.Series("x", coords[:, 0]), pl.Series("y", coords[:, 1])
    )
    families = sequence_dataset["family"].unique(maintain_order=True).to_list()
    png = storage.folder("embedding_map", cell.backbone) / f"{cell.merge_method}.png"
    title = f"{cell.backbone} / {cell.merge_method}: {', '.join(config.splits)} split(s)"
    plot_umap_cell(table, png, families, title)

    params = {"backbone": cell.backbone, "merge_method": cell.merge_method}
    params.update({f"map.{k}": v for k, v in config.model_dump().items()})
    with mlflow.start_run(context, params=params) as run:
        run.log_metrics({"umap_seconds": seconds})
        run.log_artifact(png, "plots")

    metadata = {
        "n_points": dg.MetadataValue.int(table.height),
        "map": dg.MetadataValue.md(markdown_image(png, title)),
        "map_path": dg.MetadataValue.path(str(png)),
        **mlflow_metadata(run),
    }
    return dg.Output(table, metadata=metadata)
