"""LoRA target modules: which linear layers of a backbone get adapters, checked before training."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import torch

from numgeom_core.adaptation.settings import LoraSettings
from numgeom_core.errors import ConfigError
from numgeom_core.models.registry import BackboneSpec

if TYPE_CHECKING:
    from peft import LoraConfig


def resolve_targets(settings: LoraSettings, spec: BackboneSpec) -> tuple[str, ...]:
    """Return the settings' target modules, or the backbone's registered ones when None."""
    return settings.target_modules if settings.target_modules is not None else spec.lora_targets


def linear_module_names(model: torch.nn.Module) -> list[str]:
    """Return the full names of the model's torch.nn.Linear modules, in model order."""
    return [name for name, module in model.named_modules() if isinstance(module, torch.nn.Linear)]


def check_targets(model: torch.nn.Module, targets: Sequence[str], spec: BackboneSpec) -> None:
    """Raise ConfigError unless every target names at least one linear layer of `model`.

    A target matches a module as PEFT matches a list of target_modules: the module's full
    name equals the target or ends with "." followed by the target. The message names the
    targets that match nothing and the distinct last name parts of the linear layers, which
    are the names a target list usually uses.
    """
    linear_names = linear_module_names(model)
    missing = [
        target
        for target in targets
        if not any(name == target or name.endswith(f".{target}") for name in linear_names)
    ]
    if not missing:
        return

    available = sorted({name.rsplit(".", 1)[-1] for name in linear_names})
    raise ConfigError(
        f"Backbone {spec.name!r} ({type(model).__name__}) has no linear layer named "
        f"{', '.join(repr(target) for target in missing)} for LoRA; its linear layers are "
        f"named {', '.join(available) or '(none)'}. Set target_modules in the LoRA settings, "
        "or lora_targets in the backbone registration, to some of those names."
    )


def lora_config(settings: LoraSettings, targets: Sequence[str]) -> LoraConfig:
    """Return the PEFT LoraConfig of `settings` for the given target modules."""
    from peft import LoraConfig

    return LoraConfig(
        r=settings.rank,
        lora_alpha=settings.alpha,
        lora_dropout=settings.dropout,
        target_modules=list(targets),
        bias="none",
    )
