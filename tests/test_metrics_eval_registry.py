"""Registry entries of the evaluation metrics, and the cosine silhouette at 50,000 rows."""

import math
import tracemalloc

import numpy as np
import pytest

from numgeom_core.metrics import (
    EVALUATION_METRICS,
    METRICS,
    cosine_silhouette,
    knn_accuracy_cv,
    linear_cka_metric,
    linear_probe,
    metric_spec,
    retained_gain,
)

pytestmark = pytest.mark.filterwarnings("error")


@pytest.mark.parametrize(
    ("name", "valid_range", "higher_is_better", "cited"),
    [
        ("knn_accuracy", (0.0, 1.0), True, "Cover"),
        ("knn_accuracy_loo", (0.0, 1.0), True, "Cover"),
        ("probe_accuracy", (0.0, 1.0), True, "Alain"),
        ("linear_cka", (-1.0, 1.0), None, "arXiv:1905.00414"),
        ("neighbour_overlap", (0.0, 1.0), None, "arXiv:2405.07987"),
        ("retained_gain", (-math.inf, math.inf), True, "numgeom"),
    ],
)
def test_evaluation_metric_is_registered(name, valid_range, higher_is_better, cited):
    spec = metric_spec(name)

    assert spec is EVALUATION_METRICS[name]
    assert spec.valid_range == valid_range
    assert spec.higher_is_better is higher_is_better
    assert cited in spec.reference


def test_geometry_registry_is_unchanged():
    assert list(METRICS) == [
        "silhouette",
        "davies_bouldin",
        "calinski_harabasz",
        "kmeans_ari",
        "kmeans_nmi",
    ]
    assert not set(METRICS) & set(EVALUATION_METRICS)


def test_computed_evaluation_values_lie_in_valid_range():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 6))
    labels = np.arange(120) % 3

    values = [
        knn_accuracy_cv(X, labels),
        linear_probe(X[:80], labels[:80], X[80:], labels[80:]),
        linear_cka_metric(X, rng.normal(size=(120, 4)), unbiased=True),
        retained_gain(0.1, 0.2, 0.6, True),
    ]

    for value in values:
        low, high = metric_spec(value.name).valid_range
        assert low <= value.value <= high, value.name


def test_silhouette_of_50000_rows_needs_no_distance_matrix():
    n = 50_000
    rng = np.random.default_rng(1)
    X = rng.normal(size=(n, 32))
    labels = np.arange(n) % 8

    tracemalloc.start()
    value = cosine_silhouette(X, labels)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    # n² bytes is 2.5 GB (n² float64 distances 20 GB). The float64 unit-row copy is 12.8 MB.
    assert -1.0 <= value <= 1.0
    assert peak < 4 * n * 32 * 8
    assert peak < n * n / 100
