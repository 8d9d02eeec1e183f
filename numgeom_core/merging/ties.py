"""TIES merging: trim task vectors, elect a sign per entry, and average the agreeing values.

Reference: Yadav et al. 2023, "TIES-Merging: Resolving interference when merging models",
NeurIPS 2023, arXiv:2306.01708.
"""

from __future__ import annotations

import torch
from torch import Tensor

from numgeom_core.errors import ConfigError
from numgeom_core.merging.settings import TaskVectorSettings
from numgeom_core.merging.tensor_inputs import TensorInputs, TensorResult


def trim_to_density(task_vector: Tensor, density: float) -> Tensor:
    """Keep the k = round(density * N) entries of largest magnitude (k >= 1); zero the rest.

    N is the number of entries of the tensor. Entries of equal magnitude at the cut are
    kept in the order torch.topk returns them, so exactly k survive. Example: [3, -1, 2, 0.5]
    at density 0.5 keeps k = 2 entries and gives [3, 0, 2, 0].
    """
    flat = task_vector.reshape(-1)  # [N]
    k = max(1, int(density * flat.numel() + 0.5))
    if k >= flat.numel():
        return task_vector
    kept = torch.topk(flat.abs(), k, sorted=False).indices  # [k]
    trimmed = torch.zeros_like(flat)
    trimmed[kept] = flat[kept]
    return trimmed.reshape(task_vector.shape)


def elect_and_average(task_vectors: Tensor) -> Tensor:
    """Elect a sign per entry and return the disjoint mean of the values that agree with it.

    task_vectors: [K, *] stacked (trimmed) task vectors. The elected sign is
    gamma = sign(sum_i tau_i) per entry. The disjoint mean averages the non-zero tau_i whose
    sign equals gamma; an entry where no value agrees (all zero, or gamma = 0 because the
    values cancel) is 0. Returns [*]. As in the paper, gamma = 0 gives 0 (mergekit elects +
    on a zero sum).
    """
    elected = torch.sign(task_vectors.sum(dim=0))  # [*]
    agrees = (torch.sign(task_vectors) == elected) & (task_vectors != 0)  # [K, *]
    agreeing_sum = (task_vectors * agrees).sum(dim=0)  # [*]
    agreeing_count = agrees.sum(dim=0).clamp(min=1)  # [*]
    return agreeing_sum / agreeing_count


def ties_merge(task_vectors: list[Tensor], density: float) -> Tensor:
    """Return the TIES-merged task vector of same-shape float32 task vectors.

    Steps: trim each tau_i to its top-`density` magnitudes (`trim_to_density`), elect
    gamma = sign(sum of trimmed) per entry, and average the trimmed values whose sign is
    gamma (`elect_and_average`). Worked example with density 1 (nothing trimmed):
    tau_1 = [3, -1], tau_2 = [-2, -4], tau_3 = [1, 2]; sums [2, -3] elect [+, -];
    entry 0 averages 3 and 1 to 2, entry 1 averages -1 and -4 to -2.5; result [2, -2.5].
    """
    if not task_vectors:
        raise ConfigError("ties_merge needs at least one task vector.")
    trimmed = torch.stack([trim_to_density(tau, density) for tau in task_vectors])  # [K, *]
    return elect_and_average(trimmed)


def merge_ties(inputs: TensorInputs, settings: TaskVectorSettings) -> TensorResult:
    """Merge one tensor as base + lambda * TIES-merged task vectors."""
    if inputs.base is None:
        raise ConfigError(f"ties needs the base tensor of {inputs.name!r}.")
    task_vectors = [model - inputs.base for model in inputs.models]
    merged = ties_merge(task_vectors, settings.density)
    return TensorResult(inputs.base + settings.scaling * merged)
