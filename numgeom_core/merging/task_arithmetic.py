"""Task arithmetic: add the scaled sum of task vectors to the base checkpoint.

Reference: Ilharco et al. 2023, "Editing models with task arithmetic", ICLR 2023,
arXiv:2212.04089.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from numgeom_core.errors import ConfigError
from numgeom_core.merging.settings import TaskVectorSettings
from numgeom_core.merging.tensor_inputs import TensorInputs, TensorResult


def task_arithmetic(base: Tensor, models: Sequence[Tensor], scaling: float) -> Tensor:
    """Return base + scaling * sum_i (models_i - base), all float32 of one shape.

    Example: base = [1, 2], models [2, 2] and [1, 5] give task vectors [1, 0] and [0, 3];
    with scaling 0.5 the result is [1, 2] + 0.5 * [1, 3] = [1.5, 3.5].
    """
    task_sum = torch.zeros_like(base)  # [*], sum_i (models_i - base)
    for model in models:
        # Each difference is formed first: models close to the base then subtract exactly.
        task_sum.add_(model - base)
    return base + scaling * task_sum


def check_task_vector_inputs(settings: TaskVectorSettings, n_inputs: int) -> None:
    """Raise ConfigError unless there is at least one fine-tuned input."""
    if n_inputs < 1:
        raise ConfigError(
            "Task-vector merges need at least one fine-tuned input checkpoint besides the base."
        )


def check_task_arithmetic_inputs(settings: TaskVectorSettings, n_inputs: int) -> None:
    """Raise ConfigError for a density below 1, which task arithmetic would ignore."""
    check_task_vector_inputs(settings, n_inputs)
    if settings.density != 1:
        raise ConfigError(
            f"task_arithmetic keeps whole task vectors, but TaskVectorSettings.density is "
            f"{settings.density}: use method 'ties' or 'dare_ties' to sparsify, or density=1."
        )


def merge_task_arithmetic(inputs: TensorInputs, settings: TaskVectorSettings) -> TensorResult:
    """Merge one tensor as base + lambda * sum of the task vectors."""
    if inputs.base is None:
        raise ConfigError(f"task_arithmetic needs the base tensor of {inputs.name!r}.")
    return TensorResult(task_arithmetic(inputs.base, inputs.models, settings.scaling))
