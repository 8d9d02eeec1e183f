"""Settings of LoRA training: the adapter's shape, the objective and the optimisation schedule."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from numgeom_core.adaptation.objectives import OBJECTIVES
from numgeom_core.errors import ConfigError


@dataclass(frozen=True)
class LoraSettings:
    """Settings of one LoRA training run (Hu et al. 2021, arXiv:2106.09685).

    Fields:
        rank: r, the inner dimension of the update B A added to each target weight (>= 1).
        alpha: lora_alpha; the update is scaled by alpha / r (> 0).
        dropout: dropout probability on the input of each adapter, in [0, 1).
        target_modules: module names (or name suffixes) that get adapters; None uses the
            backbone's registered `lora_targets`.
        objective: name of the training loss in `OBJECTIVES`.
        temperature: tau of the supervised contrastive loss (> 0); lower values weigh the
            hardest negatives more.
        steps_per_stage: optimiser steps in each stage (>= 1).
        stages: number of stages; an adapter is saved at the end of each (>= 1).
        learning_rate: AdamW learning rate, constant over the run (> 0).
        batch_size: sequences per step (>= 4).
        families_per_batch: P, families drawn for each batch (all of them when the data has
            fewer). Each batch contains batch_size // P samples of each of the P families
            (fewer when a family has fewer samples), so every anchor has positives. Must be
            >= 2 and <= batch_size // 2.
        seed: seeds the adapter initialisation, dropout and batch sampling (>= 0).
        max_tokens: maximum tokens of one training sequence, as in `EmbeddingConfig`; a longer
            text raises EmbeddingError and is never truncated.
    """

    rank: int = 8
    alpha: float = 16.0
    dropout: float = 0.0
    target_modules: tuple[str, ...] | None = None
    objective: str = "supcon"
    temperature: float = 0.1
    steps_per_stage: int = 10
    stages: int = 2
    learning_rate: float = 5e-4
    batch_size: int = 32
    families_per_batch: int = 8
    seed: int = 0
    max_tokens: int = 512

    def __post_init__(self) -> None:
        for name, minimum in (
            ("rank", 1),
            ("steps_per_stage", 1),
            ("stages", 1),
            ("batch_size", 4),
            ("families_per_batch", 2),
            ("seed", 0),
            ("max_tokens", 1),
        ):
            _require_int(name, getattr(self, name), minimum)
        for name in ("alpha", "temperature", "learning_rate"):
            _require_positive_float(name, getattr(self, name))
        _require_float(
            "dropout", self.dropout, 0.0 <= _as_float(self.dropout) < 1.0, "a number in [0, 1)"
        )

        max_families = self.batch_size // 2
        if self.families_per_batch > max_families:
            raise ConfigError(
                f"Invalid LoRA families_per_batch {self.families_per_batch} for batch_size "
                f"{self.batch_size}: each family needs at least 2 samples in a batch to have a "
                f"positive pair, so use at most batch_size // 2 = {max_families} families, "
                "or raise batch_size."
            )
        if self.objective not in OBJECTIVES:
            raise ConfigError(
                f"Unknown LoRA objective {self.objective!r}; known objectives are "
                f"{', '.join(sorted(OBJECTIVES))}."
            )
        self._normalise_target_modules()

    def _normalise_target_modules(self) -> None:
        targets = self.target_modules
        if targets is None:
            return
        if isinstance(targets, str) or not isinstance(targets, tuple | list) or not targets:
            raise ConfigError(
                f"Invalid LoRA target_modules {targets!r}: expected None (use the backbone's "
                "registered targets) or a non-empty tuple of module names, for example "
                "('q_proj', 'v_proj')."
            )
        for target in targets:
            if not isinstance(target, str) or not target.strip():
                raise ConfigError(
                    f"Invalid LoRA target module {target!r} in {tuple(targets)!r}: each must be "
                    "a non-empty module name."
                )
        # A list from JSON or YAML is stored as a tuple, so the settings stay hashable.
        object.__setattr__(self, "target_modules", tuple(targets))

    @property
    def samples_per_family(self) -> int:
        """K = batch_size // families_per_batch, samples drawn of each family in a batch."""
        return self.batch_size // self.families_per_batch

    @property
    def total_steps(self) -> int:
        """Optimiser steps over all stages, stages * steps_per_stage."""
        return self.stages * self.steps_per_stage

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as JSON-compatible values (target modules as a list or None)."""
        fields = dataclasses.asdict(self)
        if self.target_modules is not None:
            fields["target_modules"] = list(self.target_modules)
        return fields

    @classmethod
    def from_dict(cls, fields: dict[str, Any]) -> LoraSettings:
        """Build settings from `to_dict` output; unknown keys raise ConfigError."""
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(fields) - known)
        if unknown:
            raise ConfigError(
                f"Unknown LoRA settings {unknown}; allowed settings are {sorted(known)}."
            )
        return cls(**fields)


def _require_int(name: str, value: object, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ConfigError(f"Invalid LoRA {name} {value!r}: expected an integer >= {minimum}.")


def _as_float(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return math.nan
    return float(value)


def _require_float(name: str, value: object, valid: bool, allowed: str) -> None:
    if not valid or not math.isfinite(_as_float(value)):
        raise ConfigError(f"Invalid LoRA {name} {value!r}: expected {allowed}.")


def _require_positive_float(name: str, value: object) -> None:
    _require_float(name, value, _as_float(value) > 0, "a finite number > 0")
