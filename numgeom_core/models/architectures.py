"""Defaults per model architecture, for registering a backbone from its files alone.

The architecture is the `model_type` in a folder's config.json, or `general.architecture`
in a GGUF file's header. Each known architecture maps to the kind of model, its usual
pooling, and the attention projections that LoRA adapters wrap.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from numgeom_core.errors import BackboneError, ModelUnavailableError
from numgeom_core.models.registry import BackboneSpec


@dataclass(frozen=True)
class ArchitectureDefaults:
    """Kind, pooling and LoRA targets to use for one architecture unless the user overrides."""

    kind: str
    pooling: str
    lora_targets: tuple[str, ...]


_BERT = ArchitectureDefaults("encoder", "mean", ("query", "key", "value"))
_DECODER = ArchitectureDefaults("llm", "last", ("q_proj", "k_proj", "v_proj", "o_proj"))

ARCHITECTURES: dict[str, ArchitectureDefaults] = {
    "bert": _BERT,
    "roberta": _BERT,
    "xlm-roberta": _BERT,
    "electra": _BERT,
    "mpnet": ArchitectureDefaults("encoder", "mean", ("q", "k", "v", "o")),
    "distilbert": ArchitectureDefaults("encoder", "mean", ("q_lin", "k_lin", "v_lin", "out_lin")),
    "modernbert": ArchitectureDefaults("encoder", "mean", ("Wqkv", "Wo")),
    "llama": _DECODER,
    "mistral": _DECODER,
    "qwen2": _DECODER,
    "qwen3": _DECODER,
    "gemma": _DECODER,
    "gemma2": _DECODER,
    # EmbeddingGemma shares this type but is an encoder: register it with --kind encoder.
    "gemma3": _DECODER,
    "gemma3_text": _DECODER,
    "phi3": ArchitectureDefaults("llm", "last", ("qkv_proj", "o_proj")),
    "gpt2": ArchitectureDefaults("llm", "last", ("c_attn", "c_proj")),
}


def read_architecture(source_type: str, location: Path) -> str:
    """Return the architecture name of a model folder (config.json) or GGUF file (header).

    Raises ModelUnavailableError when the folder or file is missing, and BackboneError when
    it exists but is not a model (no config.json, no weights, or not a GGUF file).
    """
    if not location.exists():
        raise ModelUnavailableError(
            f"Model source {location} not found; check the path (it must exist on this machine)."
        )
    if source_type == "gguf":
        return _gguf_architecture(location)
    config = location / "config.json"
    if not location.is_dir() or not config.is_file():
        raise BackboneError(
            f"{location} is not a Hugging Face model folder: it has no config.json. Point "
            "--source at the folder that contains config.json and the weights."
        )
    weights = [*location.glob("*.safetensors"), *location.glob("*.bin")]
    if not weights:
        raise BackboneError(
            f"{location} has a config.json but no weights (*.safetensors or *.bin); copy the "
            "weight files into it."
        )
    try:
        model_type = json.loads(config.read_text()).get("model_type")
    except json.JSONDecodeError as error:
        raise BackboneError(f"{config} is not valid JSON ({error}).") from error
    if not model_type:
        raise BackboneError(f"{config} has no model_type, so its architecture is unknown.")
    return str(model_type)


def architecture_defaults(architecture: str) -> ArchitectureDefaults:
    """Return the defaults of a known architecture; BackboneError names the known ones."""
    if architecture not in ARCHITECTURES:
        raise BackboneError(
            f"Architecture {architecture!r} has no known LoRA targets; known architectures "
            f"are {', '.join(sorted(ARCHITECTURES))}. Pass --kind, --pooling and "
            "--lora-targets explicitly to register it."
        )
    return ARCHITECTURES[architecture]


def spec_from_source(
    name: str,
    source_type: str,
    source: str,
    kind: str | None = None,
    pooling: str | None = None,
    lora_targets: tuple[str, ...] | None = None,
    **fields: object,
) -> BackboneSpec:
    """Build a BackboneSpec, filling kind, pooling and LoRA targets from the architecture.

    Local sources (directory, GGUF file) are read to find the architecture; a hub id or a
    package is used as given, so those need kind and lora_targets unless the package's
    folder (passed as a directory) can be read.
    """
    if kind is None or lora_targets is None:
        if source_type not in ("directory", "gguf") or ":" in source:
            raise BackboneError(
                f"Cannot read the architecture of {source_type} source {source!r} here; "
                "pass --kind and --lora-targets (and --pooling) explicitly."
            )
        defaults = architecture_defaults(read_architecture(source_type, Path(source)))
        kind = kind or defaults.kind
        lora_targets = lora_targets or defaults.lora_targets
        if pooling is None and kind == defaults.kind:
            pooling = defaults.pooling
    if pooling is None:
        pooling = "mean" if kind == "encoder" else "last"
    return BackboneSpec(
        name=name,
        source_type=source_type,  # type: ignore[arg-type]
        source=source,
        kind=kind,  # type: ignore[arg-type]
        pooling=pooling,  # type: ignore[arg-type]
        lora_targets=tuple(lora_targets),
        **fields,  # type: ignore[arg-type]
    )


def _gguf_architecture(path: Path) -> str:
    if path.suffix != ".gguf" or not path.is_file():
        raise BackboneError(f"{path} is not a .gguf file; pass the path of the GGUF file.")
    from gguf import GGUFReader

    try:
        reader = GGUFReader(str(path))
    except (ValueError, OSError) as error:
        raise BackboneError(f"{path} is not a readable GGUF file ({error}).") from error
    field = reader.get_field("general.architecture")
    if field is None:
        raise BackboneError(f"{path} has no general.architecture entry in its GGUF header.")
    return str(field.contents())
