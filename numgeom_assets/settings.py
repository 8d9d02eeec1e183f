"""Run configuration of the assets, editable in the Dagster launchpad.

Defaults come from the numgeom_core dataclasses, so each default is written once. Every
setting is checked by the core dataclass it builds, before any heavy work.
"""

from dataclasses import asdict

import dagster as dg

from numgeom_core.adaptation import LoraSettings
from numgeom_core.data import DatasetConfig, SplitSpec
from numgeom_core.metrics import MetricsConfig
from numgeom_core.models import EmbeddingConfig
from numgeom_core.projection import ProjectionConfig

_DATASET = DatasetConfig()
_EMBEDDING = EmbeddingConfig()
_METRICS = MetricsConfig()
_PROJECTION = ProjectionConfig()


class SplitSettings(dg.Config):
    """Size and ranges of one split."""

    samples_per_family: int
    min_length: int
    max_length: int
    min_first_term: int
    max_first_term: int


class DatasetSettings(dg.Config):
    """Settings of the sequence dataset: families, split sizes and ranges, rendering, seed."""

    families: list[str] = list(_DATASET.families)
    train: SplitSettings = SplitSettings(**asdict(_DATASET.train))
    eval: SplitSettings = SplitSettings(**asdict(_DATASET.eval))
    ood: SplitSettings = SplitSettings(**asdict(_DATASET.ood))
    separator: str = _DATASET.separator
    template: str = _DATASET.template
    max_ratio: int = _DATASET.max_ratio
    max_difference: int = _DATASET.max_difference
    seed: int = _DATASET.seed

    def to_core(self) -> DatasetConfig:
        return DatasetConfig(
            families=tuple(self.families),
            train=SplitSpec(**self.train.model_dump()),
            eval=SplitSpec(**self.eval.model_dump()),
            ood=SplitSpec(**self.ood.model_dump()),
            separator=self.separator,
            template=self.template,
            max_ratio=self.max_ratio,
            max_difference=self.max_difference,
            seed=self.seed,
        )


class EmbeddingSettings(dg.Config):
    """Batching and threading of the forward passes."""

    batch_size: int = _EMBEDDING.batch_size
    max_tokens: int = _EMBEDDING.max_tokens
    sort_by_length: bool = _EMBEDDING.sort_by_length
    num_threads: int | None = _EMBEDDING.num_threads

    def to_core(self) -> EmbeddingConfig:
        return EmbeddingConfig(**self.model_dump())


class MetricsSettings(dg.Config):
    """k-means and silhouette settings of the clustering metrics."""

    kmeans_n_init: int = _METRICS.kmeans_n_init
    kmeans_max_iter: int = _METRICS.kmeans_max_iter
    seed: int = _METRICS.seed
    silhouette_block_size: int = _METRICS.silhouette_block_size

    def to_core(self) -> MetricsConfig:
        return MetricsConfig(**self.model_dump())


class MapSettings(dg.Config):
    """Splits that go into a UMAP map, and the UMAP settings."""

    splits: list[str] = ["eval"]
    n_neighbors: int = _PROJECTION.n_neighbors
    min_dist: float = _PROJECTION.min_dist
    metric: str = _PROJECTION.metric
    seed: int = _PROJECTION.seed

    def to_core(self) -> ProjectionConfig:
        return ProjectionConfig(
            n_neighbors=self.n_neighbors, min_dist=self.min_dist, metric=self.metric, seed=self.seed
        )


_LORA = LoraSettings()


class LoraAdapterSettings(dg.Config):
    """LoRA training settings: adapter shape, objective, schedule and seed."""

    rank: int = _LORA.rank
    alpha: float = _LORA.alpha
    dropout: float = _LORA.dropout
    target_modules: list[str] | None = None
    objective: str = _LORA.objective
    temperature: float = _LORA.temperature
    steps_per_stage: int = _LORA.steps_per_stage
    stages: int = _LORA.stages
    learning_rate: float = _LORA.learning_rate
    batch_size: int = _LORA.batch_size
    families_per_batch: int = _LORA.families_per_batch
    seed: int = _LORA.seed
    max_tokens: int = _LORA.max_tokens

    def to_core(self) -> LoraSettings:
        values = self.model_dump()
        if values["target_modules"] is not None:
            values["target_modules"] = tuple(values["target_modules"])
        return LoraSettings(**values)


SOUP_INGREDIENTS = ("base_and_stages", "stages", "base_and_final")


class MergeSettings(dg.Config):
    """Settings of every merge method; each method reads the fields named after it."""

    soup_ingredients: str = "base_and_stages"
    soup_weights: list[float] | None = None
    slerp_t: float = 0.5
    slerp_layer_t: list[float] | None = None
    slerp_along_stages: bool = False
    task_scaling: float | None = None
    ties_density: float = 0.5
    dare_density: float = 0.5
    seed: int = 0


class SweepSettings(dg.Config):
    """SLERP t values to score, which splits to embed, and the merge and embedding settings."""

    t_values: list[float] = [0.0, 0.25, 0.5, 0.75, 1.0]
    splits: list[str] = ["eval"]
    slerp_layer_t: list[float] | None = None
    batch_size: int = _EMBEDDING.batch_size
