"""Tensor positions in a model: the depth of each layer, and tied input and output embeddings."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from numgeom_core.errors import ConfigError
from numgeom_core.merging.checkpoint_io import TensorEntry

# A numbered block in a tensor name: Llama `layers.3.`, BERT `encoder.layer.3.`, GPT-2 `h.3.`,
# and `blocks.3.` / `block.3.` in other families.
_LAYER_INDEX = re.compile(r"(?:^|\.)(?:layers|layer|h|blocks|block)\.(\d+)\.")

# Name endings of input embedding matrices, for the families transformers ties most often.
_INPUT_EMBEDDING_SUFFIXES = (
    "embed_tokens.weight",
    "word_embeddings.weight",
    "wte.weight",
    "embed_in.weight",
    "tok_embeddings.weight",
    "shared.weight",
)
_OUTPUT_HEAD = "lm_head.weight"


def layer_depths(names: Iterable[str]) -> dict[str, float]:
    """Return the depth of each tensor inside a numbered layer: index / (number of layers - 1).

    The number of layers is the largest layer index in `names` plus one. With one layer its
    depth is 0. Tensors outside numbered layers (embeddings, final norm) are left out.
    Example: `layers.0.mlp.up_proj.weight` and `layers.29.mlp.up_proj.weight` in a 30-layer
    model have depths 0.0 and 1.0.
    """
    indices = {}
    for name in names:
        match = _LAYER_INDEX.search(name)
        if match is not None:
            indices[name] = int(match.group(1))
    if not indices:
        return {}
    last = max(indices.values())
    return {name: index / last if last > 0 else 0.0 for name, index in indices.items()}


def tied_embedding_pair(
    config: Mapping[str, Any], entries: Mapping[str, TensorEntry]
) -> tuple[str, str] | None:
    """Return (input embedding name, output head name) when both are stored and tied, else None.

    Tied means `tie_word_embeddings: true` in config.json (or in its `text_config`). A tied
    model saved by transformers usually stores only the input embedding, so there is no pair.
    When a checkpoint stores both, the merge writes the merged embedding under both names.
    Raises ConfigError when the config ties them but no single input embedding of the head's
    shape is found.
    """
    text_config = config.get("text_config") or {}
    tied = config.get("tie_word_embeddings", text_config.get("tie_word_embeddings", False))
    heads = [name for name in entries if name == _OUTPUT_HEAD or name.endswith("." + _OUTPUT_HEAD)]
    if not tied or not heads:
        return None
    head = heads[0]
    candidates = [
        name
        for name, entry in entries.items()
        if name.endswith(_INPUT_EMBEDDING_SUFFIXES) and entry.shape == entries[head].shape
    ]
    if len(candidates) != 1:
        raise ConfigError(
            f"config.json sets tie_word_embeddings, and the checkpoint stores {head!r}, but "
            f"{len(candidates)} input embeddings of shape {list(entries[head].shape)} were "
            f"found ({candidates}): expected exactly one, so the two cannot be kept tied. "
            "Save the model with tie_word_embeddings=False, or without the output head."
        )
    return candidates[0], head
