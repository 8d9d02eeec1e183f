"""LoRA settings validation and the class-balanced batch sampler."""

from collections import Counter
from typing import Any

import pytest

from numgeom_core.adaptation import LoraSettings
from numgeom_core.adaptation.sampling import balanced_batches, check_families, encode_labels
from numgeom_core.errors import ConfigError, DatasetError


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("rank", 0, "rank 0: expected an integer >= 1"),
        ("rank", 2.0, "rank 2.0: expected an integer"),
        ("rank", True, "rank True"),
        ("alpha", 0, "alpha 0: expected a finite number > 0"),
        ("alpha", float("inf"), "alpha inf"),
        ("dropout", 1.0, r"dropout 1.0: expected a number in \[0, 1\)"),
        ("dropout", -0.1, "dropout -0.1"),
        ("temperature", 0.0, "temperature 0.0"),
        ("temperature", "0.1", "temperature '0.1'"),
        ("steps_per_stage", 0, "steps_per_stage 0"),
        ("stages", 0, "stages 0"),
        ("learning_rate", -1e-3, "learning_rate -0.001"),
        ("batch_size", 3, "batch_size 3: expected an integer >= 4"),
        ("families_per_batch", 1, "families_per_batch 1: expected an integer >= 2"),
        ("families_per_batch", 17, r"at most batch_size // 2 = 16 families"),
        ("seed", -1, "seed -1"),
        ("max_tokens", 0, "max_tokens 0"),
        ("objective", "triplet", "Unknown LoRA objective 'triplet'; known objectives are supcon"),
        ("target_modules", (), "Invalid LoRA target_modules"),
        ("target_modules", "query", "Invalid LoRA target_modules 'query'"),
        ("target_modules", ("query", " "), "Invalid LoRA target module ' '"),
    ],
)
def test_invalid_setting_is_rejected(field: str, value: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        LoraSettings(**{field: value})


def test_defaults_are_valid() -> None:
    settings = LoraSettings()

    assert settings.samples_per_family == 4
    assert settings.total_steps == 20


def test_target_module_list_is_stored_as_tuple() -> None:
    settings = LoraSettings(target_modules=["q_proj", "v_proj"])

    assert settings.target_modules == ("q_proj", "v_proj")
    assert hash(settings) == hash(LoraSettings(target_modules=("q_proj", "v_proj")))


def test_settings_round_trip_through_dict() -> None:
    settings = LoraSettings(rank=4, target_modules=("query",), seed=7)

    fields = settings.to_dict()

    assert fields["target_modules"] == ["query"]
    assert LoraSettings.from_dict(fields) == settings


def test_settings_from_dict_rejects_unknown_keys() -> None:
    with pytest.raises(ConfigError, match=r"Unknown LoRA settings \['epochs'\]"):
        LoraSettings.from_dict({"epochs": 3})


def test_labels_are_encoded_in_sorted_order() -> None:
    ids, families = encode_labels(["squares", "primes", "squares", "cubes"])

    assert families == ["cubes", "primes", "squares"]
    assert ids == [2, 1, 2, 0]


def test_single_family_is_rejected() -> None:
    with pytest.raises(DatasetError, match="at least 2 families in the labels, got 1 .primes."):
        check_families(["primes", "primes"])


def test_family_with_one_sample_is_rejected() -> None:
    with pytest.raises(DatasetError, match="cubes have only 1"):
        check_families(["primes", "primes", "cubes"])


def test_batches_hold_p_families_of_k_distinct_samples() -> None:
    label_ids = [index % 5 for index in range(50)]  # 5 families of 10 samples

    batches = balanced_batches(
        label_ids, families_per_batch=3, samples_per_family=4, steps=20, seed=0
    )

    assert len(batches) == 20
    for batch in batches:
        assert len(batch) == 12
        assert len(set(batch)) == 12
        counts = Counter(label_ids[index] for index in batch)
        assert len(counts) == 3
        assert set(counts.values()) == {4}


def test_batches_cover_every_sample() -> None:
    label_ids = [index % 4 for index in range(40)]

    batches = balanced_batches(
        label_ids, families_per_batch=4, samples_per_family=5, steps=4, seed=1
    )

    # 4 steps x 5 samples = 20 draws per family of 10 samples: two full passes.
    assert Counter(index for batch in batches for index in batch) == dict.fromkeys(range(40), 2)


def test_small_family_contributes_all_its_samples() -> None:
    label_ids = [0, 0, 0, 0, 0, 0, 1, 1]

    batches = balanced_batches(
        label_ids, families_per_batch=8, samples_per_family=4, steps=3, seed=0
    )

    for batch in batches:
        assert sorted(label_ids[index] for index in batch) == [0, 0, 0, 0, 1, 1]


def test_batches_depend_only_on_seed() -> None:
    label_ids = [index % 3 for index in range(30)]

    first = balanced_batches(label_ids, 2, 3, steps=5, seed=4)
    again = balanced_batches(label_ids, 2, 3, steps=5, seed=4)
    other = balanced_batches(label_ids, 2, 3, steps=5, seed=5)

    assert first == again
    assert first != other
