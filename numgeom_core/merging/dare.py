"""DARE-TIES: drop-and-rescale each task vector (DARE), then TIES sign election and mean.

Reference: Yu et al. 2024, "Language models are Super Mario: absorbing abilities from
homologous models as a free lunch", ICML 2024, arXiv:2311.03099. As in mergekit's
`dare_ties`, DARE's random drop replaces the TIES magnitude trim, and the sign election and
disjoint mean follow TIES (Yadav et al. 2023, arXiv:2306.01708).
"""

from __future__ import annotations

import hashlib

import torch
from torch import Tensor

from numgeom_core.errors import ConfigError
from numgeom_core.merging.settings import TaskVectorSettings
from numgeom_core.merging.tensor_inputs import TensorInputs, TensorResult
from numgeom_core.merging.ties import elect_and_average


def dare_drop(task_vector: Tensor, density: float, generator: torch.Generator) -> Tensor:
    """Keep each entry with probability `density` and divide the kept ones by `density`.

    With m_j ~ Bernoulli(density) drawn from `generator`, the result is tau * m / density,
    so its expectation is tau (unbiased). Example: tau = [2, 4] at density 0.5 gives one of
    [0, 0], [4, 0], [0, 8] or [4, 8], each with probability 1/4; the mean of the four is
    [2, 4]. At density 1 `task_vector` is returned unchanged and nothing is drawn.
    """
    if not 0 < density <= 1:
        raise ConfigError(f"dare_drop got density {density}: expected a value in (0, 1].")
    if density == 1:
        return task_vector
    draws = torch.rand(task_vector.shape, generator=generator, dtype=torch.float32)  # [*]
    kept = draws < density
    return task_vector * kept / density


def tensor_generator(seed: int, name: str) -> torch.Generator:
    """Return a CPU generator seeded from `seed` and the tensor name (63 bits of SHA-256).

    A tensor's draws thus depend on the seed and its name only, not on which tensors were
    merged before it.
    """
    digest = hashlib.sha256(f"{seed}\0{name}".encode()).digest()
    generator = torch.Generator(device="cpu")
    generator.manual_seed(int.from_bytes(digest[:8], "little") & (2**63 - 1))
    return generator


def merge_dare_ties(inputs: TensorInputs, settings: TaskVectorSettings) -> TensorResult:
    """Merge one tensor as base + lambda * TIES mean of DARE-dropped task vectors.

    The inputs draw from one generator per tensor, in input order.
    """
    if inputs.base is None:
        raise ConfigError(f"dare_ties needs the base tensor of {inputs.name!r}.")
    generator = tensor_generator(settings.seed, inputs.name)
    dropped = [
        dare_drop(model - inputs.base, settings.density, generator) for model in inputs.models
    ]
    merged = elect_and_average(torch.stack(dropped))  # [*]
    return TensorResult(inputs.base + settings.scaling * merged)
