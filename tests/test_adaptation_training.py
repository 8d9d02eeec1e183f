"""LoRA training on the tiny random BERT: targets, determinism, loss, stages and settings."""

import dataclasses
import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import torch
from peft import PeftModel
from safetensors.torch import load_file

from numgeom_core.adaptation import STAGE_RECORD, LoraSettings, TrainingResult, train_lora
from numgeom_core.errors import ConfigError, DatasetError, EmbeddingError
from numgeom_core.models import BackboneSpec, load_backbone

# Four families of digit lists that differ in which digits they use.
TOY_DIGITS = {"low_even": "024", "low_odd": "13", "high_even": "68", "high_odd": "579"}
QUICK = LoraSettings(
    rank=4, steps_per_stage=2, stages=1, learning_rate=1e-2, batch_size=8, families_per_batch=4
)


@pytest.fixture(autouse=True)
def single_thread() -> Iterator[None]:
    """Run the tiny models on one thread: at 32 wide, thread synchronisation costs more than
    it saves, and on a loaded 2-core machine it made these tests several times slower."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


def toy_task(per_family: int = 12, seed: int = 0) -> tuple[list[str], list[str]]:
    rng = random.Random(seed)
    texts, labels = [], []
    for family, digits in TOY_DIGITS.items():
        for _ in range(per_family):
            length = rng.randint(3, 8)
            texts.append(", ".join(rng.choice(digits) for _ in range(length)))
            labels.append(family)
    return texts, labels


def train_tiny(
    spec: BackboneSpec, settings: LoraSettings, output: Path, **kwargs: Any
) -> TrainingResult:
    model, tokenizer = load_backbone(Path(spec.source), spec)
    texts, labels = toy_task()
    return train_lora(model, tokenizer, spec, texts, labels, settings, output, **kwargs)


def adapter_tensors(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(folder / "adapter_model.safetensors")


def test_missing_target_module_names_available_layers(
    tiny_bert: BackboneSpec, tmp_path: Path
) -> None:
    settings = dataclasses.replace(QUICK, target_modules=("query", "q_proj"))

    with pytest.raises(ConfigError) as raised:
        train_tiny(tiny_bert, settings, tmp_path / "adapters")

    message = str(raised.value)
    assert "no linear layer named 'q_proj'" in message
    assert "'query'" not in message.split("for LoRA")[0]
    assert "dense, key, query, value" in message
    assert not (tmp_path / "adapters").exists()


def test_registered_targets_are_used_by_default(tiny_bert: BackboneSpec, tmp_path: Path) -> None:
    result = train_tiny(tiny_bert, QUICK, tmp_path / "adapters")

    config = json.loads((result.stage_adapters[0] / "adapter_config.json").read_text())
    assert sorted(config["target_modules"]) == ["key", "query", "value"]
    assert config["r"] == 4
    assert config["lora_alpha"] == 16.0


def test_training_is_bitwise_reproducible(tiny_bert: BackboneSpec, tmp_path: Path) -> None:
    settings = dataclasses.replace(QUICK, stages=2, dropout=0.1)

    first = train_tiny(tiny_bert, settings, tmp_path / "first")
    second = train_tiny(tiny_bert, settings, tmp_path / "second")

    assert first.losses == second.losses
    for stage_first, stage_second in zip(first.stage_adapters, second.stage_adapters, strict=True):
        tensors_first, tensors_second = adapter_tensors(stage_first), adapter_tensors(stage_second)
        assert tensors_first.keys() == tensors_second.keys()
        for name, tensor in tensors_first.items():
            assert torch.equal(tensor, tensors_second[name]), name


def test_other_seed_gives_other_adapter(tiny_bert: BackboneSpec, tmp_path: Path) -> None:
    first = train_tiny(tiny_bert, QUICK, tmp_path / "first")
    other = train_tiny(tiny_bert, dataclasses.replace(QUICK, seed=1), tmp_path / "other")

    tensors_first = adapter_tensors(first.stage_adapters[0])
    tensors_other = adapter_tensors(other.stage_adapters[0])
    assert any(not torch.equal(tensors_first[name], tensors_other[name]) for name in tensors_first)


def test_loss_decreases_on_separable_task(tiny_bert: BackboneSpec, tmp_path: Path) -> None:
    settings = LoraSettings(
        rank=4,
        steps_per_stage=15,
        stages=2,
        learning_rate=1e-2,
        batch_size=16,
        families_per_batch=4,
        temperature=0.5,
    )

    result = train_tiny(tiny_bert, settings, tmp_path / "adapters")

    first, last = result.losses[:5], result.losses[-5:]
    assert sum(last) / 5 < 0.9 * (sum(first) / 5)


def test_each_stage_is_saved_and_loadable(tiny_bert: BackboneSpec, tmp_path: Path) -> None:
    settings = dataclasses.replace(QUICK, stages=3)

    result = train_tiny(tiny_bert, settings, tmp_path / "adapters")

    assert result.stage_adapters == [tmp_path / "adapters" / f"stage-{k}" for k in (1, 2, 3)]
    assert result.stage_of_step == [1, 1, 2, 2, 3, 3]
    assert len(result.losses) == 6
    assert sorted(path.name for path in (tmp_path / "adapters").iterdir()) == [
        "stage-1",
        "stage-2",
        "stage-3",
    ]
    for stage, folder in enumerate(result.stage_adapters, start=1):
        record = json.loads((folder / STAGE_RECORD).read_text())
        assert record["stage"] == stage
        assert record["steps"] == 2 * stage
        assert record["settings"] == settings.to_dict()
        assert record["backbone"] == "tiny-bert"

        model, _ = load_backbone(Path(tiny_bert.source), tiny_bert)
        loaded = PeftModel.from_pretrained(model, folder)
        saved = adapter_tensors(folder)
        lora_b = loaded.base_model.model.encoder.layer[0].attention.self.query.lora_B["default"]
        name = "base_model.model.encoder.layer.0.attention.self.query.lora_B.weight"
        assert torch.equal(lora_b.weight, saved[name])
    assert not torch.equal(
        adapter_tensors(result.stage_adapters[0])[name],
        adapter_tensors(result.stage_adapters[2])[name],
    )


def test_stale_stages_of_earlier_run_are_removed(tiny_bert: BackboneSpec, tmp_path: Path) -> None:
    output = tmp_path / "adapters"
    (output / "stage-4").mkdir(parents=True)
    (output / "notes.txt").write_text("kept")

    train_tiny(tiny_bert, dataclasses.replace(QUICK, stages=2), output)

    assert sorted(path.name for path in output.iterdir()) == ["notes.txt", "stage-1", "stage-2"]


def test_model_is_given_back_unchanged(tiny_bert: BackboneSpec, tmp_path: Path) -> None:
    model, tokenizer = load_backbone(Path(tiny_bert.source), tiny_bert)
    before = {name: tensor.clone() for name, tensor in model.state_dict().items()}
    texts, labels = toy_task()

    train_lora(model, tokenizer, tiny_bert, texts, labels, QUICK, tmp_path / "adapters")

    assert model.state_dict().keys() == before.keys()
    for name, tensor in model.state_dict().items():
        assert torch.equal(tensor, before[name]), name
    assert not any("lora" in name for name, _ in model.named_modules())
    assert model.training is False
    assert all(parameter.requires_grad for parameter in model.parameters())


def test_caller_random_state_is_restored(tiny_bert: BackboneSpec, tmp_path: Path) -> None:
    torch.manual_seed(123)
    expected = torch.rand(3)
    torch.manual_seed(123)

    train_tiny(tiny_bert, dataclasses.replace(QUICK, dropout=0.2), tmp_path / "adapters")

    assert torch.equal(torch.rand(3), expected)


def test_progress_is_reported_every_step(tiny_bert: BackboneSpec, tmp_path: Path) -> None:
    calls: list[tuple[int, int, float]] = []

    result = train_tiny(
        tiny_bert,
        dataclasses.replace(QUICK, stages=2),
        tmp_path / "adapters",
        progress=lambda step, total, loss: calls.append((step, total, loss)),
    )

    assert calls == [(step, 4, loss) for step, loss in enumerate(result.losses, start=1)]


def test_mismatched_texts_and_labels_are_rejected(tiny_bert: BackboneSpec, tmp_path: Path) -> None:
    model, tokenizer = load_backbone(Path(tiny_bert.source), tiny_bert)

    with pytest.raises(DatasetError, match="3 texts but 2 labels"):
        train_lora(model, tokenizer, tiny_bert, ["1", "2", "3"], ["a", "b"], QUICK, tmp_path)


def test_family_without_positive_is_rejected(tiny_bert: BackboneSpec, tmp_path: Path) -> None:
    model, tokenizer = load_backbone(Path(tiny_bert.source), tiny_bert)

    with pytest.raises(DatasetError, match="b have only 1"):
        train_lora(
            model, tokenizer, tiny_bert, ["1", "1, 1", "2"], ["a", "a", "b"], QUICK, tmp_path
        )


def test_text_over_max_tokens_is_rejected(tiny_bert: BackboneSpec, tmp_path: Path) -> None:
    settings = dataclasses.replace(QUICK, max_tokens=6)

    with pytest.raises(EmbeddingError, match="longer than 6 tokens"):
        train_tiny(tiny_bert, settings, tmp_path / "adapters")


def run_fingerprint(spec: BackboneSpec, settings: LoraSettings, output: Path) -> tuple[Any, ...]:
    result = train_tiny(spec, settings, output)
    tensors = adapter_tensors(result.stage_adapters[-1])
    return (
        tuple(result.losses),
        tuple(sorted(tensors)),
        tuple(tensors[name].shape for name in sorted(tensors)),
        tuple(tensors[name].sum().item() for name in sorted(tensors)),
        len(result.stage_adapters),
    )


@pytest.fixture(scope="module")
def quick_fingerprint(tiny_bert: BackboneSpec, tmp_path_factory: pytest.TempPathFactory) -> tuple:
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    fingerprint = run_fingerprint(tiny_bert, QUICK, tmp_path_factory.mktemp("quick"))
    torch.set_num_threads(previous)
    return fingerprint


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("rank", 2),
        ("alpha", 1.0),
        ("dropout", 0.3),
        ("target_modules", ("query",)),
        ("temperature", 1.0),
        ("steps_per_stage", 3),
        ("stages", 2),
        ("learning_rate", 1e-3),
        ("batch_size", 12),
        ("families_per_batch", 2),
        ("seed", 5),
    ],
)
def test_each_setting_changes_the_run(
    field: str, value: Any, tiny_bert: BackboneSpec, quick_fingerprint: tuple, tmp_path: Path
) -> None:
    changed = run_fingerprint(
        tiny_bert, dataclasses.replace(QUICK, **{field: value}), tmp_path / "changed"
    )

    assert changed != quick_fingerprint
