"""Merging of whole checkpoint folders, streamed tensor by tensor.

`merge_checkpoints` checks the inputs (names, shapes, dtypes, equal integer buffers) before
any work. It then merges each floating tensor in float32 with the chosen method, casts it
back to the checkpoints' dtype, checks that it is finite and appends it to the output
safetensors file. Allocated memory stays near one tensor per input plus the method's
temporaries, never a whole model. The inputs are memory-mapped, so their pages are file
cache that the kernel can reclaim, and the output header is written up front, so each merged
tensor is written and freed at once.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from numgeom_core.atomic import atomic_dir, sha256_tree
from numgeom_core.errors import ConfigError, NumgeomError
from numgeom_core.merging.checkpoint_io import (
    SINGLE_FILE,
    CheckpointReader,
    SafetensorsWriter,
    TensorEntry,
    copy_support_files,
)
from numgeom_core.merging.compatibility import check_integer_buffers_equal, check_same_layout
from numgeom_core.merging.layout import layer_depths, tied_embedding_pair
from numgeom_core.merging.registry import MergeMethod, get_merge_method
from numgeom_core.merging.tensor_inputs import TensorInputs

logger = logging.getLogger(__name__)

MERGE_RECORD = "numgeom_merge.json"
_MB = 1e6


@dataclass(frozen=True)
class MergeReport:
    """Summary of one finished merge: what it read and wrote, and how long it took.

    Fields:
        output: the merged checkpoint folder.
        sha256: SHA-256 of the output's model.safetensors (the record file cannot hold a
            digest of the folder that contains it).
        n_tensors: tensors written, copied buffers included.
        bytes_read: tensor bytes read from the inputs and the base, buffer checks included.
        bytes_written: size of the output's model.safetensors, header included.
        seconds: wall time of the call until the record is written: checks, merging and
            hashing the inputs. The final fsync and rename of the folder are not included.
        lerp_fallbacks: tensors where SLERP fell back to linear interpolation (0 for the
            other methods).
        copied_buffers: integer and bool tensors copied unchanged (they are equal in every
            input).
    """

    output: Path
    sha256: str
    n_tensors: int
    bytes_read: int
    bytes_written: int
    seconds: float
    lerp_fallbacks: int
    copied_buffers: int

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "output": str(self.output)}


@dataclass
class _Counters:
    bytes_read: int = 0
    lerp_fallbacks: int = 0
    copied_buffers: int = 0


class _LazyTensors(Sequence[Tensor]):
    """One tensor across several checkpoints, read and converted to float32 on each access."""

    def __init__(
        self, readers: Sequence[CheckpointReader], entry: TensorEntry, counters: _Counters
    ) -> None:
        self._readers = readers
        self._entry = entry
        self._counters = counters

    def __len__(self) -> int:
        return len(self._readers)

    def __getitem__(self, index: int) -> Tensor:  # type: ignore[override]
        if not isinstance(index, int):
            raise TypeError("checkpoint tensors are indexed one at a time, not sliced")
        reader = self._readers[index]
        self._counters.bytes_read += self._entry.nbytes
        return reader.read(self._entry.name).to(torch.float32)


def merge_checkpoints(
    method: str,
    inputs: Sequence[Path],
    output: Path,
    settings: Any = None,
    base: Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> MergeReport:
    """Merge checkpoint folders with `method` and write the result to the folder `output`.

    linear and slerp combine `inputs` directly (`base` must be None). task_arithmetic, ties
    and dare_ties take the `base` checkpoint and merge the task vectors input_i - base.
    `settings` is an instance of the method's settings class; None uses its defaults.
    `progress(done, total)` is called after each tensor.

    The output folder contains model.safetensors (one file, the inputs' dtypes), the non-weight
    files of the first checkpoint (the base for task-vector methods: config, tokenizer,
    generation config) and numgeom_merge.json (method, settings, input paths and their
    `sha256_tree` digests, and the report). It is written with `atomic_dir`, so a failure
    leaves the previous folder, or none, under `output`.

    Raises ConfigError for invalid settings or incompatible checkpoints, and NumgeomError
    when a merged tensor is not finite.
    """
    started = time.perf_counter()
    merge_method = get_merge_method(method)
    settings = _check_settings(merge_method, settings)
    input_paths, base_path, output = _check_paths(merge_method, inputs, base, output)
    merge_method.check_inputs(settings, len(input_paths))
    sources = ([base_path] if base_path is not None else []) + input_paths

    counters = _Counters()
    with contextlib.ExitStack() as stack:
        readers = [stack.enter_context(CheckpointReader(path)) for path in sources]
        check_same_layout(readers)
        counters.bytes_read += check_integer_buffers_equal(readers)
        # The inputs are hashed in a background thread while the tensors are merged: hashlib
        # and file reads release the GIL, so the hashing overlaps the merge.
        hasher = stack.enter_context(ThreadPoolExecutor(max_workers=1))
        stack.callback(hasher.shutdown, cancel_futures=True)
        digest_futures = [hasher.submit(sha256_tree, path) for path in sources]
        total_bytes = sum(entry.nbytes for entry in readers[0].entries.values())
        logger.info(
            "Merging %d checkpoints with %s into %s: %d tensors, %.1f MB per checkpoint",
            len(sources),
            merge_method.name,
            output,
            len(readers[0].entries),
            total_bytes / _MB,
        )

        with atomic_dir(output) as folder:
            weights_sha256, bytes_written, n_tensors = _write_weights(
                folder / SINGLE_FILE, readers, merge_method, settings, counters, progress
            )
            copy_support_files(sources[0], folder)
            report = MergeReport(
                output=output,
                sha256=weights_sha256,
                n_tensors=n_tensors,
                bytes_read=counters.bytes_read,
                bytes_written=bytes_written,
                seconds=time.perf_counter() - started,
                lerp_fallbacks=counters.lerp_fallbacks,
                copied_buffers=counters.copied_buffers,
            )
            digests = [future.result() for future in digest_futures]
            record = _merge_record(merge_method, settings, input_paths, base_path, digests, report)
            (folder / MERGE_RECORD).write_text(json.dumps(record, indent=2) + "\n")

    logger.info(
        "Merged %s into %s in %.1f s: read %.1f MB, wrote %.1f MB, %d lerp fallbacks, "
        "%d copied buffers",
        merge_method.name,
        output,
        report.seconds,
        report.bytes_read / _MB,
        report.bytes_written / _MB,
        report.lerp_fallbacks,
        report.copied_buffers,
    )
    return report


def _check_settings(merge_method: MergeMethod, settings: Any) -> Any:
    if settings is None:
        return merge_method.settings_class()
    if not isinstance(settings, merge_method.settings_class):
        raise ConfigError(
            f"Merge method {merge_method.name!r} takes {merge_method.settings_class.__name__}, "
            f"got {type(settings).__name__}: pass {merge_method.settings_class.__name__}(...) "
            "or None for the defaults."
        )
    return settings


def _check_paths(
    merge_method: MergeMethod, inputs: Sequence[Path], base: Path | None, output: Path
) -> tuple[list[Path], Path | None, Path]:
    input_paths = [Path(path) for path in inputs]
    if not input_paths:
        raise ConfigError(f"merge method {merge_method.name!r} got no input checkpoints.")
    if merge_method.uses_base and base is None:
        raise ConfigError(
            f"Merge method {merge_method.name!r} merges task vectors input - base: pass the "
            "base checkpoint as `base` and the fine-tuned checkpoints as `inputs`."
        )
    if not merge_method.uses_base and base is not None:
        raise ConfigError(
            f"Merge method {merge_method.name!r} combines the inputs directly and takes no "
            f"base, got base={base}: pass every checkpoint in `inputs`."
        )
    base_path = Path(base) if base is not None else None
    output = Path(output)
    for source in [*input_paths, *([base_path] if base_path is not None else [])]:
        if source.resolve() == output.resolve():
            raise ConfigError(
                f"The output folder {output} is also an input checkpoint: write the merge "
                "to a new folder."
            )
    return input_paths, base_path, output


def _write_weights(
    path: Path,
    readers: Sequence[CheckpointReader],
    merge_method: MergeMethod,
    settings: Any,
    counters: _Counters,
    progress: Callable[[int, int], None] | None,
) -> tuple[str, int, int]:
    """Write the merged model.safetensors; return its SHA-256, size and number of tensors."""
    with SafetensorsWriter(path, list(readers[0].entries.values())) as writer:
        _write_tensors(writer, readers, merge_method, settings, counters, progress)
        return writer.finish(), writer.bytes_written, len(writer.names)


def _write_tensors(
    writer: SafetensorsWriter,
    readers: Sequence[CheckpointReader],
    merge_method: MergeMethod,
    settings: Any,
    counters: _Counters,
    progress: Callable[[int, int], None] | None,
) -> None:
    """Merge or copy every tensor in the writer's order and append it to the file.

    A tied input embedding and output head are merged once, from the input embedding, and
    the same tensor is written under both names.
    """
    reference = readers[0]
    tie = tied_embedding_pair(reference.config, reference.entries)
    tie_source = {tie[0]: tie[0], tie[1]: tie[0]} if tie is not None else {}
    depths = layer_depths(reference.entries)
    pending_tied: dict[str, Tensor] = {}
    total = len(writer.names)
    log_every = max(1, math.ceil(total / 10))  # about every 10% of the tensors
    started = time.perf_counter()

    for done, name in enumerate(writer.names, start=1):
        entry = reference.entries[name]
        source = tie_source.get(name, name)
        if not entry.is_floating:
            tensor = reference.read(name)
            counters.bytes_read += entry.nbytes
            counters.copied_buffers += 1
        elif source in pending_tied:
            tensor = pending_tied.pop(source)
        else:
            inputs = _tensor_inputs(
                reference.entries[source], readers, merge_method, depths, counters
            )
            tensor = _merge_tensor(
                inputs, reference.entries[source], merge_method, settings, counters
            )
            if name in tie_source:
                pending_tied[source] = tensor
        writer.write(name, tensor)

        if progress is not None:
            progress(done, total)
        if done % log_every == 0 or done == total:
            elapsed = time.perf_counter() - started
            logger.info(
                "Merged %d of %d tensors (%.0f%%) in %.1f s",
                done,
                total,
                100 * done / total,
                elapsed,
            )


def _tensor_inputs(
    entry: TensorEntry,
    readers: Sequence[CheckpointReader],
    merge_method: MergeMethod,
    depths: dict[str, float],
    counters: _Counters,
) -> TensorInputs:
    """Build one tensor's method inputs; with a base, readers[0] is the base checkpoint."""
    base = None
    model_readers = readers
    if merge_method.uses_base:
        base = readers[0].read(entry.name).to(torch.float32)
        counters.bytes_read += entry.nbytes
        model_readers = readers[1:]
    models = _LazyTensors(model_readers, entry, counters)
    return TensorInputs(name=entry.name, models=models, base=base, depth=depths.get(entry.name))


def _merge_tensor(
    inputs: TensorInputs,
    entry: TensorEntry,
    merge_method: MergeMethod,
    settings: Any,
    counters: _Counters,
) -> Tensor:
    """Merge one tensor in float32, cast it to the checkpoints' dtype and check it is finite."""
    result = merge_method.function(inputs, settings)
    counters.lerp_fallbacks += int(result.lerp_fallback)
    merged = result.tensor.to(entry.torch_dtype)

    if not _is_finite(merged):
        bad = int((~torch.isfinite(merged)).sum())
        raise NumgeomError(
            f"Merging tensor {entry.name!r} with {merge_method.name} gave {bad} non-finite "
            f"values of {merged.numel()} in {entry.dtype}. Check that the inputs are finite, "
            "and lower the scaling (or use float32 checkpoints) if the merged values overflow."
        )
    return merged


def _is_finite(tensor: Tensor) -> bool:
    """Return True when every entry of `tensor` is finite.

    A finite sum proves it, because one inf or NaN entry makes the sum inf or NaN; the sum
    is a single pass without temporaries, much cheaper than torch.isfinite. Only a
    non-finite sum, which an overflow of finite entries can also cause, needs the exact check.
    """
    if math.isfinite(tensor.sum().item()):
        return True
    return bool(torch.isfinite(tensor).all())


def _merge_record(
    merge_method: MergeMethod,
    settings: Any,
    inputs: list[Path],
    base: Path | None,
    digests: list[str],
    report: MergeReport,
) -> dict[str, Any]:
    """Return the contents of numgeom_merge.json; `digests` has the base's digest first."""
    input_digests = digests[1:] if base is not None else digests
    return {
        "method": merge_method.name,
        "reference": merge_method.reference,
        "settings_class": type(settings).__name__,
        "settings": dataclasses.asdict(settings),
        "base": None if base is None else {"path": str(base.resolve()), "sha256": digests[0]},
        "inputs": [
            {"path": str(path.resolve()), "sha256": digest}
            for path, digest in zip(inputs, input_digests, strict=True)
        ],
        "report": report.to_dict(),
    }
