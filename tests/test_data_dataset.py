"""Building, validating and configuring the sequence dataset."""

import dataclasses
import logging

import polars as pl
import pytest

from numgeom_core.data import (
    FAMILIES,
    FAMILY_NAMES,
    SCHEMA,
    DatasetConfig,
    SplitSpec,
    build_dataset,
    check_feasible,
    magnitude,
    parity,
    render_text,
    sampling,
    validate_dataset,
)
from numgeom_core.errors import DatasetError

# Ten samples per family and split keep each build near a tenth of a second.
SMALL = DatasetConfig(
    train=SplitSpec(10, 4, 8, 1, 9_999),
    eval=SplitSpec(10, 4, 8, 1, 9_999),
    ood=SplitSpec(10, 9, 12, 10_000, 999_999),
)


@pytest.fixture(scope="module")
def default_frame() -> pl.DataFrame:
    return build_dataset(DatasetConfig())


def _windows(frame: pl.DataFrame, split: str, family: str | None = None) -> set[tuple[int, ...]]:
    rows = frame.filter(pl.col("split") == split)
    if family is not None:
        rows = rows.filter(pl.col("family") == family)
    return {tuple(terms) for terms in rows["terms"].to_list()}


# --- the default dataset --------------------------------------------------------------------


def test_default_dataset_has_schema_and_sizes(default_frame: pl.DataFrame) -> None:
    assert dict(default_frame.schema) == SCHEMA
    assert list(default_frame.columns) == [
        "sample_id", "split", "family", "text", "terms", "length", "magnitude", "parity",
    ]  # fmt: skip
    assert default_frame.height == 3 * 8 * 50
    assert default_frame["sample_id"].n_unique() == default_frame.height


def test_default_dataset_rows_are_ordered(default_frame: pl.DataFrame) -> None:
    expected_keys = [
        (split, family, f"{split}-{family}-{index:04d}")
        for split in ("train", "eval", "ood")
        for family in FAMILY_NAMES
        for index in range(50)
    ]

    keys = list(default_frame.select("split", "family", "sample_id").iter_rows())

    assert keys == expected_keys


def test_default_dataset_row_matches_its_terms(default_frame: pl.DataFrame) -> None:
    row = default_frame.row(0, named=True)

    assert row["sample_id"] == "train-primes-0000"
    assert row["text"] == ", ".join(str(term) for term in row["terms"])
    assert row["length"] == len(row["terms"])
    assert row["magnitude"] == len(str(row["terms"][0])) - 1
    assert row["parity"] == ("even" if row["terms"][0] % 2 == 0 else "odd")
    assert FAMILIES["primes"].test(row["terms"])


def test_default_train_and_eval_share_no_window(default_frame: pl.DataFrame) -> None:
    assert not _windows(default_frame, "train") & _windows(default_frame, "eval")
    for split in ("train", "eval", "ood"):
        assert len(_windows(default_frame, split)) == 8 * 50


def test_default_ood_starts_higher_and_runs_longer(default_frame: pl.DataFrame) -> None:
    train = default_frame.filter(pl.col("split") == "train")
    ood = default_frame.filter(pl.col("split") == "ood")

    assert train["terms"].list.first().max() <= 9_999
    assert ood["terms"].list.first().min() >= 10_000
    assert train["length"].max() <= 8
    assert ood["length"].min() >= 9
    assert train["magnitude"].max() == 3
    assert ood["magnitude"].min() == 4


def test_default_cubes_use_every_window_once(default_frame: pl.DataFrame) -> None:
    # Cubes with first term at most 9,999 have k ≤ 21 and 5 lengths: 105 windows for 100 samples.
    cubes = _windows(default_frame, "train", "cubes") | _windows(default_frame, "eval", "cubes")

    assert len(cubes) == 100
    assert all(FAMILIES["cubes"].test(window) and window[0] <= 21**3 for window in cubes)


def test_default_splits_share_no_magnitude(default_frame: pl.DataFrame) -> None:
    in_distribution = default_frame.filter(pl.col("split") != "ood")["magnitude"]
    ood = default_frame.filter(pl.col("split") == "ood")["magnitude"]

    assert in_distribution.max() < ood.min()


# --- determinism ----------------------------------------------------------------------------


def test_same_config_builds_identical_frame() -> None:
    assert build_dataset(SMALL).equals(build_dataset(SMALL))


def test_other_seed_builds_other_frame() -> None:
    other = build_dataset(dataclasses.replace(SMALL, seed=1))

    assert not other.equals(build_dataset(SMALL))


def test_adding_family_keeps_other_families_samples() -> None:
    two = build_dataset(dataclasses.replace(SMALL, families=("primes", "squares")))
    three = build_dataset(dataclasses.replace(SMALL, families=("primes", "squares", "cubes")))

    for family in ("primes", "squares"):
        assert two.filter(pl.col("family") == family).equals(
            three.filter(pl.col("family") == family)
        )


# --- exclusivity and exhaustion -------------------------------------------------------------


def test_generation_skips_windows_of_two_families(caplog: pytest.LogCaptureFixture) -> None:
    # With three terms, a, 2a, 3a is both arithmetic (d = a) and Fibonacci-like (b = 2a).
    # 5 of the 40 arithmetic and 8 of the 36 Fibonacci-like windows have that form. Drawing
    # 20 of each at random would almost surely hit one without the exclusivity check.
    config = DatasetConfig(
        families=("arithmetic", "fibonacci_like"),
        train=SplitSpec(10, 3, 3, 1, 8),
        eval=SplitSpec(10, 3, 3, 1, 8),
        ood=SplitSpec(10, 4, 4, 9, 100),
        max_difference=5,
    )

    with caplog.at_level(logging.DEBUG, logger="numgeom_core.data.sampling"):
        frame = build_dataset(config)

    in_distribution = frame.filter(pl.col("split") != "ood")["terms"].to_list()
    assert len(in_distribution) == 40
    assert not [terms for terms in in_distribution if terms[1] == 2 * terms[0]]
    assert "matches another family" in caplog.text


def test_build_raises_when_exclusivity_leaves_too_few_windows() -> None:
    # 99 square windows of 3 terms start at or below 9,999, but 9, 16, 25 is also
    # Fibonacci-like, so only 98 remain for 50 train and 49 eval samples.
    config = DatasetConfig(
        families=("squares", "fibonacci_like"),
        train=SplitSpec(50, 3, 3, 1, 9_999),
        eval=SplitSpec(49, 3, 3, 1, 9_999),
    )
    check_feasible(config)

    with pytest.raises(DatasetError, match="only 48 of 49 valid squares windows for the eval"):
        build_dataset(config)


def test_rejection_sampling_gives_up_after_bounded_draws(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sampling, "ENUMERATION_LIMIT", 0)
    monkeypatch.setattr(sampling, "DRAWS_PER_SAMPLE", 0)
    monkeypatch.setattr(sampling, "EXTRA_DRAWS", 5)

    with pytest.raises(DatasetError, match="valid primes windows for the train split"):
        build_dataset(SMALL)


def test_rejection_sampling_builds_valid_frame(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sampling, "ENUMERATION_LIMIT", 0)

    frame = build_dataset(SMALL)

    validate_dataset(frame, SMALL)
    assert frame.height == 3 * 8 * 10


# --- infeasible settings --------------------------------------------------------------------


def _config(**changes: object) -> DatasetConfig:
    return dataclasses.replace(DatasetConfig(), **changes)


INFEASIBLE_SETTINGS = [
    (lambda: _config(families=("primes",)), r"\['primes'\].*at least two"),
    (lambda: _config(families=("primes", "fibonacci")), r"\['fibonacci'\].*known families"),
    (lambda: _config(families=("primes", "primes")), r"\['primes'\] are listed twice"),
    (lambda: _config(template="Sequence:"), r"'Sequence:'.*\{terms\} exactly once"),
    (lambda: _config(template="{terms}; {terms}"), r"\{terms\} exactly once"),
    (lambda: _config(separator=""), r"separator ''"),
    (lambda: _config(separator=" 0 "), r"separator ' 0 '.*digit"),
    (lambda: _config(max_ratio=1), r"max_ratio 1: expected an integer ≥ 2"),
    (lambda: _config(max_difference=0), r"max_difference 0: expected an integer ≥ 1"),
    (lambda: _config(seed=-1), r"seed -1"),
    (lambda: SplitSpec(0, 4, 8, 1, 9_999), r"samples_per_family 0"),
    (lambda: SplitSpec(50, 2, 8, 1, 9_999), r"min_length 2: expected an integer ≥ 3"),
    (lambda: SplitSpec(50, 8, 4, 1, 9_999), r"min_length 8 > max_length 4"),
    (lambda: SplitSpec(50, 4, 8, 0, 10_000), r"min_first_term 0"),
    (lambda: SplitSpec(50, 4, 8, 500, 100), r"min_first_term 500 > max_first_term 100"),
    (
        lambda: SplitSpec(50, 4, 8, 1, 2**63),
        r"max_first_term 9223372036854775808: expected an integer ≤ 9223372036854775807",
    ),
    (lambda: SplitSpec(50, 4, 8.0, 1, 100), r"max_length 8.0.*integer"),
    (
        lambda: _config(ood=SplitSpec(50, 9, 12, 5_000, 1_000_000)),
        r"ood.min_first_term 5000.*at least 10000",
    ),
    (
        lambda: _config(ood=SplitSpec(50, 8, 12, 10_000, 999_999)),
        r"ood.min_length 8.*at least 9",
    ),
    (
        lambda: _config(train=SplitSpec(106, 4, 8, 1, 9_999)),
        r"'cubes' has only 105 distinct windows in the train split.*106 are needed",
    ),
    (
        lambda: _config(train=SplitSpec(56, 4, 8, 1, 9_999)),
        r"'cubes' has only 105 distinct windows in the eval split.*106 are needed \(56 train",
    ),
    (
        # k from 22 (22³ = 10,648) to 99 (99³ = 970,299) and 4 lengths: 78 × 4 = 312.
        lambda: _config(ood=SplitSpec(313, 9, 12, 10_000, 999_999)),
        r"'cubes' has only 312 distinct windows in the ood split.*313 are needed",
    ),
    (
        lambda: _config(ood=SplitSpec(50, 9, 12, 10_001, 10**15)),
        r"'geometric' can reach 48828125000000000000000 .*int64.*max_ratio",
    ),
]


@pytest.mark.parametrize(("make_config", "message"), INFEASIBLE_SETTINGS)
def test_infeasible_setting_raises_before_generation(make_config, message: str) -> None:
    with pytest.raises(DatasetError, match=message):
        check_feasible(make_config())


def test_capacity_that_fits_exactly_is_feasible() -> None:
    check_feasible(_config(train=SplitSpec(55, 4, 8, 1, 9_999)))


def test_eval_capacity_counts_only_overlapping_train_windows() -> None:
    # Train cubes of 4 terms start at k ≤ 21 and eval cubes of 5 terms at k ≤ 21: no window
    # can be shared, so each split may use all 21 of its windows.
    config = _config(
        families=("cubes", "squares"),
        train=SplitSpec(21, 4, 4, 1, 9_999),
        eval=SplitSpec(21, 5, 5, 1, 9_999),
    )
    check_feasible(config)
    frame = build_dataset(config)

    assert len(_windows(frame, "train", "cubes")) == 21
    assert len(_windows(frame, "eval", "cubes")) == 21


def test_check_feasible_rejects_non_config() -> None:
    with pytest.raises(DatasetError, match="expected a DatasetConfig"):
        check_feasible({"seed": 0})


# --- every setting changes the output -------------------------------------------------------


def _split_change(split: str, **changes: int) -> dict[str, SplitSpec]:
    return {split: dataclasses.replace(getattr(SMALL, split), **changes)}


SETTING_CHANGES = {
    "families": {"families": FAMILY_NAMES[:-1]},
    "separator": {"separator": " "},
    "template": {"template": "Sequence: {terms}"},
    "max_ratio": {"max_ratio": 3},
    "max_difference": {"max_difference": 10},
    "seed": {"seed": 5},
    **{
        f"{split}.{name}": _split_change(split, **{name: value})
        for split, name, value in [
            ("train", "samples_per_family", 11),
            ("train", "min_length", 5),
            ("train", "max_length", 7),
            ("train", "min_first_term", 2),
            ("train", "max_first_term", 9_000),
            ("eval", "samples_per_family", 11),
            ("eval", "min_length", 5),
            ("eval", "max_length", 7),
            ("eval", "min_first_term", 2),
            ("eval", "max_first_term", 9_000),
            ("ood", "samples_per_family", 11),
            ("ood", "min_length", 10),
            ("ood", "max_length", 13),
            ("ood", "min_first_term", 20_001),
            ("ood", "max_first_term", 2_000_000),
        ]
    },
}


def test_setting_changes_cover_every_field() -> None:
    assert set(SETTING_CHANGES) == set(SMALL.to_dict())


@pytest.fixture(scope="module")
def small_frame() -> pl.DataFrame:
    return build_dataset(SMALL)


@pytest.mark.parametrize("setting", sorted(SETTING_CHANGES))
def test_setting_changes_output(setting: str, small_frame: pl.DataFrame) -> None:
    changed = dataclasses.replace(SMALL, **SETTING_CHANGES[setting])

    frame = build_dataset(changed)

    assert changed.to_dict()[setting] != SMALL.to_dict()[setting]
    assert not frame.equals(small_frame)


def test_max_ratio_changes_only_geometric_rows(small_frame: pl.DataFrame) -> None:
    frame = build_dataset(dataclasses.replace(SMALL, max_ratio=3))

    changed = frame.filter(pl.col("text") != small_frame["text"])

    assert set(changed["family"]) == {"geometric"}
    ratios = {
        terms[1] // terms[0] for terms in frame.filter(pl.col("family") == "geometric")["terms"]
    }
    assert ratios == {2, 3}


# --- settings round trip --------------------------------------------------------------------


def test_to_dict_is_flat_and_round_trips() -> None:
    config = dataclasses.replace(SMALL, separator=" ", seed=3, families=("cubes", "primes"))

    settings = config.to_dict()

    assert settings["families"] == "cubes,primes"
    assert settings["train.samples_per_family"] == 10
    assert settings["ood.max_first_term"] == 999_999
    assert all(isinstance(value, str | int) for value in settings.values())
    assert DatasetConfig.from_dict(settings) == config


def test_from_dict_reads_string_values_and_fills_defaults() -> None:
    config = DatasetConfig.from_dict(
        {"seed": "7", "train.max_length": "6", "families": ["primes", "cubes"]}
    )

    assert config == dataclasses.replace(
        DatasetConfig(),
        seed=7,
        families=("primes", "cubes"),
        train=SplitSpec(50, 4, 6, 1, 9_999),
    )


def test_from_dict_rejects_unknown_key() -> None:
    with pytest.raises(DatasetError, match=r"\['train.size'\]"):
        DatasetConfig.from_dict({"train.size": 5})


# --- rendering, attributes and validation ---------------------------------------------------


def test_render_text_uses_separator_and_template() -> None:
    config = dataclasses.replace(SMALL, separator=" ", template="Seq {x}: {terms}.")

    assert render_text([3, 5, 7], config) == "Seq {x}: 3 5 7."
    assert render_text([3, 5, 7], SMALL) == "3, 5, 7"


def test_magnitude_and_parity_are_exact() -> None:
    assert magnitude(9) == 0
    assert magnitude(10) == 1
    assert magnitude(10**18) == 18
    assert magnitude(10**18 - 1) == 17  # float log10 rounds this up to 18.0
    assert parity(10**18) == "even"
    assert parity(2**63 - 1) == "odd"


def test_validate_dataset_rejects_tampered_rows(small_frame: pl.DataFrame) -> None:
    relabelled = small_frame.with_columns(
        pl.when(pl.col("sample_id") == "train-primes-0000")
        .then(pl.lit("squares"))
        .otherwise(pl.col("family"))
        .alias("family")
    )
    wrong_text = small_frame.with_columns(
        pl.when(pl.col("sample_id") == "train-cubes-0003")
        .then(pl.lit("1, 2, 3"))
        .otherwise(pl.col("text"))
        .alias("text")
    )
    missing_row = small_frame.filter(pl.col("sample_id") != "ood-control-0009")
    wrong_dtype = small_frame.with_columns(pl.col("length").cast(pl.Int64))

    with pytest.raises(DatasetError, match=r"train-primes-0000: Invalid squares sample"):
        validate_dataset(relabelled, SMALL)
    with pytest.raises(DatasetError, match=r"train-cubes-0003: text is '1, 2, 3'"):
        validate_dataset(wrong_text, SMALL)
    with pytest.raises(DatasetError, match=r"ood control has 9 rows, expected 10"):
        validate_dataset(missing_row, SMALL)
    with pytest.raises(DatasetError, match=r"Invalid dataset columns"):
        validate_dataset(wrong_dtype, SMALL)


def test_validate_dataset_rejects_train_eval_overlap(
    small_frame: pl.DataFrame,
) -> None:
    train_row = small_frame.filter(pl.col("sample_id") == "train-primes-0000")
    leaked = pl.concat(
        [
            small_frame.filter(pl.col("sample_id") != "eval-primes-0000"),
            train_row.with_columns(
                pl.lit("eval-primes-0000").alias("sample_id"), pl.lit("eval").alias("split")
            ),
        ]
    )

    with pytest.raises(DatasetError, match="train and eval share 1 windows"):
        validate_dataset(leaked, SMALL)
