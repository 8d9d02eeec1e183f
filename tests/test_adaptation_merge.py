"""Merging a trained adapter into the tiny BERT and Llama: same embeddings, same tensor names."""

import dataclasses
import json
import logging
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from peft import PeftModel
from transformers import AutoModel, PreTrainedModel

from numgeom_core.adaptation import (
    ADAPTER_RECORD,
    LoraSettings,
    checkpoint_tensor_names,
    merge_adapter,
    read_adapter_record,
    train_lora,
)
from numgeom_core.atomic import sha256_tree
from numgeom_core.errors import ConfigError, ModelUnavailableError
from numgeom_core.models import BackboneSpec, EmbeddingConfig, embed_texts, load_backbone

TEXTS = ["1, 2, 3", "2, 4, 6, 8", "1, 4, 9, 16", "3, 5, 7, 11, 13", "9, 9, 9"]
TRAIN_TEXTS = ["1, 3, 5", "3, 5, 7, 9", "5, 7", "7, 9, 1", "2, 4", "4, 6, 8", "6, 8, 0", "0, 2"]
TRAIN_LABELS = ["odd"] * 4 + ["even"] * 4
# A few large steps, so that the adapter moves the embeddings well beyond the tolerance.
SETTINGS = LoraSettings(
    rank=4, steps_per_stage=3, stages=1, learning_rate=5e-2, batch_size=8, families_per_batch=2
)


@pytest.fixture(autouse=True)
def single_thread() -> Iterator[None]:
    """Run the tiny models on one thread: at 32 wide, thread synchronisation costs more than
    it saves, and on a loaded 2-core machine it made these tests several times slower."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture(scope="module")
def tiny_llama_base(
    tiny_llama: BackboneSpec, tmp_path_factory: pytest.TempPathFactory
) -> BackboneSpec:
    """The tiny Llama saved as a base model (LlamaModel), as numgeom saves LLM checkpoints."""
    folder = tmp_path_factory.mktemp("tiny-llama-base")
    AutoModel.from_pretrained(tiny_llama.source).save_pretrained(folder)
    for path in Path(tiny_llama.source).iterdir():
        if path.name.startswith("tokenizer"):
            shutil.copy2(path, folder / path.name)
    return dataclasses.replace(tiny_llama, source=str(folder))


@pytest.fixture(params=["tiny_bert", "tiny_llama_base"])
def tiny_spec(request: pytest.FixtureRequest) -> BackboneSpec:
    return request.getfixturevalue(request.param)


def train_adapter(spec: BackboneSpec, output: Path) -> Path:
    model, tokenizer = load_backbone(Path(spec.source), spec)
    result = train_lora(model, tokenizer, spec, TRAIN_TEXTS, TRAIN_LABELS, SETTINGS, output)
    return result.stage_adapters[-1]


def embed(model: Any, tokenizer: Any, spec: BackboneSpec) -> np.ndarray:
    return embed_texts(model, tokenizer, TEXTS, spec, EmbeddingConfig(batch_size=2)).vectors


def test_merged_checkpoint_embeds_like_unmerged_adapter(
    tiny_spec: BackboneSpec, tmp_path: Path
) -> None:
    base = Path(tiny_spec.source)
    adapter = train_adapter(tiny_spec, tmp_path / "adapters")

    model, tokenizer = load_backbone(base, tiny_spec)
    base_vectors = embed(model, tokenizer, tiny_spec)
    unmerged_vectors = embed(PeftModel.from_pretrained(model, adapter), tokenizer, tiny_spec)
    merge_adapter(base, adapter, tiny_spec, tmp_path / "merged")
    merged_model, merged_tokenizer = load_backbone(tmp_path / "merged", tiny_spec)
    merged_vectors = embed(merged_model, merged_tokenizer, tiny_spec)

    np.testing.assert_allclose(merged_vectors, unmerged_vectors, atol=1e-4)
    assert np.abs(merged_vectors - base_vectors).max() > 1e-2


def test_merged_tensor_names_equal_base_names(tiny_spec: BackboneSpec, tmp_path: Path) -> None:
    base = Path(tiny_spec.source)
    adapter = train_adapter(tiny_spec, tmp_path / "adapters")

    merge_adapter(base, adapter, tiny_spec, tmp_path / "merged")

    merged_names = checkpoint_tensor_names(tmp_path / "merged")
    assert merged_names == checkpoint_tensor_names(base)
    assert not any("lora" in name for name in merged_names)
    assert read_adapter_record(tmp_path / "merged")["tensor_names_match_base"] is True


def test_merge_record_names_adapter_base_and_settings(
    tiny_bert: BackboneSpec, tmp_path: Path
) -> None:
    base = Path(tiny_bert.source)
    adapter = train_adapter(tiny_bert, tmp_path / "adapters")

    output = merge_adapter(base, adapter, tiny_bert, tmp_path / "merged")

    record = json.loads((output / ADAPTER_RECORD).read_text())
    assert output == tmp_path / "merged"
    assert record["adapter"] == str(adapter.resolve())
    assert record["adapter_sha256"] == sha256_tree(adapter)
    assert record["base_sha256"] == sha256_tree(base)
    assert record["settings"] == SETTINGS.to_dict()
    assert record["stage"] == 1
    assert record["lora_config"]["r"] == 4
    assert record["backbone"] == "tiny-bert"


def test_merge_copies_tokenizer_files(tiny_bert: BackboneSpec, tmp_path: Path) -> None:
    base = Path(tiny_bert.source)
    adapter = train_adapter(tiny_bert, tmp_path / "adapters")

    output = merge_adapter(base, adapter, tiny_bert, tmp_path / "merged")

    for name in ("tokenizer.json", "tokenizer_config.json"):
        assert (output / name).read_bytes() == (base / name).read_bytes()
    assert "tokenizer.json" in read_adapter_record(output)["copied_from_base"]


def fail_save(self: PreTrainedModel, *args: Any, **kwargs: Any) -> None:
    raise OSError("No space left on device")


def test_failed_merge_leaves_no_folder(
    tiny_bert: BackboneSpec, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    adapter = train_adapter(tiny_bert, tmp_path / "adapters")
    outputs = tmp_path / "merged"
    outputs.mkdir()

    monkeypatch.setattr(PreTrainedModel, "save_pretrained", fail_save)
    with pytest.raises(OSError, match="No space left"):
        merge_adapter(Path(tiny_bert.source), adapter, tiny_bert, outputs / "stage-1")

    assert list(outputs.iterdir()) == []


def test_adapter_of_other_backbone_is_rejected(
    tiny_bert: BackboneSpec, tiny_llama_base: BackboneSpec, tmp_path: Path
) -> None:
    adapter = train_adapter(tiny_bert, tmp_path / "adapters")

    with pytest.raises(ConfigError, match="trained on backbone 'tiny-bert', not 'tiny-llama'"):
        merge_adapter(Path(tiny_llama_base.source), adapter, tiny_llama_base, tmp_path / "merged")

    assert not (tmp_path / "merged").exists()


def test_folder_without_adapter_config_is_rejected(tiny_bert: BackboneSpec, tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailableError, match="has no adapter_config.json"):
        merge_adapter(Path(tiny_bert.source), tmp_path, tiny_bert, tmp_path / "merged")


def test_causal_lm_base_folder_is_reported(
    tiny_llama: BackboneSpec, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    # The conftest's tiny Llama folder is a LlamaForCausalLM save ("model." prefixes, lm_head).
    adapter = train_adapter(tiny_llama, tmp_path / "adapters")

    with caplog.at_level(logging.WARNING, logger="numgeom_core.adaptation.merge"):
        output = merge_adapter(Path(tiny_llama.source), adapter, tiny_llama, tmp_path / "merged")

    assert read_adapter_record(output)["tensor_names_match_base"] is False
    assert "not a base-model save" in caplog.text
