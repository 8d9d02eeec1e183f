"""Reading and writing checkpoint folders, one tensor at a time.

A checkpoint is a folder written by `save_pretrained`: config.json, the weights as
`model.safetensors` or as shards listed in `model.safetensors.index.json`, and tokenizer
files. Reading goes through `safetensors.safe_open`, which memory-maps the files, so only
the tensors being merged are in memory. The output is one `model.safetensors` written by
`SafetensorsWriter`, which writes the header first (computed from names, dtypes and shapes)
and then streams each tensor's bytes, so the whole output is never in memory either.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from torch import Tensor

from numgeom_core.errors import ConfigError

SINGLE_FILE = "model.safetensors"
SHARD_INDEX = "model.safetensors.index.json"

# safetensors dtype codes (https://github.com/huggingface/safetensors, format spec).
SAFETENSORS_DTYPES: dict[str, torch.dtype] = {
    "F64": torch.float64,
    "F32": torch.float32,
    "F16": torch.float16,
    "BF16": torch.bfloat16,
    "F8_E4M3": torch.float8_e4m3fn,
    "F8_E5M2": torch.float8_e5m2,
    "I64": torch.int64,
    "I32": torch.int32,
    "I16": torch.int16,
    "I8": torch.int8,
    "U64": torch.uint64,
    "U32": torch.uint32,
    "U16": torch.uint16,
    "U8": torch.uint8,
    "BOOL": torch.bool,
}

# Files of a checkpoint folder that hold weights (or point at them). They are never copied
# into a merged folder, which gets its own single model.safetensors.
WEIGHT_FILE_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".gguf", ".h5", ".onnx")


@dataclass(frozen=True)
class TensorEntry:
    """A tensor's name, safetensors dtype code (e.g. "F32") and shape."""

    name: str
    dtype: str
    shape: tuple[int, ...]

    @property
    def torch_dtype(self) -> torch.dtype:
        return SAFETENSORS_DTYPES[self.dtype]

    @property
    def is_floating(self) -> bool:
        return self.torch_dtype.is_floating_point

    @property
    def nbytes(self) -> int:
        count = 1
        for size in self.shape:
            count *= size
        return count * self.torch_dtype.itemsize


class CheckpointReader:
    """Memory-mapped access to the tensors of one checkpoint folder, single file or sharded.

    Use as a context manager, or call `close()`, so the memory maps are released.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self.label = str(self.folder)
        files = _weight_files(self.folder)
        self._handles = {file: safe_open(str(self.folder / file), framework="pt") for file in files}
        self._file_of: dict[str, str] = {}
        self.entries: dict[str, TensorEntry] = {}
        for file, handle in self._handles.items():
            for name in handle.keys():
                tensor_slice = handle.get_slice(name)
                dtype = tensor_slice.get_dtype()
                if dtype not in SAFETENSORS_DTYPES:
                    raise ConfigError(
                        f"Tensor {name!r} in {self.folder / file} has dtype {dtype}, which "
                        "merging does not support: expected one of "
                        f"{', '.join(SAFETENSORS_DTYPES)}."
                    )
                self._file_of[name] = file
                self.entries[name] = TensorEntry(name, dtype, tuple(tensor_slice.get_shape()))
        self.config = _read_config(self.folder)

    def __enter__(self) -> CheckpointReader:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        """Drop the file handles, which releases the memory maps."""
        self._handles = {}

    def read(self, name: str) -> Tensor:
        """Return tensor `name` in its stored dtype."""
        return self._handles[self._file_of[name]].get_tensor(name)


def _weight_files(folder: Path) -> list[str]:
    if not folder.is_dir():
        raise ConfigError(
            f"Checkpoint folder {folder} does not exist: pass a folder written by save_pretrained."
        )
    if (folder / SINGLE_FILE).is_file():
        return [SINGLE_FILE]
    if (folder / SHARD_INDEX).is_file():
        index = json.loads((folder / SHARD_INDEX).read_text())
        files = sorted(set(index.get("weight_map", {}).values()))
        missing = [file for file in files if not (folder / file).is_file()]
        if not files:
            raise ConfigError(
                f"{folder / SHARD_INDEX} lists no shards in its weight_map: save the checkpoint "
                "again with save_pretrained."
            )
        if missing:
            raise ConfigError(
                f"{folder / SHARD_INDEX} lists shards that are missing: {missing}. "
                "Copy the complete checkpoint folder."
            )
        return files
    present = sorted(path.name for path in folder.iterdir())[:10]
    raise ConfigError(
        f"Checkpoint folder {folder} has neither {SINGLE_FILE} nor {SHARD_INDEX} "
        f"(it contains {present}). Merging reads safetensors only: save the model with "
        "save_pretrained(folder), which writes safetensors by default."
    )


def _read_config(folder: Path) -> dict[str, Any]:
    path = folder / "config.json"
    if not path.is_file():
        return {}
    return json.loads(path.read_text())


class SafetensorsWriter:
    """Writes one safetensors file tensor by tensor, in the order of `names`.

    The header (names, dtypes, shapes, byte offsets) is written first, so each tensor's bytes
    can be streamed as soon as it is merged. Tensors are laid out by decreasing element size,
    then by name, which keeps every tensor aligned to its element size, as safetensors'
    own writer does. The SHA-256 of the file is computed while writing.
    """

    def __init__(self, path: Path, entries: Sequence[TensorEntry]) -> None:
        self.path = Path(path)
        self._order = sorted(entries, key=lambda entry: (-entry.torch_dtype.itemsize, entry.name))
        header: dict[str, Any] = {"__metadata__": {"format": "pt"}}
        offset = 0
        for entry in self._order:
            header[entry.name] = {
                "dtype": entry.dtype,
                "shape": list(entry.shape),
                "data_offsets": [offset, offset + entry.nbytes],
            }
            offset += entry.nbytes
        header_bytes = json.dumps(header, separators=(",", ":")).encode()
        header_bytes += b" " * (-len(header_bytes) % 8)  # pad so the data starts 8-aligned

        self._digest = hashlib.sha256()
        self._next = 0
        self.bytes_written = 0
        self._handle = open(self.path, "wb")
        self._write(struct.pack("<Q", len(header_bytes)) + header_bytes)

    def __enter__(self) -> SafetensorsWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._handle.close()

    @property
    def names(self) -> list[str]:
        """The tensor names in the order `write` expects them."""
        return [entry.name for entry in self._order]

    def write(self, name: str, tensor: Tensor) -> None:
        """Append tensor `name`, which must be the next one and match its dtype and shape."""
        if self._next >= len(self._order):
            raise ConfigError(f"SafetensorsWriter got {name!r} after the last tensor.")
        entry = self._order[self._next]
        if name != entry.name or tensor.dtype != entry.torch_dtype:
            raise ConfigError(
                f"SafetensorsWriter expected {entry.name!r} ({entry.dtype}) next, "
                f"got {name!r} ({tensor.dtype})."
            )
        if tuple(tensor.shape) != entry.shape:
            raise ConfigError(
                f"SafetensorsWriter expected {name!r} with shape {entry.shape}, "
                f"got {tuple(tensor.shape)}."
            )
        raw = tensor.detach().contiguous().reshape(-1).view(torch.uint8).numpy()  # [nbytes]
        self._write(memoryview(raw))
        self._next += 1

    def finish(self) -> str:
        """Close the file and return its SHA-256; raise if a tensor was not written."""
        self._handle.close()
        if self._next != len(self._order):
            missing = [entry.name for entry in self._order[self._next : self._next + 3]]
            raise ConfigError(
                f"{self.path} is incomplete: {len(self._order) - self._next} tensors were not "
                f"written, starting with {missing}."
            )
        return self._digest.hexdigest()

    def _write(self, data: bytes | memoryview) -> None:
        self._handle.write(data)
        self._digest.update(data)
        self.bytes_written += len(data) if isinstance(data, bytes) else data.nbytes


def copy_support_files(source: Path, target: Path) -> list[str]:
    """Copy the top-level non-weight files of `source` into `target`; return their names.

    Copied: config.json, generation_config.json, tokenizer and vocabulary files, chat
    templates and the like. Skipped: weight files and shard indexes, hidden files, folders,
    and numgeom's own record files (`numgeom_*.json`), which describe how `source` was made
    and would be wrong for the merged folder.
    """
    copied = []
    for path in sorted(Path(source).iterdir()):
        name = path.name
        skipped = (
            not path.is_file()
            or name.startswith(".")
            or name.endswith(WEIGHT_FILE_SUFFIXES)
            or name.endswith(".index.json")
            or (name.startswith("numgeom_") and name.endswith(".json"))
        )
        if not skipped:
            shutil.copy2(path, Path(target) / name)
            copied.append(name)
    return copied
