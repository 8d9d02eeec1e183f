"""Backbones: registration, resolution to a local folder, loading, and embedding of texts.

The registry names import without torch or transformers, so listing backbones stays fast.
The other names load their module (and torch, about 3 s) on first use.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from numgeom_core.models.registry import (
    DEFAULT_BACKBONES,
    BackboneSpec,
    default_backbone_names,
    get_backbone,
)

if TYPE_CHECKING:
    from numgeom_core.models.checkpoints import (
        ResolvedCheckpoint,
        check_available,
        resolve_checkpoint,
    )
    from numgeom_core.models.embedding import EmbeddingConfig, EmbeddingResult, embed_texts
    from numgeom_core.models.loading import load_backbone
    from numgeom_core.models.pooling import cls_pool, last_token_pool, mean_pool

_LAZY_EXPORTS = {
    "ResolvedCheckpoint": "checkpoints",
    "check_available": "checkpoints",
    "resolve_checkpoint": "checkpoints",
    "EmbeddingConfig": "embedding",
    "EmbeddingResult": "embedding",
    "embed_texts": "embedding",
    "load_backbone": "loading",
    "cls_pool": "pooling",
    "last_token_pool": "pooling",
    "mean_pool": "pooling",
}

__all__ = [
    "DEFAULT_BACKBONES",
    "BackboneSpec",
    "EmbeddingConfig",
    "EmbeddingResult",
    "ResolvedCheckpoint",
    "check_available",
    "cls_pool",
    "default_backbone_names",
    "embed_texts",
    "get_backbone",
    "last_token_pool",
    "load_backbone",
    "mean_pool",
    "resolve_checkpoint",
]


def __getattr__(name: str) -> Any:
    module_name = _LAZY_EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    module = importlib.import_module(f"{__name__}.{module_name}")
    return getattr(module, name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY_EXPORTS))
