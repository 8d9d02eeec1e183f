"""Merge plans: the checkpoints each merge method combines, and its settings."""

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from numgeom_assets.settings import SOUP_INGREDIENTS, MergeSettings
from numgeom_core.errors import ConfigError
from numgeom_core.merging import LinearSettings, SlerpSettings, TaskVectorSettings

MERGING_METHODS = ("soup", "slerp", "task_arithmetic", "ties", "dare_ties")


@dataclass(frozen=True)
class MergePlan:
    """Arguments of one `merge_checkpoints` call."""

    method: str
    inputs: list[Path]
    base: Path | None
    settings: Any


def merge_plan(method: str, base: Path, stages: list[Path], config: MergeSettings) -> MergePlan:
    """Plan the merge of a cell: the base checkpoint and the LoRA-merged stage checkpoints.

    soup averages the ingredients chosen by `soup_ingredients`; slerp goes from base (t=0)
    to the final stage (t=1), or along base → stage 1 → ... with `slerp_along_stages`; the
    task-vector methods merge stage − base for every stage. `task_scaling` None means 1/k
    for task arithmetic (the mean of the k task vectors) and 1 for TIES and DARE-TIES, whose
    disjoint mean already averages.
    """
    if not stages:
        raise ConfigError(f"Cannot plan a {method} merge without any LoRA stage checkpoint.")
    final = stages[-1]
    if method == "soup":
        return MergePlan("linear", _soup_ingredients(base, stages, config), None, _soup(config))
    if method == "slerp":
        inputs = [base, *stages] if config.slerp_along_stages else [base, final]
        layer_t = tuple(config.slerp_layer_t) if config.slerp_layer_t else None
        settings = SlerpSettings(
            t=config.slerp_t, layer_t=layer_t, along_path=config.slerp_along_stages
        )
        return MergePlan("slerp", inputs, None, settings)
    if method in ("task_arithmetic", "ties", "dare_ties"):
        default_scaling = 1.0 / len(stages) if method == "task_arithmetic" else 1.0
        scaling = default_scaling if config.task_scaling is None else config.task_scaling
        density = {"task_arithmetic": 1.0, "ties": config.ties_density}.get(
            method, config.dare_density
        )
        settings = TaskVectorSettings(scaling=scaling, density=density, seed=config.seed)
        return MergePlan(method, list(stages), base, settings)
    raise ConfigError(
        f"Unknown merging method {method!r}: expected one of {', '.join(MERGING_METHODS)}."
    )


def _soup_ingredients(base: Path, stages: list[Path], config: MergeSettings) -> list[Path]:
    choice = config.soup_ingredients
    if choice == "base_and_stages":
        return [base, *stages]
    if choice == "stages":
        return list(stages)
    if choice == "base_and_final":
        return [base, stages[-1]]
    raise ConfigError(
        f"Invalid soup_ingredients {choice!r}: expected one of {', '.join(SOUP_INGREDIENTS)}."
    )


def _soup(config: MergeSettings) -> LinearSettings:
    weights = tuple(config.soup_weights) if config.soup_weights else None
    return LinearSettings(weights=weights)
