"""Claim verdicts on hand-made metric tables, one case per verdict and claim.

Every table uses 5 replicates and level 0.5, so an interval runs from the 2nd to the 4th
sorted replicate (numpy's linear quantiles at 0.25 and 0.75 of 5 values). Replicates are
value + OFFSETS, so the paired difference of two cells is constant, and its interval is the
difference of the values.
"""

import polars as pl
import pytest

from numgeom_core.claims import (
    Thresholds,
    combine,
    evaluate_claims,
    llm_separation_claim,
    lora_tradeoff_claim,
    retained_gain_table,
    slerp_recovery_claim,
)

OFFSETS = [-0.02, -0.01, 0.0, 0.01, 0.02]
NOISE = [-0.04, 0.03, 0.0, -0.03, 0.04]  # a second pattern, so differences spread
LEVEL = 0.5
SCHEMA = {
    "backbone": pl.Utf8,
    "merge_method": pl.Utf8,
    "split": pl.Utf8,
    "metric": pl.Utf8,
    "value": pl.Float64,
    "low": pl.Float64,
    "high": pl.Float64,
    "level": pl.Float64,
    "reason": pl.Utf8,
    "n_samples": pl.Int64,
    "replicates": pl.List(pl.Float64),
}


def entry(backbone, method, split, metric, value, offsets=OFFSETS) -> dict:
    replicates = sorted(value + o for o in offsets)
    return {
        "backbone": backbone,
        "merge_method": method,
        "split": split,
        "metric": metric,
        "value": value,
        "low": replicates[1],
        "high": replicates[3],
        "level": LEVEL,
        "reason": None,
        "n_samples": 40,
        "replicates": [value + o for o in offsets],
    }


def table(*rows: dict) -> pl.DataFrame:
    return pl.DataFrame(list(rows), schema=SCHEMA)


def summary(kinds: dict[str, str], weights: dict[str, str] | None = None) -> pl.DataFrame:
    weights = weights or {}
    rows = [
        {
            "backbone": name,
            "kind": kind,
            "weights": weights.get(name, "original"),
            "merge_method": "base",
            "split": "eval",
            "metric": "silhouette",
            "value": 0.0,
            "reason": None,
        }
        for name, kind in kinds.items()
    ]
    return pl.DataFrame(rows)


def base_separation(llm: float, encoder: float, llm_knn: float, encoder_knn: float, noise=OFFSETS):
    return table(
        entry("llm-a", "base", "eval", "silhouette", llm, noise),
        entry("enc-a", "base", "eval", "silhouette", encoder),
        entry("llm-a", "base", "eval", "knn_accuracy_loo", llm_knn, noise),
        entry("enc-a", "base", "eval", "knn_accuracy_loo", encoder_knn),
    )


KINDS = {"llm-a": "llm", "enc-a": "encoder"}


@pytest.mark.parametrize(
    ("outcomes", "expected"),
    [
        ([], "undetermined"),
        ([None, None], "undetermined"),
        ([True, True], "holds"),
        ([False, None], "does not hold"),
        ([True, False, None], "mixed"),
        ([True, None], "undetermined"),
    ],
)
def test_combine_follows_the_verdict_table(outcomes, expected) -> None:
    assert combine(outcomes) == expected


def test_claim_one_holds_when_both_intervals_exceed_zero() -> None:
    verdict = llm_separation_claim(summary(KINDS), base_separation(0.30, 0.10, 0.9, 0.6))

    assert verdict.verdict == "holds"
    assert "On 1 LLM and 1 encoder backbone(s)" in verdict.sentence
    assert "0.300 (LLM) vs 0.100 (encoder)" in verdict.sentence
    assert "+0.200 [0.200, 0.200]" in verdict.sentence
    assert verdict.evidence["silhouette"]["interval"].low == pytest.approx(0.2)


def test_claim_one_does_not_hold_when_intervals_contain_zero() -> None:
    # Differences of replicates: NOISE - OFFSETS = [-0.02, 0.04, 0, -0.04, 0.02], so the
    # interval is [-0.02, 0.02] around a zero difference.
    evaluation = base_separation(0.2, 0.2, 0.8, 0.8, noise=NOISE)

    verdict = llm_separation_claim(summary(KINDS), evaluation)

    assert verdict.verdict == "does not hold"
    assert "+0.000 [-0.020, 0.020]" in verdict.sentence


def test_claim_one_is_mixed_when_only_silhouette_separates() -> None:
    evaluation = base_separation(0.3, 0.1, 0.8, 0.8, noise=NOISE)

    assert llm_separation_claim(summary(KINDS), evaluation).verdict == "mixed"


def test_claim_one_is_undetermined_without_an_encoder() -> None:
    verdict = llm_separation_claim(summary({"llm-a": "llm"}), base_separation(0.3, 0.1, 0.9, 0.6))

    assert verdict.verdict == "undetermined"
    assert "On 1 LLM and 0 encoder backbone(s)" in verdict.sentence


def test_claim_one_names_dequantised_llm_weights() -> None:
    labels = summary(KINDS, {"llm-a": "dequantised from model.Q8_0.gguf"})

    verdict = llm_separation_claim(labels, base_separation(0.30, 0.10, 0.9, 0.6))

    assert "LLM weights dequantised from GGUF: llm-a" in verdict.sentence


def lora_world(gain: float, cka: float, overlap: float, noise=OFFSETS) -> pl.DataFrame:
    rows = []
    for split in ("eval", "train"):
        rows.append(entry("enc-a", "base", split, "silhouette", 0.1))
        rows.append(entry("enc-a", "lora", split, "silhouette", 0.1 + gain, noise))
    rows.append(entry("enc-a", "lora", "eval", "linear_cka", cka))
    rows.append(entry("enc-a", "lora", "eval", "neighbour_overlap", overlap))
    return table(*rows)


def test_claim_two_holds_for_a_gain_with_eroded_geometry() -> None:
    verdict = lora_tradeoff_claim(lora_world(gain=0.2, cka=0.6, overlap=0.4))

    assert verdict.verdict == "holds"
    assert "LoRA changes silhouette by +0.200 [0.200, 0.200] on eval" in verdict.sentence
    assert "its CKA to base is 0.600 [0.590, 0.610]" in verdict.sentence


def test_claim_two_does_not_hold_without_gain_or_erosion() -> None:
    verdict = lora_tradeoff_claim(lora_world(gain=0.0, cka=0.98, overlap=0.95, noise=NOISE))

    assert verdict.verdict == "does not hold"


def test_claim_two_is_mixed_for_a_gain_that_keeps_geometry() -> None:
    verdict = lora_tradeoff_claim(lora_world(gain=0.2, cka=0.98, overlap=0.95))

    assert verdict.verdict == "mixed"


def test_claim_two_threshold_changes_the_verdict() -> None:
    world = lora_world(gain=0.2, cka=0.6, overlap=0.4)

    verdict = lora_tradeoff_claim(world, Thresholds(eroded_below=0.3))

    assert verdict.verdict == "mixed"


def test_claim_two_is_undetermined_without_a_lora_cell() -> None:
    world = lora_world(gain=0.2, cka=0.6, overlap=0.4).filter(pl.col("merge_method") == "base")

    verdict = lora_tradeoff_claim(world)

    assert verdict.verdict == "undetermined"
    assert "no cell needed by the tests is materialised" in verdict.sentence


def slerp_world(
    slerp_cka: float, slerp_silhouette: float, soup_silhouette: float | None
) -> pl.DataFrame:
    rows = [
        entry("enc-a", "base", "eval", "silhouette", 0.1),
        entry("enc-a", "lora", "eval", "silhouette", 0.3),
        entry("enc-a", "slerp", "eval", "silhouette", slerp_silhouette),
        entry("enc-a", "lora", "eval", "linear_cka", 0.5),
        entry("enc-a", "slerp", "eval", "linear_cka", slerp_cka),
    ]
    if soup_silhouette is not None:
        rows.append(entry("enc-a", "soup", "eval", "silhouette", soup_silhouette))
    return table(*rows)


def test_claim_three_holds_when_slerp_recovers_and_keeps_the_gain() -> None:
    # Retained gain (0.25 - 0.1) / (0.3 - 0.1) = 0.75 on every resample.
    verdict = slerp_recovery_claim(slerp_world(0.9, 0.25, soup_silhouette=0.15))

    assert verdict.verdict == "holds"
    assert "retained gain of eval silhouette 0.750 [0.750, 0.750]" in verdict.sentence
    assert "CKA to base of SLERP minus LoRA +0.400 [0.400, 0.400]" in verdict.sentence


def test_claim_three_does_not_hold_when_slerp_is_worse_everywhere() -> None:
    verdict = slerp_recovery_claim(slerp_world(0.4, 0.1, soup_silhouette=0.2))

    assert verdict.verdict == "does not hold"


def test_claim_three_is_mixed_when_slerp_recovers_but_loses_the_gain() -> None:
    # Retained gain (0.15 - 0.1) / 0.2 = 0.25, below 0.5.
    verdict = slerp_recovery_claim(slerp_world(0.9, 0.15, soup_silhouette=0.12))

    assert verdict.verdict == "mixed"


def test_claim_three_is_undetermined_without_a_soup() -> None:
    verdict = slerp_recovery_claim(slerp_world(0.9, 0.25, soup_silhouette=None))

    assert verdict.verdict == "undetermined"
    assert "no soup cell" in verdict.sentence


def test_retained_gain_table_lists_merged_cells_only() -> None:
    gains = retained_gain_table(slerp_world(0.9, 0.25, soup_silhouette=0.15), ["silhouette"])

    assert gains["merge_method"].to_list() == ["slerp", "soup"]
    assert gains["value"].to_list() == pytest.approx([0.75, 0.25])
    assert gains["low"].to_list() == pytest.approx([0.75, 0.25])


def test_retained_gain_is_undefined_when_lora_gained_nothing() -> None:
    world = table(
        entry("enc-a", "base", "eval", "silhouette", 0.3),
        entry("enc-a", "lora", "eval", "silhouette", 0.2),
        entry("enc-a", "slerp", "eval", "silhouette", 0.25),
    )

    (gain,) = retained_gain_table(world, ["silhouette"]).iter_rows(named=True)

    assert gain["value"] is None
    assert "LoRA did not improve silhouette" in gain["reason"]


def test_evaluate_claims_returns_three_verdicts_in_order() -> None:
    verdicts = evaluate_claims(summary(KINDS), base_separation(0.3, 0.1, 0.9, 0.6))

    assert [v.claim_id for v in verdicts] == [1, 2, 3]
    assert [v.verdict for v in verdicts] == ["holds", "undetermined", "undetermined"]
