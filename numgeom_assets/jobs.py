"""Asset jobs, one per partitioning, that the main job runs in order.

Each job's partitioning is inferred from its assets.
"""

import dagster as dg

dataset_job = dg.define_asset_job(
    "dataset_job", selection=["sequence_dataset"], description="Build the sequence dataset."
)
checkpoint_job = dg.define_asset_job(
    "checkpoint_job",
    selection=["backbone_checkpoint"],
    description="Resolve one backbone's weights into a local checkpoint folder.",
)
cell_job = dg.define_asset_job(
    "cell_job",
    selection=["embeddings", "geometry_metrics", "embedding_map"],
    description="Embed, score and map one backbone × merge method cell.",
)
summary_job = dg.define_asset_job(
    "summary_job", selection=["metrics_summary"], description="Summarise every cell."
)

JOBS = [dataset_job, checkpoint_job, cell_job, summary_job]
