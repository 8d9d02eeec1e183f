"""Evaluation of one embedding set per split: how well the family labels can be predicted,
how similar the embeddings are to the base model's, bootstrap intervals, and what k-means
clusters encode besides the family.

Every result is a row dict with the keys of EVALUATION_COLUMNS. A bootstrapped metric also
carries its replicates (one value per resample, nan where undefined). The resamples depend
only on the seed, the family labels and n, so the replicates of two embedding sets of the
same samples are paired, and differences or retained gains between models get exact
percentile intervals from them.
"""

import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import polars as pl
from sklearn.cluster import KMeans
from threadpoolctl import threadpool_limits

from numgeom_core.errors import ConfigError
from numgeom_core.metrics import (
    BootstrapConfig,
    MetricsConfig,
    bootstrap_metric_replicates,
    cluster_attribute_contingency,
    interval_from_replicates,
    knn_accuracy_cv,
    linear_probe,
    neighbour_overlap,
    nmi_per_attribute,
)
from numgeom_core.metrics.bootstrap import RESAMPLE_BLAS_THREADS, bootstrap_replicates
from numgeom_core.metrics.inputs import count_distinct_rows_up_to, prepare_embeddings
from numgeom_core.metrics.resampled import ResampledCka
from numgeom_core.metrics.similarity import (
    GRAM_MAX_SAMPLES,
    UNBIASED_BELOW_SAMPLES,
    centred_representations,
    choose_unbiased,
    cka_or_reason,
    feature_cka,
)

logger = logging.getLogger(__name__)

EVALUATION_COLUMNS = ("split", "metric", "value", "low", "high", "level", "reason", "replicates")


@dataclass(frozen=True)
class EvaluationConfig:
    """Settings of `evaluate_split`.

    knn_k: neighbours of the k-NN accuracies (cross-validated and leave-one-out).
    folds: folds of the cross-validated k-NN accuracy.
    probe_c: inverse L2 strength of the logistic-regression probe.
    probe_max_iter: lbfgs iterations of the probe.
    overlap_k: neighbours compared by the neighbour overlap with the base embeddings.
    bootstrap: resamples, level and seed of the intervals. Its knn_k is set to knn_k.
    kmeans: k-means settings, the same as the geometry metrics use, so the clusters match.
    """

    knn_k: int = 5
    folds: int = 5
    probe_c: float = 1.0
    probe_max_iter: int = 1000
    overlap_k: int = 10
    bootstrap: BootstrapConfig = field(default_factory=BootstrapConfig)
    kmeans: MetricsConfig = field(default_factory=MetricsConfig)

    def __post_init__(self) -> None:
        for name in ("knn_k", "folds", "probe_max_iter", "overlap_k"):
            value = getattr(self, name)
            lowest = 2 if name == "folds" else 1
            if isinstance(value, bool) or not isinstance(value, int) or value < lowest:
                raise ConfigError(f"Invalid {name} {value!r}: expected an int >= {lowest}.")
        c = self.probe_c
        if (
            isinstance(c, bool)
            or not isinstance(c, int | float)
            or not (math.isfinite(c) and c > 0)
        ):
            raise ConfigError(f"Invalid probe_c {c!r}: expected a finite float > 0 (default 1.0).")
        if self.bootstrap.knn_k != self.knn_k:
            raise ConfigError(
                f"bootstrap.knn_k = {self.bootstrap.knn_k} differs from knn_k = {self.knn_k}: "
                "build the BootstrapConfig with knn_k equal to knn_k."
            )


def row(
    split: str,
    metric: str,
    value: float | None,
    reason: str | None = None,
    interval: object | None = None,
    replicates: np.ndarray | None = None,
) -> dict:
    """Return one result row; `interval` is a bootstrap Interval or None for no interval."""
    low = high = level = None
    if interval is not None and interval.reason is None:
        low, high, level = interval.low, interval.high, interval.level
    return {
        "split": split,
        "metric": metric,
        "value": value,
        "low": low,
        "high": high,
        "level": level,
        "reason": reason,
        "replicates": None if replicates is None else [float(v) for v in replicates],
    }


def evaluate_split(
    split: str,
    X: np.ndarray,
    X_base: np.ndarray,
    labels: Sequence,
    config: EvaluationConfig,
) -> list[dict]:
    """Compute the classification, similarity and bootstrapped metrics of one split.

    X, X_base: embeddings [n, d] and [n, d_base] of the same n samples, row by row, by the
    evaluated model and by the base model. labels: family labels [n]. Returns rows for
    knn_accuracy (cross-validated, no interval), silhouette, davies_bouldin and
    knn_accuracy_loo (bootstrap interval and replicates), linear_cka to base (unbiased
    estimator up to 5000 rows, interval and replicates) and neighbour_overlap with base.
    """
    knn = knn_accuracy_cv(X, labels, config.knn_k, config.folds, config.bootstrap.seed)
    rows = [row(split, "knn_accuracy", knn.value, knn.reason)]

    for name, result in bootstrap_metric_replicates(X, labels, config.bootstrap).items():
        interval = interval_from_replicates(
            result.replicates, result.point.value, config.bootstrap.level, result.point.reason
        )
        rows.append(
            row(split, name, result.point.value, result.point.reason, interval, result.replicates)
        )

    point, reason, replicates = cka_replicates(X, X_base, labels, config.bootstrap)
    interval = interval_from_replicates(replicates, point, config.bootstrap.level, reason)
    rows.append(row(split, "linear_cka", point, reason, interval, replicates))

    n_samples = X.shape[0]
    if config.overlap_k > n_samples - 1:
        reason = f"overlap_k = {config.overlap_k} needs more than the {n_samples} samples"
        rows.append(row(split, "neighbour_overlap", None, reason))
    else:
        overlap = neighbour_overlap(X, X_base, config.overlap_k)
        rows.append(row(split, "neighbour_overlap", overlap))
    return rows


def cka_replicates(
    X: np.ndarray, Y: np.ndarray, labels: Sequence, config: BootstrapConfig
) -> tuple[float | None, str | None, np.ndarray]:
    """Return linear CKA of X and Y, its reason if undefined, and its replicates [resamples].

    The estimator and the resamples are those of `bootstrap_cka` with stratify=labels (when
    config.stratify), so the interval from these replicates equals bootstrap_cka's. The
    replicates are kept here because bootstrap_cka returns only the interval.
    """
    point, reason = cka_or_reason(X, Y, None, UNBIASED_BELOW_SAMPLES, GRAM_MAX_SAMPLES)
    Xc, Yc = centred_representations(X, Y)
    n_samples = Xc.shape[0]
    use_unbiased = choose_unbiased(n_samples, None, UNBIASED_BELOW_SAMPLES)
    stratify = labels if config.stratify else None
    if point is None:
        return None, reason, np.full(config.resamples, np.nan)

    gram_route = use_unbiased or n_samples <= GRAM_MAX_SAMPLES
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

    with threadpool_limits(RESAMPLE_BLAS_THREADS if gram_route else None):
        replicates = bootstrap_replicates(
            statistic, n_samples, config.resamples, config.seed, stratify
        )
    return point, None, replicates


def probe_rows(
    split: str,
    X_train: np.ndarray | None,
    train_labels: Sequence | None,
    X: np.ndarray,
    labels: Sequence,
    config: EvaluationConfig,
) -> list[dict]:
    """Return the probe_accuracy row of a split: trained on the train split, scored on this one.

    The train split's own row is undefined with a reason, because accuracy on the probe's
    training rows measures fit, not generalisation. So is every row when there is no train
    split (X_train None).
    """
    if split == "train":
        reason = "the probe is trained on this split, so its accuracy here would measure fit"
        return [row(split, "probe_accuracy", None, reason)]
    if X_train is None or train_labels is None:
        reason = "the dataset has no train split to train the probe on"
        return [row(split, "probe_accuracy", None, reason)]
    probe = linear_probe(X_train, train_labels, X, labels, config.probe_c, config.probe_max_iter)
    return [row(split, "probe_accuracy", probe.value, probe.reason)]


def kmeans_clusters(X: np.ndarray, k: int, config: MetricsConfig) -> tuple[np.ndarray | None, str]:
    """Cluster unit rows of X [n, d] into k clusters as `compute_geometry_metrics` does.

    Returns (cluster labels [n], "") or (None, reason) when X has fewer than k distinct rows.
    The call matches kmeans_agreement's (same normalisation, k, n_init, max_iter and seed),
    so these are the clusters behind geometry_metrics' kmeans_nmi values.
    """
    X64 = prepare_embeddings(X)
    n_distinct = count_distinct_rows_up_to(X64, k)
    if n_distinct < k:
        reason = (
            f"k-means needs {k} clusters but the embeddings contain {n_distinct} distinct points"
        )
        return None, reason
    kmeans = KMeans(
        n_clusters=k,
        n_init=config.kmeans_n_init,
        max_iter=config.kmeans_max_iter,
        random_state=config.seed,
    )
    return kmeans.fit_predict(X64), ""


def contingency_rows(
    split: str,
    X: np.ndarray,
    labels: Sequence,
    attributes: Mapping[str, Sequence],
    config: EvaluationConfig,
) -> tuple[list[dict], dict[str, pl.DataFrame]]:
    """Return kmeans_nmi_<attribute> rows and the cluster × attribute contingency tables.

    k is the number of distinct family labels. With fewer than 2 labels, or too few
    distinct points, the rows are undefined with the reason and no table is returned.
    """
    k = len(set(labels))
    names = [f"kmeans_nmi_{attribute}" for attribute in attributes]
    if k < 2:
        reason = "fewer than 2 family labels, so there is no k-means clustering to compare"
        return [row(split, name, None, reason) for name in names], {}
    clusters, reason = kmeans_clusters(X, k, config.kmeans)
    if clusters is None:
        return [row(split, name, None, reason) for name in names], {}

    cluster_list = clusters.tolist()
    rows = [
        row(split, value.name, value.value, value.reason)
        for value in nmi_per_attribute(cluster_list, attributes)
    ]
    tables = {
        attribute: cluster_attribute_contingency(cluster_list, values)
        for attribute, values in attributes.items()
    }
    return rows, tables
