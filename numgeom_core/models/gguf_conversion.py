"""One-time conversion of a GGUF checkpoint into a plain Hugging Face folder.

transformers reads a GGUF file with `from_pretrained(folder, gguf_file=...)` and dequantises
its weights to float32, but that takes tens of seconds and the loaded model refuses
`save_pretrained`. So the conversion here builds the base model (the `AutoModel` class, no
task head) from the GGUF config with its quantization entry removed and loads the
dequantised base-model state dict strictly. It checks that both models produce the same
hidden states on a probe text, then saves config.json, model.safetensors and the tokenizer
files. Later loads take a second or two.

The folder contains a base-model save, what `AutoModel.from_pretrained` returns and
`save_pretrained` writes (Llama tensors are named `layers.0.self_attn.q_proj.weight`, with no
`model.` prefix and no `lm_head`). The LoRA-merged checkpoints and the weight merges are
saved the same way, so every checkpoint of one backbone shares one set of tensor names and
merges can match tensors by name. A tied output head is not lost: the config keeps
`tie_word_embeddings`, so the folder still loads as a causal LM with the head tied to the
input embeddings. An untied output head is dropped, because embedding never uses it.

The folder is written with `atomic_dir`, so a conversion that fails or is killed leaves
nothing under the final name. A record file in the folder stores the GGUF file's SHA-256 and
size, and the folder is reused only while they match.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path
from typing import Any

import torch

from numgeom_core.atomic import atomic_dir, sha256_file, write_bytes_atomic
from numgeom_core.errors import ModelUnavailableError
from numgeom_core.models.registry import BackboneSpec

logger = logging.getLogger(__name__)

CONVERSION_RECORD = "numgeom_source.json"
# Version of the folder layout and record written here; a change forces a new conversion.
# Format 1 saved the causal-LM class (tensor names with a `model.` prefix); format 2 saves the
# base model.
CONVERSION_FORMAT = 2
PROBE_TEXT = "2, 3, 5, 7, 11, 13"
# Maximum absolute difference allowed between the GGUF-loaded and the rebuilt model's hidden
# states on the probe text. Both run the same float32 weights, so they should agree exactly.
PROBE_TOLERANCE = 1e-5


def convert_gguf(spec: BackboneSpec, gguf_path: Path, target: Path) -> bool:
    """Convert `gguf_path` into the folder `target` unless a matching conversion is there.

    Returns True when a conversion ran, False when the existing folder was reused.
    """
    expected = {
        "format": CONVERSION_FORMAT,
        "gguf_file": Path(gguf_path).name,
        "gguf_sha256": sha256_file(gguf_path),
        "gguf_size": Path(gguf_path).stat().st_size,
    }
    recorded = read_conversion_record(target)
    if recorded is not None and all(recorded.get(key) == value for key, value in expected.items()):
        logger.info("Reusing converted backbone %s in %s", spec.name, target)
        return False
    if recorded is not None or Path(target).exists():
        logger.info(
            "Converted folder %s does not match %s (SHA-256 %s); converting again",
            target,
            gguf_path,
            expected["gguf_sha256"][:12],
        )

    with atomic_dir(Path(target)) as folder:
        _convert_into(spec, Path(gguf_path), folder, expected)
    return True


def read_conversion_record(folder: Path) -> dict[str, Any] | None:
    """Return the conversion record of a converted folder, or None if there is none."""
    path = Path(folder) / CONVERSION_RECORD
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError:
        return None


def _convert_into(
    spec: BackboneSpec, gguf_path: Path, folder: Path, record: dict[str, Any]
) -> None:
    import transformers

    start = time.perf_counter()
    logger.info("Converting %s from %s (dequantising to float32)", spec.name, gguf_path)
    tokenizer, gguf_model = _read_gguf(spec, gguf_path)
    read_seconds = time.perf_counter() - start
    logger.info("Read the GGUF tokenizer and weights in %.1f s", read_seconds)

    model = _rebuild_without_quantization(spec, gguf_model)
    probe = _probe_hidden_state(model, tokenizer)
    gguf_probe = _probe_hidden_state(gguf_model, tokenizer)
    difference = (probe - gguf_probe).abs().max().item()
    if difference > PROBE_TOLERANCE:
        raise ModelUnavailableError(
            f"Backbone {spec.name!r}: the rebuilt model differs from the GGUF-loaded one by "
            f"{difference:.3g} (allowed {PROBE_TOLERANCE}) on the probe text; the conversion "
            "of this GGUF file is not exact, so it was not saved."
        )
    del gguf_model

    save_start = time.perf_counter()
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    record = {
        **record,
        "transformers_version": transformers.__version__,
        "quantized_from": spec.quantized_from,
        "probe_text": PROBE_TEXT,
        "probe_input_ids": list(tokenizer(PROBE_TEXT)["input_ids"]),
        "probe_last_hidden_state": [round(value, 7) for value in probe[-1].tolist()],
    }
    write_bytes_atomic(folder / CONVERSION_RECORD, json.dumps(record, indent=2).encode())
    logger.info(
        "Saved converted %s in %.1f s (conversion %.1f s in all)",
        spec.name,
        time.perf_counter() - save_start,
        time.perf_counter() - start,
    )


def _read_gguf(spec: BackboneSpec, gguf_path: Path) -> tuple[Any, torch.nn.Module]:
    """Load the tokenizer and the dequantised float32 model from a GGUF file (slow)."""
    from transformers import AutoTokenizer

    folder, file_name = gguf_path.parent, gguf_path.name
    tokenizer = AutoTokenizer.from_pretrained(folder, gguf_file=file_name)
    model = _auto_class(spec).from_pretrained(folder, gguf_file=file_name, dtype=torch.float32)
    return tokenizer, model.eval()


def _rebuild_without_quantization(spec: BackboneSpec, gguf_model: torch.nn.Module) -> Any:
    """Build the base model from the GGUF config minus quantization; load weights strictly.

    The weights are those of the GGUF-loaded model's base model, so a causal LM's output head
    is left out.
    """
    from transformers import AutoModel

    config_fields = gguf_model.config.to_dict()
    config_fields.pop("quantization_config", None)
    config_fields.pop("_name_or_path", None)
    config = type(gguf_model.config).from_dict(config_fields)

    model = AutoModel.from_config(config, dtype=torch.float32)
    try:
        model.load_state_dict(gguf_model.base_model.state_dict(), strict=True)
    except RuntimeError as error:
        raise ModelUnavailableError(
            f"Backbone {spec.name!r}: the dequantised GGUF weights do not fit the "
            f"{type(model).__name__} built from its config ({error}); this GGUF architecture "
            "cannot be converted with the installed transformers."
        ) from error
    return model.eval()


def _probe_hidden_state(model: Any, tokenizer: Any) -> torch.Tensor:
    """Return the base model's last hidden states on PROBE_TEXT, shape [T, H]."""
    inputs = tokenizer(PROBE_TEXT, return_tensors="pt")
    with torch.inference_mode():
        outputs = model.base_model(
            input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"]
        )
    return outputs.last_hidden_state[0].float()


def _auto_class(spec: BackboneSpec) -> Any:
    from transformers import AutoModel, AutoModelForCausalLM

    # transformers maps a GGUF file's architecture to its causal-LM class; the conversion
    # keeps only that model's base model.
    return AutoModelForCausalLM if spec.kind == "llm" else AutoModel
