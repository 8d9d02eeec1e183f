"""Settings of the merge methods, validated when they are built.

Each method takes one settings class: `linear` takes LinearSettings, `slerp` takes
SlerpSettings, and the task-vector methods (`task_arithmetic`, `ties`, `dare_ties`) take
TaskVectorSettings. Checks that depend on the number of checkpoints (one weight per input,
two inputs for SLERP) run in `merge_checkpoints`, once that number is known.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from numgeom_core.errors import ConfigError


@dataclass(frozen=True)
class LinearSettings:
    """Settings of the linear merge (model soup).

    Fields:
        weights: one non-negative weight per input checkpoint, normalised to sum to 1 before
            use; None gives every input the weight 1/n (a uniform soup).
    """

    weights: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        if self.weights is None:
            return
        weights = tuple(self.weights)
        object.__setattr__(self, "weights", weights)
        if not weights:
            raise ConfigError(
                "LinearSettings.weights is empty: give one weight per input checkpoint, "
                "or None for a uniform soup."
            )
        for index, weight in enumerate(weights):
            _check_real(f"LinearSettings.weights[{index}]", weight)
            if weight < 0:
                raise ConfigError(
                    f"LinearSettings.weights[{index}] is {weight}: weights must be >= 0 "
                    "because a soup is a weighted average. Use task_arithmetic for differences."
                )
        if sum(weights) == 0:
            raise ConfigError(
                f"LinearSettings.weights {weights} are all zero: at least one weight must be "
                "positive, since the weights are divided by their sum."
            )


@dataclass(frozen=True)
class SlerpSettings:
    """Settings of spherical linear interpolation (SLERP) between checkpoints.

    Fields:
        t: interpolation position in [0, 1]; 0 gives the first checkpoint exactly and 1 the
            last. Used for every tensor when `layer_t` is None, and for tensors outside the
            numbered layers (embeddings, final norm) otherwise.
        layer_t: per-layer schedule of t values in [0, 1], spread evenly over the layer depth
            (first value at the first layer, last value at the last layer) and interpolated
            linearly in between, as in mergekit's gradients. None uses `t` everywhere.
        along_path: with more than two inputs, interpolate along the path input0 -> input1
            -> ... -> inputN: t in [0, 1] covers the whole path, segment k = floor(t * N)
            runs from input k to input k+1, and each segment is a SLERP. More than two inputs
            without it raises ConfigError.
    """

    t: float = 0.5
    layer_t: tuple[float, ...] | None = None
    along_path: bool = False

    def __post_init__(self) -> None:
        _check_unit_interval("SlerpSettings.t", self.t)
        if self.layer_t is not None:
            layer_t = tuple(self.layer_t)
            object.__setattr__(self, "layer_t", layer_t)
            if not layer_t:
                raise ConfigError(
                    "SlerpSettings.layer_t is empty: give at least one t value, or None to "
                    "use SlerpSettings.t for every layer."
                )
            for index, value in enumerate(layer_t):
                _check_unit_interval(f"SlerpSettings.layer_t[{index}]", value)
        if not isinstance(self.along_path, bool):
            raise ConfigError(
                f"SlerpSettings.along_path is {self.along_path!r}: expected True or False."
            )


@dataclass(frozen=True)
class TaskVectorSettings:
    """Settings of the task-vector methods: task arithmetic, TIES and DARE-TIES.

    A task vector is tau_i = input_i - base, tensor by tensor.

    Fields:
        scaling: lambda, the factor applied to the merged task vector; result = base +
            lambda * merged. Any finite value; negative values subtract the task.
        density: fraction of each task vector kept, in (0, 1]. TIES keeps the entries with
            the top `density` fraction of magnitudes per tensor; DARE keeps each entry with
            probability `density` and rescales the kept ones by 1/density. Task arithmetic
            keeps everything and raises ConfigError for a density below 1.
        seed: seed of DARE's random drops. Each tensor gets its own torch.Generator seeded
            from `seed` and the tensor name, so a tensor's result does not depend on the
            order in which tensors are merged. Only `dare_ties` uses it.
    """

    scaling: float = 1.0
    density: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        _check_real("TaskVectorSettings.scaling", self.scaling)
        _check_real("TaskVectorSettings.density", self.density)
        if not 0 < self.density <= 1:
            raise ConfigError(
                f"TaskVectorSettings.density is {self.density}: expected a fraction in (0, 1], "
                "the share of each task vector that is kept (1 keeps everything)."
            )
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ConfigError(f"TaskVectorSettings.seed is {self.seed!r}: expected an integer.")


def _check_real(label: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{label} is {value!r}: expected a finite number.")


def _check_unit_interval(label: str, value: object) -> None:
    _check_real(label, value)
    if not 0 <= value <= 1:  # type: ignore[operator]
        raise ConfigError(
            f"{label} is {value}: expected a value in [0, 1], where 0 is the first checkpoint "
            "and 1 the last."
        )
