"""Merging a trained LoRA adapter into its base weights, saved as a plain base-model folder.

The merged weight of each target layer is W' = W + (alpha / r) B A. The folder is written the
way `AutoModel.save_pretrained` writes a base model, as the GGUF conversion does, so its
tensor names are those of the base checkpoint and weight merges can match tensors by name.
"""

from __future__ import annotations

import json
import logging
import shutil
import time
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open

from numgeom_core.adaptation.training import STAGE_RECORD
from numgeom_core.atomic import atomic_dir, sha256_tree, write_bytes_atomic
from numgeom_core.errors import ConfigError, ModelUnavailableError
from numgeom_core.models.gguf_conversion import CONVERSION_RECORD
from numgeom_core.models.loading import load_backbone
from numgeom_core.models.registry import BackboneSpec

logger = logging.getLogger(__name__)

ADAPTER_RECORD = "numgeom_adapter.json"
ADAPTER_RECORD_FORMAT = 1
# Base-folder files that are weights (replaced by the merged ones) and not copied.
_WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".pth", ".ckpt", ".gguf", ".onnx", ".h5")
_LORA_CONFIG_FIELDS = ("r", "lora_alpha", "lora_dropout", "target_modules", "peft_type")


def merge_adapter(
    base_checkpoint: Path, adapter_dir: Path, spec: BackboneSpec, output: Path
) -> Path:
    """Merge the adapter in `adapter_dir` into the base model and save it to `output`.

    The base model is loaded as `load_backbone` loads it (float32 AutoModel), the adapter is
    applied and merged with PEFT's merge_and_unload, and the result is saved with
    save_pretrained (safetensors). Tokenizer and other non-weight files of the base folder are
    copied, and ADAPTER_RECORD stores the adapter path and SHA-256, the base SHA-256, the
    LoRA configuration and the training settings. The folder is written atomically, so a
    failure leaves nothing at `output`. Returns `output`.

    Raises ModelUnavailableError when the adapter folder is incomplete or the merged weights
    are not finite, and ConfigError when the adapter was trained on another backbone.
    """
    from peft import PeftModel

    start = time.perf_counter()
    base_checkpoint, adapter_dir, output = Path(base_checkpoint), Path(adapter_dir), Path(output)
    lora_fields, stage_record = _read_adapter(adapter_dir, spec)

    model, _ = load_backbone(base_checkpoint, spec)
    merged = PeftModel.from_pretrained(model, adapter_dir).merge_and_unload()
    _check_finite(merged, spec, adapter_dir)

    record: dict[str, Any] = {
        "format": ADAPTER_RECORD_FORMAT,
        "backbone": spec.name,
        "adapter": str(adapter_dir.resolve()),
        "adapter_sha256": sha256_tree(adapter_dir),
        "base_checkpoint": str(base_checkpoint.resolve()),
        "base_sha256": sha256_tree(base_checkpoint),
        "lora_config": lora_fields,
        "stage": stage_record.get("stage"),
        "settings": stage_record.get("settings"),
    }
    with atomic_dir(output) as folder:
        merged.save_pretrained(folder)
        record["buffers_from_base"] = _restore_base_buffers(base_checkpoint, folder)
        copied = _copy_base_files(base_checkpoint, folder)
        record["copied_from_base"] = copied
        record["tensor_names_match_base"] = _tensor_names_match(base_checkpoint, folder, spec)
        write_bytes_atomic(folder / ADAPTER_RECORD, json.dumps(record, indent=2).encode())

    logger.info(
        "Merged adapter %s into %s and saved it to %s in %.1f s",
        adapter_dir,
        spec.name,
        output,
        time.perf_counter() - start,
    )
    return output


def read_adapter_record(folder: Path) -> dict[str, Any] | None:
    """Return the ADAPTER_RECORD of a merged folder, or None if there is none."""
    path = Path(folder) / ADAPTER_RECORD
    if not path.is_file():
        return None
    return json.loads(path.read_text(encoding="utf-8"))


def checkpoint_tensor_names(folder: Path) -> set[str] | None:
    """Return the tensor names in the folder's top-level safetensors files.

    Reads only the file headers. Returns None when the folder has no safetensors file (for
    example a pytorch_model.bin checkpoint).
    """
    files = sorted(Path(folder).glob("*.safetensors"))
    if not files:
        return None
    names: set[str] = set()
    for path in files:
        with safe_open(path, framework="pt") as handle:
            names.update(handle.keys())
    return names


def _restore_base_buffers(base: Path, folder: Path) -> list[str]:
    """Copy into the merged weights the integer buffers that only the base file stores.

    Older transformers saved non-persistent buffers such as BERT's
    `embeddings.position_ids` (int64); the current save_pretrained leaves them out, so a
    merged folder would lack a tensor its base has, and weight merges that pair tensors by
    name would reject the pair. Only integer and bool tensors are restored; a missing
    floating-point tensor is left to the name check below, which warns.
    """
    target = folder / "model.safetensors"
    base_names = checkpoint_tensor_names(base)
    merged_names = checkpoint_tensor_names(folder)
    if not target.is_file() or base_names is None or merged_names is None:
        return []
    missing = sorted(base_names - merged_names)
    if not missing:
        return []

    from safetensors.torch import load_file, save_file

    buffers: dict[str, torch.Tensor] = {}
    for path in sorted(Path(base).glob("*.safetensors")):
        with safe_open(path, framework="pt") as handle:
            for name in missing:
                if name in handle.keys():
                    tensor = handle.get_tensor(name)
                    if not (tensor.dtype.is_floating_point or tensor.dtype.is_complex):
                        buffers[name] = tensor
    if not buffers:
        return []
    tensors = load_file(target)
    tensors.update(buffers)
    save_file(tensors, target, metadata={"format": "pt"})
    return sorted(buffers)


def _read_adapter(adapter_dir: Path, spec: BackboneSpec) -> tuple[dict[str, Any], dict[str, Any]]:
    """Return the adapter's LoRA configuration and its training record (empty if absent)."""
    config_path = adapter_dir / "adapter_config.json"
    if not config_path.is_file():
        raise ModelUnavailableError(
            f"Adapter folder {adapter_dir} has no adapter_config.json, so it is not a PEFT "
            "adapter; pass a stage folder written by train_lora."
        )
    config = json.loads(config_path.read_text(encoding="utf-8"))
    lora_fields = {key: config.get(key) for key in _LORA_CONFIG_FIELDS}

    record_path = adapter_dir / STAGE_RECORD
    stage_record = json.loads(record_path.read_text()) if record_path.is_file() else {}
    trained_on = stage_record.get("backbone")
    if trained_on is not None and trained_on != spec.name:
        raise ConfigError(
            f"Adapter {adapter_dir} was trained on backbone {trained_on!r}, not {spec.name!r}; "
            "merge it into the base checkpoint of the backbone it was trained on."
        )
    return lora_fields, stage_record


def _check_finite(model: torch.nn.Module, spec: BackboneSpec, adapter_dir: Path) -> None:
    bad = [
        name
        for name, tensor in model.state_dict().items()
        if tensor.is_floating_point() and not bool(torch.isfinite(tensor).all())
    ]
    if bad:
        raise ModelUnavailableError(
            f"Merging adapter {adapter_dir} into {spec.name!r} gave non-finite weights in "
            f"{len(bad)} tensors (first: {', '.join(bad[:5])}); the adapter is broken, so "
            "train it again, for example with a lower learning rate."
        )


def _copy_base_files(base: Path, folder: Path) -> list[str]:
    """Copy the base folder's tokenizer and other non-weight entries; return their names.

    Skipped: weight files and shard indexes (replaced by the merged weights), files that
    save_pretrained already wrote (config.json), numgeom's own records, hidden entries, and
    subfolders that contain weights (such as an ONNX export of the base weights).
    """
    copied = []
    for path in sorted(base.iterdir()):
        name = path.name
        if (
            name.startswith(".")
            or name in (CONVERSION_RECORD, ADAPTER_RECORD)
            or (folder / name).exists()
            or _is_weight_file(path)
        ):
            continue
        if path.is_dir():
            if any(_is_weight_file(inner) for inner in path.rglob("*")):
                continue
            shutil.copytree(path, folder / name)
        else:
            shutil.copy2(path, folder / name)
        copied.append(name)
    return copied


def _is_weight_file(path: Path) -> bool:
    return path.name.endswith(_WEIGHT_SUFFIXES) or path.name.endswith(".index.json")


def _tensor_names_match(base: Path, folder: Path, spec: BackboneSpec) -> bool | None:
    """Compare the merged and base tensor names; warn when they differ. None if unknown."""
    base_names = checkpoint_tensor_names(base)
    merged_names = checkpoint_tensor_names(folder)
    if base_names is None or merged_names is None:
        return None
    if base_names == merged_names:
        return True
    logger.warning(
        "The merged %s checkpoint's tensor names differ from its base checkpoint's in %s "
        "(%d only in base, such as %s; %d only in merged, such as %s). The base folder is "
        "probably not a base-model save (a causal-LM save prefixes 'model.'), so merges that "
        "match tensors by name will not pair them; save the base with AutoModel.",
        spec.name,
        base,
        len(base_names - merged_names),
        sorted(base_names - merged_names)[:3],
        len(merged_names - base_names),
        sorted(merged_names - base_names)[:3],
    )
    return False
