"""Percentile bootstrap intervals of the metrics, over resampled samples.

Each resample draws n sample indices with replacement, within each family label when
stratified, so every family keeps its size. The statistic is recomputed on every resample,
and the interval runs between the (1 - level) / 2 and (1 + level) / 2 quantiles of the
defined values. Reference: Efron, B. and Tibshirani, R. J. (1993). An Introduction to the
Bootstrap. Chapman & Hall, chapter 13 (the percentile interval).

The percentile interval does not correct bias. Where resampling shifts a statistic by more
than its spread, the interval can miss the full-sample value. For example, Davies-Bouldin on
50 rows per family in 576 dimensions comes out about 1% lower on resamples, because each
resampled centroid sits closer to the duplicated rows. That shift exceeds the interval's
half-width.
"""

import logging
import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from numgeom_core.errors import ConfigError, MetricError
from numgeom_core.metrics.classification import (
    LeaveOneOutKnn,
    loo_undefined_reason,
    validate_seed,
)
from numgeom_core.metrics.geometry import label_metrics
from numgeom_core.metrics.inputs import check_lengths, encode_labels, prepare_embeddings
from numgeom_core.metrics.neighbours import validate_positive_int
from numgeom_core.metrics.registry import MetricValue
from numgeom_core.metrics.resampled import ResampledCka, weighted_label_statistics
from numgeom_core.metrics.similarity import (
    GRAM_MAX_SAMPLES,
    UNBIASED_BELOW_SAMPLES,
    centred_representations,
    choose_unbiased,
    cka_or_reason,
    feature_cka,
)

logger = logging.getLogger(__name__)

BLOCK_SIZE = 4096
# Each resample runs matrix products of a few million multiply-adds, too small to gain from
# BLAS threads. On a busy 2-core machine (load 8 to 10) the threads' waiting made 200
# resamples of 400 × 576 take 9 to 14 s against 1.4 to 2.2 s single-threaded, so the
# resample loops run single-threaded. threadpoolctl is a dependency of scikit-learn.
RESAMPLE_BLAS_THREADS = 1
BOOTSTRAPPED_METRICS = ("silhouette", "davies_bouldin", "knn_accuracy_loo")


@dataclass(frozen=True)
class Interval:
    """Bootstrap interval [low, high] of a statistic whose full-sample value is `point`.

    A percentile interval need not contain the point (see the module docstring).
    resamples_used: resamples whose statistic was defined, from which the quantiles come.
    undefined_resamples: resamples whose statistic was undefined, left out.
    level: nominal coverage, for example 0.95.
    reason: None for a defined interval. Otherwise low, high and point are None and the
        reason explains why: the statistic is undefined on the full sample, or on more than half
        of the resamples.
    """

    low: float | None
    high: float | None
    point: float | None
    resamples_used: int
    undefined_resamples: int
    level: float
    reason: str | None = None

    def __post_init__(self) -> None:
        bounds = (self.low, self.high, self.point)
        if self.reason is None:
            if any(value is None or not math.isfinite(value) for value in bounds):
                raise MetricError(
                    f"A defined interval needs finite low, high and point, got {bounds!r}: "
                    "pass a reason for an undefined interval."
                )
            if self.low > self.high:
                raise MetricError(f"Interval low {self.low} exceeds high {self.high}.")
        elif any(value is not None for value in bounds):
            raise MetricError(
                f"An undefined interval (reason {self.reason!r}) must have low, high and point "
                f"None, got {bounds!r}."
            )


@dataclass(frozen=True)
class BootstrapConfig:
    """Settings of `bootstrap_metrics`.

    resamples: number of bootstrap resamples. The quantile error shrinks like 1/sqrt of it.
    level: nominal coverage of the interval, in (0, 1).
    seed: seed of the numpy Generator that draws the resamples. Equal seeds, labels and n
        draw equal resamples, so metrics of several models of the same samples are paired.
    stratify: resample within each family label, which keeps every family and its size.
    knn_k: neighbours in the leave-one-out k-NN accuracy.
    """

    resamples: int = 200
    level: float = 0.95
    seed: int = 0
    stratify: bool = True
    knn_k: int = 5

    def __post_init__(self) -> None:
        validate_positive_int(self.resamples, "resamples", 200)
        validate_level(self.level)
        validate_seed(self.seed)
        if not isinstance(self.stratify, bool):
            raise ConfigError(f"Invalid stratify {self.stratify!r}: expected True or False.")
        validate_positive_int(self.knn_k, "knn_k", 5)


@dataclass(frozen=True)
class MetricReplicates:
    """A metric's full-sample value and its value on each resample (nan where undefined)."""

    point: MetricValue
    replicates: np.ndarray  # [resamples], float64


def validate_level(level: object) -> float:
    """Return `level` if it is a float in (0, 1); raise ConfigError otherwise."""
    if isinstance(level, bool) or not isinstance(level, int | float) or not 0 < level < 1:
        raise ConfigError(f"Invalid level {level!r}: expected a float in (0, 1), such as 0.95.")
    return float(level)


def resample_indices(
    n: int, resamples: int, seed: int, stratify: Sequence | None
) -> Iterator[np.ndarray]:
    """Yield `resamples` index arrays [n], drawn with replacement by a Generator from `seed`.

    With `stratify` (n labels), each label's indices are drawn from that label's own indices,
    as many as it has, and the arrays list the labels in order of first appearance.
    """
    rng = np.random.default_rng(seed)
    if stratify is None:
        for _ in range(resamples):
            yield rng.integers(0, n, size=n)
        return
    check_lengths(n, stratify)
    codes, _ = encode_labels(stratify, "stratify label")
    groups = [np.flatnonzero(codes == code) for code in range(codes.max() + 1)]
    for _ in range(resamples):
        yield np.concatenate([group[rng.integers(0, group.size, group.size)] for group in groups])


def bootstrap_replicates(
    statistic: Callable[[np.ndarray], float | None],
    n: int,
    resamples: int = 200,
    seed: int = 0,
    stratify: Sequence | None = None,
) -> np.ndarray:
    """Return the statistic on each resample, [resamples] float64, with nan where it is None.

    `statistic` receives an index array [n] into the samples and returns a finite float, or
    None where it is undefined. Raises MetricError if it returns nan or inf.
    """
    n = validate_positive_int(n, "n", 1)
    resamples = validate_positive_int(resamples, "resamples", 200)
    seed = validate_seed(seed)
    values = np.full(resamples, np.nan)  # [resamples]
    for position, indices in enumerate(resample_indices(n, resamples, seed, stratify)):
        value = statistic(indices)
        if value is None:
            continue
        if not math.isfinite(value):
            raise MetricError(
                f"The statistic returned {value!r} on resample {position}: return None for "
                "an undefined value, never nan or inf."
            )
        values[position] = float(value)
    return values


def interval_from_replicates(
    replicates: np.ndarray,
    point: float | None,
    level: float,
    point_reason: str | None = None,
) -> Interval:
    """Build the percentile interval from replicates [resamples], nan marking undefined ones.

    Undefined when `point` is None (with `point_reason`) or more than half are undefined.
    """
    level = validate_level(level)
    defined = replicates[~np.isnan(replicates)]
    used, undefined = int(defined.size), int(replicates.size - defined.size)
    if point is None:
        reason = f"undefined on the full sample: {point_reason or 'no reason given'}"
        return Interval(None, None, None, used, undefined, level, reason)
    if undefined * 2 > replicates.size:
        reason = f"the statistic is undefined on {undefined} of {replicates.size} resamples"
        return Interval(None, None, None, used, undefined, level, reason)
    if undefined:
        logger.info("Bootstrap left out %d undefined resamples of %d", undefined, replicates.size)
    low, high = np.quantile(defined, [(1 - level) / 2, (1 + level) / 2])
    return Interval(float(low), float(high), float(point), used, undefined, level)


def bootstrap_interval(
    statistic: Callable[[np.ndarray], float | None],
    n: int,
    resamples: int = 200,
    level: float = 0.95,
    seed: int = 0,
    stratify: Sequence | None = None,
) -> Interval:
    """Compute a percentile bootstrap interval of `statistic` over n samples.

    `statistic` receives an index array [n] (np.arange(n) for the point estimate, a
    resample drawn with replacement otherwise) and returns a finite float or None where it
    is undefined. Undefined resamples are counted and left out. The interval is undefined
    when the point estimate is, or when more than half of the resamples are.
    """
    level = validate_level(level)
    n = validate_positive_int(n, "n", 1)
    point = statistic(np.arange(n))
    if point is not None and not math.isfinite(point):
        raise MetricError(
            f"The statistic returned {point!r} on the full sample: return None for an "
            "undefined value, never nan or inf."
        )
    replicates = bootstrap_replicates(statistic, n, resamples, seed, stratify)
    point_reason = "the statistic returned None for np.arange(n)"
    return interval_from_replicates(
        replicates, None if point is None else float(point), level, point_reason
    )


def bootstrap_metric_replicates(
    X: np.ndarray, labels: Sequence, config: BootstrapConfig
) -> dict[str, MetricReplicates]:
    """Compute silhouette, davies_bouldin and knn_accuracy_loo on X [n, d] and its resamples.

    Davies-Bouldin is computed on the resampled rows as they are. The silhouette and the
    leave-one-out k-NN accuracy leave out the copies of the row being scored, so a drawn
    row is never its own neighbour (see `weighted_label_statistics` and `LeaveOneOutKnn`).
    Returns, per metric, the full-sample value and the replicates. Resamples drawn with
    equal config, labels and n are identical, which pairs the replicates of different
    embedding sets of the same samples.
    """
    X64 = prepare_embeddings(X)
    n_samples = X64.shape[0]
    check_lengths(n_samples, labels)
    codes, classes = encode_labels(labels, "family label")

    knn = None
    knn_reason = loo_undefined_reason(n_samples, classes, config.knn_k)
    if knn_reason is None:
        knn = LeaveOneOutKnn(X64, codes, len(classes), config.knn_k, BLOCK_SIZE)
        knn_point = MetricValue("knn_accuracy_loo", knn.accuracy(np.ones(n_samples, int)), None)
    else:
        knn_point = MetricValue("knn_accuracy_loo", None, knn_reason)
    if len(classes) < 2:
        reason = f"only one family label: {classes[0]!r}"
        points = [MetricValue(name, None, reason) for name in BOOTSTRAPPED_METRICS[:2]]
    else:
        points = label_metrics(X64, codes, classes, BLOCK_SIZE)[:2]
    points.append(knn_point)

    replicates = np.full((config.resamples, len(points)), np.nan)  # [resamples, metric]
    stratify = codes if config.stratify else None
    draws = resample_indices(n_samples, config.resamples, config.seed, stratify)
    with threadpool_limits(RESAMPLE_BLAS_THREADS):
        for position, indices in enumerate(draws):
            counts = np.bincount(indices, minlength=n_samples)  # [n]
            silhouette, db = weighted_label_statistics(X64, codes, len(classes), counts)
            families_drawn = np.unique(codes[counts > 0]).size
            defined = knn is not None and families_drawn >= 2
            accuracy = knn.accuracy(counts) if defined else None
            replicates[position] = [
                math.nan if value is None else value for value in (silhouette, db, accuracy)
            ]
    return {
        point.name: MetricReplicates(point, replicates[:, column])
        for column, point in enumerate(points)
    }


def bootstrap_metrics(
    X: np.ndarray, labels: Sequence, config: BootstrapConfig | None = None
) -> dict[str, Interval]:
    """Compute bootstrap intervals of silhouette, davies_bouldin and knn_accuracy_loo.

    X: embeddings [n, d], rows re-normalised to unit length. labels: family labels [n].
    See `bootstrap_metric_replicates` for the statistics. The knn interval is of the
    leave-one-out accuracy, whose full-sample value is close to, but not equal to, the
    cross-validated knn_accuracy.
    """
    config = config or BootstrapConfig()
    results = bootstrap_metric_replicates(X, labels, config)
    return {
        name: interval_from_replicates(
            result.replicates, result.point.value, config.level, result.point.reason
        )
        for name, result in results.items()
    }


def bootstrap_cka(
    X: np.ndarray,
    Y: np.ndarray,
    resamples: int = 200,
    level: float = 0.95,
    seed: int = 0,
    stratify: Sequence | None = None,
    unbiased: bool | None = None,
    *,
    unbiased_below: int = UNBIASED_BELOW_SAMPLES,
    gram_max_samples: int = GRAM_MAX_SAMPLES,
) -> Interval:
    """Compute a bootstrap interval of `linear_cka(X, Y)`, resampling rows of X and Y jointly.

    The estimator is chosen once, from the full n, as in `linear_cka`. The unbiased one is
    evaluated on each resample over distinct samples only (see `ResampledCka`), so copies of
    a sample never pair up. Up to gram_max_samples rows, and always for the unbiased
    estimator, five n × n float64 matrices are built once (1 GB at n = 5000), and a resample
    costs a few n × n matrix-vector products. Beyond, each resample costs O(n · d²) through
    the feature-space formula on the copied rows.

    NOTE: the biased estimator reads higher on resamples than on the full sample, because
    copies act like extra diagonal pairs, which it counts. With n near the width the whole
    interval can lie above the point (n = 400, d = 576: point 0.79, interval 0.86 to 0.88).
    The unbiased estimator is free of this.
    """
    level = validate_level(level)
    point, reason = cka_or_reason(X, Y, unbiased, unbiased_below, gram_max_samples)
    Xc, Yc = centred_representations(X, Y)
    n_samples = Xc.shape[0]
    use_unbiased = choose_unbiased(n_samples, unbiased, unbiased_below)

    gram_route = use_unbiased or n_samples <= gram_max_samples
    if gram_route:
        resampled = ResampledCka(Xc @ Xc.T, Yc @ Yc.T, use_unbiased)

        def statistic(indices: np.ndarray) -> float | None:
            return resampled.cka(np.bincount(indices, minlength=n_samples))

    else:

        def statistic(indices: np.ndarray) -> float | None:
            X_resample = Xc[indices] - Xc[indices].mean(axis=0)  # [n, d_x]
            Y_resample = Yc[indices] - Yc[indices].mean(axis=0)  # [n, d_y]
            if not X_resample.any() or not Y_resample.any():
                return None
            return feature_cka(X_resample, Y_resample)

    # The feature route's n × d products are large enough to use every BLAS thread.
    with threadpool_limits(RESAMPLE_BLAS_THREADS if gram_route else None):
        replicates = bootstrap_replicates(statistic, n_samples, resamples, seed, stratify)
    return interval_from_replicates(replicates, point, level, reason)
