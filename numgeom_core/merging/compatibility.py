"""Checks that checkpoints can be merged: same tensor names, shapes and dtypes, equal buffers."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path

import torch

from numgeom_core.errors import ConfigError
from numgeom_core.merging.checkpoint_io import CheckpointReader

# How many missing or extra tensor names an error message lists.
_NAMES_SHOWN = 5


def check_compatible(checkpoints: Sequence[Path]) -> None:
    """Raise ConfigError unless all checkpoints hold the same tensor names, shapes and dtypes.

    Reads only the safetensors headers. The message names the first differing tensor (in
    name order), the two checkpoints and both values. For missing or extra tensors it names
    the first few.
    """
    with contextlib.ExitStack() as stack:
        readers = [stack.enter_context(CheckpointReader(path)) for path in checkpoints]
        check_same_layout(readers)


def check_same_layout(readers: Sequence[CheckpointReader]) -> None:
    """Raise ConfigError unless every reader has the first reader's names, shapes and dtypes."""
    reference = readers[0]
    for other in readers[1:]:
        _check_same_names(reference, other)

    for name in sorted(reference.entries):
        expected = reference.entries[name]
        for other in readers[1:]:
            found = other.entries[name]
            if found.shape != expected.shape:
                raise ConfigError(
                    f"Tensor {name!r} has shape {list(expected.shape)} in {reference.label} "
                    f"but {list(found.shape)} in {other.label}: merged checkpoints must share "
                    "one architecture and configuration."
                )
            if found.dtype != expected.dtype:
                raise ConfigError(
                    f"Tensor {name!r} has dtype {expected.dtype} in {reference.label} but "
                    f"{found.dtype} in {other.label}: save every checkpoint in one dtype, e.g. "
                    "model.to(torch.float32).save_pretrained(folder)."
                )


def check_integer_buffers_equal(readers: Sequence[CheckpointReader]) -> int:
    """Raise ConfigError unless every integer or bool tensor is equal in all readers.

    Such tensors (e.g. BERT's `embeddings.position_ids`) are copied, not merged. Returns the
    number of bytes read. Assumes `check_same_layout` passed.
    """
    reference = readers[0]
    bytes_read = 0
    for name, entry in sorted(reference.entries.items()):
        if entry.is_floating:
            continue
        expected = reference.read(name)
        bytes_read += entry.nbytes
        for other in readers[1:]:
            found = other.read(name)
            bytes_read += entry.nbytes
            if not torch.equal(found, expected):
                differing = int((found != expected).sum())
                raise ConfigError(
                    f"Integer tensor {name!r} differs between {reference.label} and "
                    f"{other.label} ({differing} of {expected.numel()} entries): integer and "
                    "bool buffers are copied, not merged, so they must be equal in every input."
                )
    return bytes_read


def _check_same_names(reference: CheckpointReader, other: CheckpointReader) -> None:
    missing = sorted(set(reference.entries) - set(other.entries))
    extra = sorted(set(other.entries) - set(reference.entries))
    if not missing and not extra:
        return
    parts = []
    if missing:
        parts.append(f"{len(missing)} missing from {other.label} ({_first_names(missing)})")
    if extra:
        parts.append(f"{len(extra)} only in {other.label} ({_first_names(extra)})")
    raise ConfigError(
        f"Checkpoints {reference.label} and {other.label} hold different tensors: "
        f"{'; '.join(parts)}. Merging needs checkpoints of one architecture saved the same "
        "way (e.g. all with AutoModel.save_pretrained, or all with the task head)."
    )


def _first_names(names: list[str]) -> str:
    shown = ", ".join(repr(name) for name in names[:_NAMES_SHOWN])
    return shown if len(names) <= _NAMES_SHOWN else f"{shown}, ..."
