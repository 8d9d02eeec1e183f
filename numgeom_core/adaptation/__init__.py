"""LoRA adaptation of a backbone: contrastive training on family labels, and adapter merging.

`LoraSettings`, the objectives and their registry import without torch. The other names load
their module (torch, transformers and peft, several seconds) on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from numgeom_core.adaptation.objectives import OBJECTIVES, Objective, supervised_contrastive_loss
from numgeom_core.adaptation.settings import LoraSettings

if TYPE_CHECKING:
    from numgeom_core.adaptation.merge import (
        ADAPTER_RECORD,
        checkpoint_tensor_names,
        merge_adapter,
        read_adapter_record,
    )
    from numgeom_core.adaptation.training import (
        STAGE_RECORD,
        TrainingResult,
        stage_folder,
        train_lora,
    )

_LAZY_EXPORTS = {
    "ADAPTER_RECORD": "merge",
    "checkpoint_tensor_names": "merge",
    "merge_adapter": "merge",
    "read_adapter_record": "merge",
    "STAGE_RECORD": "training",
    "TrainingResult": "training",
    "stage_folder": "training",
    "train_lora": "training",
}

__all__ = [
    "ADAPTER_RECORD",
    "OBJECTIVES",
    "STAGE_RECORD",
    "LoraSettings",
    "Objective",
    "TrainingResult",
    "checkpoint_tensor_names",
    "merge_adapter",
    "read_adapter_record",
    "stage_folder",
    "supervised_contrastive_loss",
    "train_lora",
]


def __getattr__(name: str) -> Any:
    module_name = _LAZY_EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(f"{__name__}.{module_name}")
    return getattr(module, name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY_EXPORTS))
