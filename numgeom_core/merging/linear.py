"""Linear merge (model soup): a weighted average of checkpoints, tensor by tensor.

Reference: Wortsman et al. 2022, "Model soups: averaging weights of multiple fine-tuned
models improves accuracy without increasing inference time", arXiv:2203.05482.
"""

from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor

from numgeom_core.errors import ConfigError
from numgeom_core.merging.settings import LinearSettings
from numgeom_core.merging.tensor_inputs import TensorInputs, TensorResult


def linear_merge(tensors: Sequence[Tensor], weights: Sequence[float]) -> Tensor:
    """Return the weighted sum sum_i w_i * x_i of same-shape float32 tensors.

    The weights are used as given (normalise them first for an average). Inputs with weight
    0 are not read, so a lazy sequence skips them. Example: x = [2, 4], y = [0, 8] with
    weights (0.5, 0.5) give [1, 6]; with weights (0.75, 0.25) they give [1.5, 5].
    """
    if len(tensors) != len(weights):
        raise ConfigError(
            f"linear_merge got {len(tensors)} tensors and {len(weights)} weights: "
            "give one weight per tensor."
        )
    merged: Tensor | None = None
    for index, weight in enumerate(weights):
        if weight == 0:
            continue
        tensor = tensors[index]
        if merged is None:
            merged = tensor * weight
        else:
            merged.add_(tensor, alpha=weight)
        del tensor  # free this input before the next is read: one input in memory at a time
    if merged is None:
        raise ConfigError("linear_merge got only zero weights: at least one must be non-zero.")
    return merged


def normalised_weights(settings: LinearSettings, n_inputs: int) -> tuple[float, ...]:
    """Return one weight per input, summing to 1: the settings' weights / their sum, or 1/n."""
    if settings.weights is None:
        return (1.0 / n_inputs,) * n_inputs
    total = sum(settings.weights)
    return tuple(weight / total for weight in settings.weights)


def check_linear_inputs(settings: LinearSettings, n_inputs: int) -> None:
    """Raise ConfigError unless `settings` has one weight per input (or none at all)."""
    if settings.weights is not None and len(settings.weights) != n_inputs:
        raise ConfigError(
            f"LinearSettings.weights has {len(settings.weights)} values for {n_inputs} input "
            "checkpoints: give one weight per input, in input order, or None for a uniform soup."
        )


def merge_linear(inputs: TensorInputs, settings: LinearSettings) -> TensorResult:
    """Merge one tensor as the normalised weighted average of the input checkpoints."""
    weights = normalised_weights(settings, len(inputs.models))
    return TensorResult(linear_merge(inputs.models, weights))
