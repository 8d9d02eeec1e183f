"""Verdicts on the study's three claims, computed from the metric tables.

Inputs are two long tables. `summary`: the metrics summary (backbone, kind, weights,
merge_method, split, metric, value, reason). `evaluation`: the evaluation metrics of every
cell (backbone, merge_method, split, metric, value, low, high, level, reason, n_samples,
replicates), where `replicates` contains a bootstrapped metric's value on each resample (nan
where undefined). Resamples depend only on the seed, labels and n, so replicates of two
cells are paired, and a difference of two cells gets a percentile interval from the
differences of their replicates.

Each claim is a set of tests. A test passes when its interval lies entirely on the claimed
side of its threshold, fails otherwise, and is undetermined (None) when a cell, a value or
an interval it needs is missing. The verdict combines them:

| tests | verdict |
|---|---|
| none, or all undetermined | undetermined |
| all pass | holds |
| none passes, at least one fails | does not hold |
| some pass and some fail | mixed |
| some pass, none fails, some undetermined | undetermined |
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl

from numgeom_core.metrics import interval_from_replicates, metric_spec
from numgeom_core.metrics import retained_gain as retained_gain_value
from numgeom_core.metrics.bootstrap import Interval
from numgeom_core.metrics.retained_gain import retained_gain_interval

VERDICTS = ("holds", "does not hold", "mixed", "undetermined")
PRIMARY_SPLIT = "eval"
SEPARATION_METRICS = ("silhouette", "knn_accuracy_loo")
GAIN_METRICS = ("silhouette", "davies_bouldin", "knn_accuracy_loo")
DEFAULT_LEVEL = 0.95
STATEMENTS = {
    1: "LLM backbones separate the families better than non-LLM encoders.",
    2: "LoRA raises separation on the trained labels but erodes the base geometry.",
    3: (
        "SLERP recovers most of the base structure while keeping most of the task gain, "
        "better than a soup or the unmerged adapter."
    ),
}


@dataclass(frozen=True)
class ClaimVerdict:
    """The verdict on one claim, the sentence that states it with numbers, and its evidence."""

    claim_id: int
    statement: str
    verdict: str
    sentence: str
    evidence: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Thresholds:
    """Thresholds of the claims' tests.

    eroded_below: claim 2 counts the base geometry as eroded when LoRA's linear CKA to base
        (the interval's upper end) and its neighbour overlap with base are below this.
    most_gain: claim 3 counts "most of the task gain" kept when the interval of SLERP's
        retained gain of eval silhouette lies at or above this.
    """

    eroded_below: float = 0.9
    most_gain: float = 0.5


def combine(outcomes: Sequence[bool | None]) -> str:
    """Return the verdict of a claim from its tests' outcomes (see the module's table)."""
    passed = sum(outcome is True for outcome in outcomes)
    failed = sum(outcome is False for outcome in outcomes)
    undetermined = len(outcomes) - passed - failed
    if passed + failed == 0:
        return "undetermined"
    if failed == 0:
        return "holds" if undetermined == 0 else "undetermined"
    return "mixed" if passed else "does not hold"


def evaluation_level(evaluation: pl.DataFrame) -> float:
    """Return the bootstrap level of the evaluation table's intervals (0.95 when none)."""
    levels = evaluation["level"].drop_nulls().unique().to_list() if evaluation.height else []
    return float(levels[0]) if levels else DEFAULT_LEVEL


def lookup(
    evaluation: pl.DataFrame, backbone: str, method: str, split: str, metric: str
) -> dict | None:
    """Return the evaluation row of one cell, split and metric, or None if absent."""
    rows = evaluation.filter(
        (pl.col("backbone") == backbone)
        & (pl.col("merge_method") == method)
        & (pl.col("split") == split)
        & (pl.col("metric") == metric)
    )
    return rows.row(0, named=True) if rows.height else None


def replicates_of(entry: dict | None) -> np.ndarray | None:
    """Return a row's replicates as float64 [resamples], or None if it has none."""
    if entry is None or entry.get("replicates") is None or entry["value"] is None:
        return None
    return np.asarray(entry["replicates"], dtype=np.float64)


def difference(first: dict | None, second: dict | None, level: float) -> Interval | None:
    """Return the paired interval of first − second (point and replicates), None if missing."""
    a, b = replicates_of(first), replicates_of(second)
    if a is None or b is None or a.shape != b.shape:
        return None
    return interval_from_replicates(a - b, first["value"] - second["value"], level)


def passes_above(interval: Interval | None, threshold: float) -> bool | None:
    """Return whether the interval lies above `threshold`, None when it is undefined."""
    if interval is None or interval.reason is not None:
        return None
    return interval.low > threshold


def describe(interval: Interval | None, digits: int = 3) -> str:
    """Format an interval as '0.123 [0.100, 0.150]', or 'n/a' with the reason."""
    if interval is None:
        return "n/a (a value or its replicates are missing)"
    if interval.reason is not None:
        return f"n/a ({interval.reason})"
    return f"{interval.point:+.{digits}f} [{interval.low:.{digits}f}, {interval.high:.{digits}f}]"


def verdict_sentence(verdict: str, parts: list[str]) -> str:
    """Join test descriptions into one sentence that ends with the verdict."""
    body = "; ".join(parts) if parts else "no cell needed by the tests is materialised"
    phrases = {
        "holds": "the claim holds",
        "does not hold": "the claim does not hold",
        "mixed": "the evidence is mixed (some tests pass, some fail)",
        "undetermined": "undetermined (a test lacks a value or an interval)",
    }
    return f"{body}. Verdict: {phrases.get(verdict, verdict)}."


def group_mean(
    evaluation: pl.DataFrame, backbones: list[str], metric: str
) -> tuple[float, np.ndarray | None] | None:
    """Return the mean base eval value of `metric` over backbones and their mean replicates."""
    entries = [lookup(evaluation, b, "base", PRIMARY_SPLIT, metric) for b in backbones]
    entries = [e for e in entries if e is not None and e["value"] is not None]
    if not entries:
        return None
    value = float(np.mean([e["value"] for e in entries]))
    replicate_sets = [replicates_of(e) for e in entries]
    if any(r is None for r in replicate_sets) or len({r.shape for r in replicate_sets}) != 1:
        return value, None
    return value, np.mean(np.stack(replicate_sets), axis=0)  # [resamples], nan propagates


def llm_separation_claim(summary: pl.DataFrame, evaluation: pl.DataFrame) -> ClaimVerdict:
    """Test claim 1: LLM backbones separate the families better than encoders.

    Base cells, eval split. For silhouette and the leave-one-out k-NN accuracy, d = mean over
    LLM backbones − mean over encoder backbones, with the percentile interval of the same
    difference over the paired resamples. A test passes when the interval's lower end is
    above 0. The kind of each backbone comes from `summary`. Undetermined without at least
    one LLM and one encoder with a defined base value.
    """
    level = evaluation_level(evaluation)
    kinds = dict(summary.select("backbone", "kind").unique().iter_rows())
    llms = sorted(b for b, kind in kinds.items() if kind == "llm")
    encoders = sorted(b for b, kind in kinds.items() if kind == "encoder")
    outcomes, parts, evidence = [], [], {"llm": llms, "encoder": encoders, "level": level}
    for metric in SEPARATION_METRICS:
        llm, encoder = (
            group_mean(evaluation, llms, metric),
            group_mean(evaluation, encoders, metric),
        )
        if llm is None or encoder is None:
            outcomes.append(None)
            parts.append(f"{metric}: no defined base eval value for both kinds")
            continue
        interval = None
        if llm[1] is not None and encoder[1] is not None:
            interval = interval_from_replicates(llm[1] - encoder[1], llm[0] - encoder[0], level)
        outcome = passes_above(interval, 0.0)
        outcomes.append(outcome)
        evidence[metric] = {"llm": llm[0], "encoder": encoder[0], "interval": interval}
        excludes = {True: "excludes 0", False: "does not lie above 0", None: "is undefined"}
        parts.append(
            f"mean eval {metric} {llm[0]:.3f} (LLM) vs {encoder[0]:.3f} (encoder), "
            f"difference {describe(interval)} at level {level:g}, which {excludes[outcome]}"
        )
    weights = dict(summary.select("backbone", "weights").unique().iter_rows())
    dequantised = [b for b in llms if weights.get(b) not in (None, "original")]
    prefix = f"On {len(llms)} LLM and {len(encoders)} encoder backbone(s)"
    if dequantised:
        prefix += f" (LLM weights dequantised from GGUF: {', '.join(dequantised)})"
    verdict = combine(outcomes)
    sentence = verdict_sentence(verdict, [f"{prefix}: {parts[0]}", *parts[1:]])
    return ClaimVerdict(1, STATEMENTS[1], verdict, sentence, evidence)


def lora_tradeoff_claim(
    evaluation: pl.DataFrame, thresholds: Thresholds | None = None
) -> ClaimVerdict:
    """Test claim 2: LoRA raises separation on the trained labels but erodes base geometry.

    For each backbone with base and lora cells there are four tests. (a, b) silhouette(lora) −
    silhouette(base) on eval and on train, passing when the paired interval's lower end is
    above 0; (c) LoRA's linear CKA to base on eval, passing when its interval's upper end
    is below thresholds.eroded_below; (d) LoRA's neighbour overlap with base on eval below
    the same threshold. The CKA of soup and slerp cells is reported for comparison.
    """
    thresholds = thresholds or Thresholds()
    level = evaluation_level(evaluation)
    outcomes, parts, evidence = [], [], {}
    for backbone in sorted(set(evaluation["backbone"].to_list())):
        methods = set(evaluation.filter(pl.col("backbone") == backbone)["merge_method"].to_list())
        if not {"base", "lora"} <= methods:
            continue
        gains = {}
        for split in (PRIMARY_SPLIT, "train"):
            gains[split] = difference(
                lookup(evaluation, backbone, "lora", split, "silhouette"),
                lookup(evaluation, backbone, "base", split, "silhouette"),
                level,
            )
            outcomes.append(passes_above(gains[split], 0.0))
        cka = lookup(evaluation, backbone, "lora", PRIMARY_SPLIT, "linear_cka")
        overlap = lookup(evaluation, backbone, "lora", PRIMARY_SPLIT, "neighbour_overlap")
        cka_high = None if cka is None else cka["high"]
        overlap_value = None if overlap is None else overlap["value"]
        outcomes.append(None if cka_high is None else cka_high < thresholds.eroded_below)
        outcomes.append(None if overlap_value is None else overlap_value < thresholds.eroded_below)

        others = {}
        for method in ("soup", "slerp"):
            entry = lookup(evaluation, backbone, method, PRIMARY_SPLIT, "linear_cka")
            if entry is not None and entry["value"] is not None:
                others[method] = entry["value"]
        evidence[backbone] = {"gain": gains, "cka": cka, "overlap": overlap_value, **others}
        compared = ", ".join(f"{m} {v:.3f}" for m, v in others.items())
        parts.append(
            f"{backbone}: LoRA changes silhouette by {describe(gains[PRIMARY_SPLIT])} on eval "
            f"and {describe(gains['train'])} on train; its CKA to base is "
            f"{_value_interval(cka)} and its neighbour overlap {_number(overlap_value)}, "
            f"against the erosion threshold {thresholds.eroded_below:g}"
            + (f" ({compared})" if compared else "")
        )
    verdict = combine(outcomes)
    return ClaimVerdict(2, STATEMENTS[2], verdict, verdict_sentence(verdict, parts), evidence)


def slerp_recovery_claim(
    evaluation: pl.DataFrame, thresholds: Thresholds | None = None
) -> ClaimVerdict:
    """Test claim 3: SLERP recovers base structure, keeps most of the gain and beats soup.

    For each backbone with base, lora and slerp cells there are three tests on eval.
    (a) recovery, better than the adapter: CKA(slerp, base) − CKA(lora, base), passing when
    the paired interval's lower end is above 0; (b) most of the gain: the retained gain of
    eval silhouette, (s(slerp) − s(base)) / (s(lora) − s(base)), passing when its interval's
    lower end is at least thresholds.most_gain, undetermined when LoRA gained nothing;
    (c) better than the soup: silhouette(slerp) − silhouette(soup), passing when the paired
    interval's lower end is above 0, and undetermined without a soup cell.
    """
    thresholds = thresholds or Thresholds()
    level = evaluation_level(evaluation)
    outcomes, parts, evidence = [], [], {}
    for backbone in sorted(set(evaluation["backbone"].to_list())):
        methods = set(evaluation.filter(pl.col("backbone") == backbone)["merge_method"].to_list())
        if not {"base", "lora", "slerp"} <= methods:
            continue

        def cell(method: str, metric: str, backbone: str = backbone) -> dict | None:
            return lookup(evaluation, backbone, method, PRIMARY_SPLIT, metric)

        recovery = difference(cell("slerp", "linear_cka"), cell("lora", "linear_cka"), level)
        gain = gain_interval(evaluation, backbone, "slerp", PRIMARY_SPLIT, "silhouette", level)
        gain_outcome = None if gain.reason else gain.low >= thresholds.most_gain
        soup = None
        if "soup" in methods:
            soup = difference(cell("slerp", "silhouette"), cell("soup", "silhouette"), level)
        outcomes += [passes_above(recovery, 0.0), gain_outcome, passes_above(soup, 0.0)]
        evidence[backbone] = {"recovery": recovery, "retained_gain": gain, "versus_soup": soup}
        soup_text = (
            f"silhouette minus the soup's {describe(soup)}"
            if "soup" in methods
            else "no soup cell, so the comparison with a soup is untested"
        )
        parts.append(
            f"{backbone}: CKA to base of SLERP minus LoRA {describe(recovery)}; retained gain "
            f"of eval silhouette {_gain_text(gain)} against {thresholds.most_gain:g}; {soup_text}"
        )
    verdict = combine(outcomes)
    return ClaimVerdict(3, STATEMENTS[3], verdict, verdict_sentence(verdict, parts), evidence)


def gain_interval(
    evaluation: pl.DataFrame, backbone: str, method: str, split: str, metric: str, level: float
) -> Interval:
    """Return the retained gain of a cell with its interval from paired replicates.

    An undefined retained gain, or missing rows, give an undefined Interval with the reason.
    """
    entries = {m: lookup(evaluation, backbone, m, split, metric) for m in (method, "base", "lora")}
    values = {m: None if e is None else e["value"] for m, e in entries.items()}
    higher = bool(metric_spec(metric).higher_is_better)
    point = retained_gain_value(
        values[method], values["base"], values["lora"], higher, metric=metric
    )
    replicates = [replicates_of(e) for e in entries.values()]
    if point.value is None or any(r is None for r in replicates):
        reason = point.reason or "replicates are missing"
        return Interval(None, None, None, 0, 0, level, reason)
    return retained_gain_interval(*replicates, point, higher, level)


def retained_gain_table(
    evaluation: pl.DataFrame, metrics: Sequence[str] = GAIN_METRICS
) -> pl.DataFrame:
    """Return the retained gain of every merged cell (not base or lora), per split and metric.

    (m(method) − m(base)) / (m(lora) − m(base)), with the percentile interval over paired
    resamples. Columns backbone, merge_method, split, metric, value, low, high, reason.
    """
    level = evaluation_level(evaluation)
    rows = []
    cells = evaluation.select("backbone", "merge_method", "split").unique(maintain_order=True)
    for backbone, method, split in cells.sort("backbone", "merge_method", "split").iter_rows():
        if method in ("base", "lora"):
            continue
        for metric in metrics:
            interval = gain_interval(evaluation, backbone, method, split, metric, level)
            rows.append(
                {
                    "backbone": backbone,
                    "merge_method": method,
                    "split": split,
                    "metric": metric,
                    "value": interval.point,
                    "low": interval.low,
                    "high": interval.high,
                    "reason": interval.reason,
                }
            )
    schema = {
        "backbone": pl.Utf8,
        "merge_method": pl.Utf8,
        "split": pl.Utf8,
        "metric": pl.Utf8,
        "value": pl.Float64,
        "low": pl.Float64,
        "high": pl.Float64,
        "reason": pl.Utf8,
    }
    return pl.DataFrame(rows, schema=schema)


def evaluate_claims(
    summary: pl.DataFrame, evaluation: pl.DataFrame, thresholds: Thresholds | None = None
) -> list[ClaimVerdict]:
    """Return the verdicts on claims 1, 2 and 3, in that order."""
    return [
        llm_separation_claim(summary, evaluation),
        lora_tradeoff_claim(evaluation, thresholds),
        slerp_recovery_claim(evaluation, thresholds),
    ]


def _value_interval(entry: dict | None) -> str:
    if entry is None or entry["value"] is None:
        return "n/a"
    if entry["low"] is None:
        return f"{entry['value']:.3f}"
    return f"{entry['value']:.3f} [{entry['low']:.3f}, {entry['high']:.3f}]"


def _number(value: float | None) -> str:
    return "n/a" if value is None or not math.isfinite(value) else f"{value:.3f}"


def _gain_text(interval: Interval) -> str:
    if interval.reason is not None:
        return f"undefined ({interval.reason})"
    return f"{interval.point:.3f} [{interval.low:.3f}, {interval.high:.3f}]"
