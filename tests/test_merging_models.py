"""Merges of transformers checkpoints: the output loads with from_pretrained, ties stay tied."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from numgeom_core.errors import ConfigError
from numgeom_core.merging import (
    LinearSettings,
    SlerpSettings,
    TaskVectorSettings,
    merge_checkpoints,
    slerp,
)
from numgeom_core.merging.checkpoint_io import TensorEntry
from numgeom_core.merging.layout import layer_depths, tied_embedding_pair
from numgeom_core.models import BackboneSpec, ResolvedCheckpoint


def random_copy(source: Path, target: Path, model_class: type, seed: int) -> Path:
    """Save a model of `source`'s config with new random weights, and `source`'s other files."""
    from transformers import AutoConfig

    torch.manual_seed(seed)
    model_class(AutoConfig.from_pretrained(source)).save_pretrained(target)
    for path in source.iterdir():
        if path.is_file() and not (target / path.name).exists():
            shutil.copy2(path, target / path.name)
    return target


def state(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "model.safetensors"))


@pytest.fixture(scope="module")
def tiny_llama_pair(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Two 2-layer, 32-wide LlamaModel (base model, untied) checkpoints with random weights."""
    from transformers import LlamaConfig, LlamaModel

    config = LlamaConfig(
        vocab_size=16,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
        tie_word_embeddings=False,
    )
    folders = []
    for seed in (0, 1):
        torch.manual_seed(seed)
        folder = tmp_path_factory.mktemp(f"llama-{seed}")
        LlamaModel(config).save_pretrained(folder)
        folders.append(folder)
    return folders[0], folders[1]


def test_bert_soup_loads_with_automodel(tiny_bert: BackboneSpec, tmp_path: Path) -> None:
    from transformers import AutoModel, AutoTokenizer, BertModel

    first = Path(tiny_bert.source)
    second = random_copy(first, tmp_path / "second", BertModel, seed=1)

    merge_checkpoints("linear", [first, second], tmp_path / "soup")

    model = AutoModel.from_pretrained(tmp_path / "soup")
    expected = {name: (a + state(second)[name]) / 2 for name, a in state(first).items()}
    loaded = model.state_dict()
    assert type(model).__name__ == "BertModel"
    for name, tensor in expected.items():
        assert torch.equal(loaded[name], tensor), name
    tokenizer = AutoTokenizer.from_pretrained(tmp_path / "soup")
    assert (
        tokenizer("1, 2")["input_ids"] == AutoTokenizer.from_pretrained(first)("1, 2")["input_ids"]
    )


def test_llama_slerp_loads_with_automodel(
    tiny_llama_pair: tuple[Path, Path], tmp_path: Path
) -> None:
    from transformers import AutoModel

    first, second = tiny_llama_pair
    settings = SlerpSettings(t=0.5, layer_t=(0.0, 1.0))

    report = merge_checkpoints("slerp", [first, second], tmp_path / "slerp", settings)

    model = AutoModel.from_pretrained(tmp_path / "slerp")
    loaded = model.state_dict()
    a, b = state(first), state(second)
    assert report.n_tensors == len(a)
    assert torch.equal(
        loaded["layers.0.self_attn.q_proj.weight"], a["layers.0.self_attn.q_proj.weight"]
    )
    assert torch.equal(
        loaded["layers.1.self_attn.q_proj.weight"], b["layers.1.self_attn.q_proj.weight"]
    )
    expected_embedding, _ = slerp(0.5, a["embed_tokens.weight"], b["embed_tokens.weight"])
    assert torch.equal(loaded["embed_tokens.weight"], expected_embedding)
    with torch.inference_mode():
        hidden = model(input_ids=torch.tensor([[1, 2, 3]])).last_hidden_state
    assert torch.isfinite(hidden).all()


def test_tied_causal_lm_merge_stays_tied(tiny_llama: BackboneSpec, tmp_path: Path) -> None:
    from transformers import AutoModelForCausalLM, LlamaForCausalLM

    base = Path(tiny_llama.source)
    tuned = [random_copy(base, tmp_path / f"ft{i}", LlamaForCausalLM, seed=i + 1) for i in (0, 1)]
    settings = TaskVectorSettings(density=0.5, seed=2)

    merge_checkpoints("dare_ties", tuned, tmp_path / "out", settings, base)

    merged = state(tmp_path / "out")
    assert merged.keys() == state(base).keys()  # the tied head is stored once, as in the input
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "out")
    assert torch.equal(model.lm_head.weight, merged["model.embed_tokens.weight"])
    assert torch.equal(model.model.embed_tokens.weight, merged["model.embed_tokens.weight"])


def test_tied_head_stored_twice_gets_one_merged_value(
    tiny_llama: BackboneSpec, tmp_path: Path
) -> None:
    # DARE seeds its drops by tensor name, so merging the head and the embedding separately
    # would make them differ. The merge must write the embedding's result under both names.
    from transformers import AutoModelForCausalLM

    folders = []
    for seed in range(3):
        folder = tmp_path / f"ckpt{seed}"
        shutil.copytree(tiny_llama.source, folder)
        tensors = state(folder)
        generator = torch.Generator().manual_seed(seed)
        tensors = {
            name: t + 0.01 * torch.randn(t.shape, generator=generator)
            for name, t in tensors.items()
        }
        tensors["lm_head.weight"] = tensors["model.embed_tokens.weight"].clone()
        save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
        folders.append(folder)
    settings = TaskVectorSettings(density=0.5, seed=0)

    merge_checkpoints("dare_ties", folders[1:], tmp_path / "out", settings, folders[0])

    merged = state(tmp_path / "out")
    assert "lm_head.weight" in merged
    assert torch.equal(merged["lm_head.weight"], merged["model.embed_tokens.weight"])
    assert not torch.equal(merged["lm_head.weight"], state(folders[0])["lm_head.weight"])
    model = AutoModelForCausalLM.from_pretrained(tmp_path / "out")
    assert torch.equal(model.lm_head.weight, merged["model.embed_tokens.weight"])


def test_untied_head_is_merged_on_its_own(tmp_path: Path) -> None:
    config = {"tie_word_embeddings": False}
    folders = []
    for value in (1.0, 3.0):
        folder = tmp_path / str(value)
        folder.mkdir()
        tensors = {
            "embed_tokens.weight": torch.full((2, 2), value),
            "lm_head.weight": torch.zeros(2, 2),
        }
        save_file(tensors, str(folder / "model.safetensors"))
        (folder / "config.json").write_text(json.dumps(config))
        folders.append(folder)

    merge_checkpoints("linear", folders, tmp_path / "out", LinearSettings())

    merged = state(tmp_path / "out")
    assert torch.equal(merged["embed_tokens.weight"], torch.full((2, 2), 2.0))
    assert torch.equal(merged["lm_head.weight"], torch.zeros(2, 2))


def test_tied_pair_needs_one_matching_embedding() -> None:
    entries = {
        name: TensorEntry(name, "F32", (16, 32))
        for name in ("embed_tokens.weight", "encoder.embed_tokens.weight", "lm_head.weight")
    }

    with pytest.raises(ConfigError, match="2 input embeddings of shape \\[16, 32\\]"):
        tied_embedding_pair({"tie_word_embeddings": True}, entries)
    assert tied_embedding_pair({"tie_word_embeddings": False}, entries) is None


def test_tied_pair_reads_text_config() -> None:
    entries = {
        name: TensorEntry(name, "F32", (16, 32))
        for name in ("model.embed_tokens.weight", "lm_head.weight")
    }
    config = {"text_config": {"tie_word_embeddings": True}}

    assert tied_embedding_pair(config, entries) == ("model.embed_tokens.weight", "lm_head.weight")


def test_layer_depths_span_zero_to_one() -> None:
    names = [
        "embed_tokens.weight",
        "layers.0.mlp.up_proj.weight",
        "layers.1.mlp.up_proj.weight",
        "layers.4.input_layernorm.weight",
        "encoder.layer.2.output.dense.weight",
        "norm.weight",
    ]

    depths = layer_depths(names)

    assert depths == {
        "layers.0.mlp.up_proj.weight": 0.0,
        "layers.1.mlp.up_proj.weight": 0.25,
        "layers.4.input_layernorm.weight": 1.0,
        "encoder.layer.2.output.dense.weight": 0.5,
    }


@pytest.mark.slow
def test_minilm_slerp_with_perturbed_copy_loads(
    minilm_checkpoint: ResolvedCheckpoint, tmp_path: Path
) -> None:
    from transformers import AutoModel

    source = minilm_checkpoint.path
    perturbed = tmp_path / "perturbed"
    perturbed.mkdir()
    for path in source.iterdir():
        if path.is_file() and path.name != "model.safetensors":
            shutil.copy2(path, perturbed / path.name)
    original = state(source)
    generator = torch.Generator().manual_seed(0)
    noisy = {
        name: t + 0.01 * torch.randn(t.shape, generator=generator) if t.is_floating_point() else t
        for name, t in original.items()
    }
    save_file(noisy, str(perturbed / "model.safetensors"), metadata={"format": "pt"})

    report = merge_checkpoints("slerp", [source, perturbed], tmp_path / "out")

    merged = state(tmp_path / "out")
    assert report.copied_buffers == 1  # embeddings.position_ids, int64
    assert torch.equal(merged["embeddings.position_ids"], original["embeddings.position_ids"])
    model = AutoModel.from_pretrained(tmp_path / "out")
    weight = "encoder.layer.3.attention.self.query.weight"
    assert torch.equal(model.state_dict()[weight], merged[weight])
    halfway = (original[weight] + noisy[weight]) / 2
    assert (merged[weight] - halfway).abs().max().item() < 1e-3
