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
adapter_job = dg.define_asset_job(
    "adapter_job",
    selection=["lora_adapter"],
    description="Train one backbone's LoRA adapter and merge each stage into its weights.",
)
cell_job = dg.define_asset_job(
    "cell_job",
    selection=[
        "merged_checkpoint",
        "embeddings",
        "geometry_metrics",
        "embedding_map",
        "evaluation_metrics",
    ],
    description="Build the weights of one backbone × merge method cell, embed, score and map.",
)
evaluation_job = dg.define_asset_job(
    "evaluation_job",
    selection=["embeddings", "geometry_metrics", "embedding_map", "evaluation_metrics"],
    description="Re-embed, score and map one cell from its existing merged checkpoint.",
)
sweep_job = dg.define_asset_job(
    "sweep_job",
    selection=["slerp_sweep"],
    description="Score SLERP between one backbone's base and LoRA weights at several t.",
)
summary_job = dg.define_asset_job(
    "summary_job", selection=["metrics_summary"], description="Summarise every cell."
)

report_job = dg.define_asset_job(
    "report_job",
    selection=["geometry_report"],
    description="Write the study report and the verdict on each of its claims.",
)

JOBS = [
    dataset_job,
    checkpoint_job,
    adapter_job,
    cell_job,
    evaluation_job,
    sweep_job,
    summary_job,
    report_job,
]
