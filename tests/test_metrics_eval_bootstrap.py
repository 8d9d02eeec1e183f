"""Bootstrap intervals: generic statistics, the label metrics, CKA, and resample statistics."""

import itertools
import time

import numpy as np
import pytest
from sklearn.metrics import davies_bouldin_score

from numgeom_core.errors import ConfigError, MetricError
from numgeom_core.metrics import (
    BootstrapConfig,
    Interval,
    MetricsConfig,
    bootstrap_cka,
    bootstrap_interval,
    bootstrap_metric_replicates,
    bootstrap_metrics,
    compute_geometry_metrics,
    cosine_silhouette,
    knn_accuracy_loo,
    linear_cka,
    resample_indices,
)
from numgeom_core.metrics.inputs import prepare_embeddings
from numgeom_core.metrics.resampled import ResampledCka, weighted_label_statistics

pytestmark = pytest.mark.filterwarnings("error")


def family_embeddings(per_family: int, dim: int, families: int, seed: int, spread: float = 1.0):
    """Gaussian families around random centres, `spread` the noise norm relative to 1."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(families, dim)) / np.sqrt(dim)
    labels = np.repeat(np.arange(families), per_family)
    X = centres[labels] + spread * rng.normal(size=(labels.size, dim)) / np.sqrt(dim)
    return X.astype(np.float32), labels


def normal_sample(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=n)


def mean_interval(n: int, seed: int, resamples: int = 400) -> Interval:
    data = normal_sample(n, seed)
    return bootstrap_interval(lambda idx: float(data[idx].mean()), n, resamples, seed=seed)


def test_interval_of_mean_contains_point():
    interval = mean_interval(200, seed=0)

    assert interval.reason is None
    assert interval.low < interval.point < interval.high
    assert interval.resamples_used == 400
    assert interval.undefined_resamples == 0


def test_interval_narrows_like_one_over_root_n():
    small = mean_interval(100, seed=1, resamples=1000)
    large = mean_interval(1600, seed=2, resamples=1000)
    std_ratio = normal_sample(100, 1).std() / normal_sample(1600, 2).std()

    # The width is about 2 × 1.96 × std / sqrt(n), so the width ratio over the ratio of
    # sample standard deviations is about sqrt(1600 / 100) = 4. The 2.5% and 97.5% quantiles
    # of 1000 resamples still vary by a few percent, hence the tolerance.
    ratio = (small.high - small.low) / (large.high - large.low)
    assert ratio / std_ratio == pytest.approx(4.0, abs=0.6)


def test_interval_width_matches_normal_theory():
    # For the mean of n standard normals the 95% interval is about 2 × 1.96 / sqrt(n) wide.
    interval = mean_interval(400, seed=3)

    assert interval.high - interval.low == pytest.approx(2 * 1.96 / 20, rel=0.2)


def test_bootstrap_is_deterministic_for_seed():
    assert mean_interval(150, seed=4) == mean_interval(150, seed=4)


def test_bootstrap_seed_changes_resamples():
    draws = [next(resample_indices(50, 1, seed, None)) for seed in (0, 1)]

    assert not np.array_equal(*draws)


def test_undefined_resamples_are_counted_and_left_out():
    def statistic(indices):
        return None if np.count_nonzero(indices == 0) >= 2 else float(indices.mean())

    expected_undefined = sum(
        np.count_nonzero(indices == 0) >= 2 for indices in resample_indices(10, 200, 5, None)
    )

    interval = bootstrap_interval(statistic, 10, resamples=200, seed=5)

    assert 0 < expected_undefined < 100
    assert interval.undefined_resamples == expected_undefined
    assert interval.resamples_used == 200 - expected_undefined
    assert interval.reason is None


def test_interval_undefined_when_most_resamples_are():
    # Defined only without repeated indices: true for np.arange(4), and for a resample of 4
    # with probability 4! / 4^4 = 0.09, so about 91% of the resamples are undefined.
    def statistic(indices):
        return 1.0 if np.unique(indices).size == indices.size else None

    interval = bootstrap_interval(statistic, 4, resamples=100)

    assert interval.low is None
    assert interval.high is None
    assert interval.point is None
    assert interval.reason.startswith("the statistic is undefined on ")
    assert interval.undefined_resamples > 80


def test_interval_undefined_when_point_is():
    interval = bootstrap_interval(lambda idx: None, 5, resamples=10)

    assert interval.point is None
    assert "undefined on the full sample" in interval.reason
    assert interval.undefined_resamples == 10


def test_statistic_returning_nan_raises():
    with pytest.raises(MetricError, match="return None for an undefined value"):
        bootstrap_interval(lambda idx: float("nan"), 5, resamples=3)


def test_stratified_resamples_keep_every_family_size():
    labels = ["a"] * 3 + ["b"] * 5 + ["c"] * 1

    for indices in resample_indices(9, 50, 6, labels):
        drawn = np.array(labels)[indices]
        assert [np.count_nonzero(drawn == family) for family in "abc"] == [3, 5, 1]


@pytest.mark.parametrize(
    ("low", "high", "point", "reason"),
    [(0.1, None, 0.2, None), (0.3, 0.1, 0.2, None), (0.1, 0.3, 0.2, "undefined because")],
)
def test_interval_rejects_inconsistent_fields(low, high, point, reason):
    with pytest.raises(MetricError):
        Interval(low, high, point, 10, 0, 0.95, reason)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("resamples", 0, "Invalid resamples 0"),
        ("level", 1.0, "Invalid level 1.0"),
        ("level", 0, "Invalid level 0"),
        ("seed", -1, "Invalid seed -1"),
        ("stratify", 1, "Invalid stratify 1"),
        ("knn_k", 0, "Invalid knn_k 0"),
    ],
)
def test_bootstrap_config_rejects_invalid_field(field, value, message):
    with pytest.raises(ConfigError, match=message):
        BootstrapConfig(**{field: value})


def test_weighted_statistics_of_single_draws_equal_full_metrics():
    X, labels = family_embeddings(30, 16, 4, seed=7)
    X64 = prepare_embeddings(X)

    silhouette, db = weighted_label_statistics(X64, labels, 4, np.ones(120, dtype=np.int64))

    assert silhouette == pytest.approx(cosine_silhouette(X, labels), abs=1e-12)
    assert db == pytest.approx(davies_bouldin_score(X64, labels), abs=1e-10)


def test_weighted_davies_bouldin_equals_scikit_learn_on_resampled_rows():
    X, labels = family_embeddings(25, 8, 3, seed=8)
    X64 = prepare_embeddings(X)
    indices = next(resample_indices(75, 1, 9, labels))

    _, db = weighted_label_statistics(X64, labels, 3, np.bincount(indices, minlength=75))

    assert db == pytest.approx(davies_bouldin_score(X64[indices], labels[indices]), abs=1e-10)


def test_weighted_silhouette_leaves_out_copies_of_the_row():
    X, labels = family_embeddings(12, 5, 3, seed=10)
    X64 = prepare_embeddings(X)
    indices = np.random.default_rng(11).integers(0, 36, size=36)

    # s(i) of each draw, with a(i) over the own family's draws that are not copies of i.
    samples = []
    for position in indices:
        distances = 1.0 - X64[indices] @ X64[position]
        own = (labels[indices] == labels[position]) & (indices != position)
        b = min(
            distances[labels[indices] == other].mean()
            for other in set(labels[indices]) - {labels[position]}
        )
        if not own.any():
            samples.append(0.0)
            continue
        a = distances[own].mean()
        samples.append((b - a) / max(a, b))

    silhouette, _ = weighted_label_statistics(X64, labels, 3, np.bincount(indices, minlength=36))

    assert silhouette == pytest.approx(np.mean(samples), abs=1e-12)


def test_resample_missing_all_but_one_family_is_undefined():
    X, labels = family_embeddings(5, 4, 2, seed=12)
    counts = np.array([2, 1, 1, 1, 0] + [0] * 5)

    assert weighted_label_statistics(prepare_embeddings(X), labels, 2, counts) == (None, None)


def test_bootstrap_metrics_points_equal_full_sample_metrics():
    X, labels = family_embeddings(40, 24, 4, seed=13, spread=2.0)
    geometry = {v.name: v.value for v in compute_geometry_metrics(X, labels, {}, MetricsConfig())}

    intervals = bootstrap_metrics(X, labels, BootstrapConfig(resamples=50))

    assert list(intervals) == ["silhouette", "davies_bouldin", "knn_accuracy_loo"]
    assert intervals["silhouette"].point == pytest.approx(geometry["silhouette"], abs=1e-12)
    assert intervals["davies_bouldin"].point == pytest.approx(geometry["davies_bouldin"])
    assert intervals["knn_accuracy_loo"].point == knn_accuracy_loo(X, labels).value
    for interval in intervals.values():
        assert interval.reason is None
        assert interval.resamples_used == 50


def test_silhouette_interval_contains_point_on_overlapping_families():
    X, labels = family_embeddings(50, 64, 8, seed=14, spread=2.0)

    interval = bootstrap_metrics(X, labels)["silhouette"]

    assert interval.low < interval.point < interval.high


def test_bootstrap_metrics_of_one_family_are_undefined():
    X, _ = family_embeddings(20, 4, 1, seed=15)

    intervals = bootstrap_metrics(X, ["primes"] * 20, BootstrapConfig(resamples=5))

    for interval in intervals.values():
        assert "only one family label: 'primes'" in interval.reason


@pytest.mark.parametrize(
    "setting", [{"resamples": 30}, {"level": 0.5}, {"seed": 1}, {"stratify": False}, {"knn_k": 1}]
)
def test_bootstrap_config_fields_change_intervals(setting):
    X, labels = family_embeddings(15, 16, 3, seed=16, spread=3.0)
    default = bootstrap_metrics(X, labels, BootstrapConfig(resamples=40))

    changed = bootstrap_metrics(X, labels, BootstrapConfig(**{"resamples": 40, **setting}))

    assert changed != default


def test_bootstrap_replicates_are_paired_across_embedding_sets():
    X, labels = family_embeddings(20, 8, 3, seed=17, spread=2.0)
    config = BootstrapConfig(resamples=20, seed=3)

    first = bootstrap_metric_replicates(X, labels, config)
    again = bootstrap_metric_replicates(X, labels, config)

    for name in first:
        np.testing.assert_array_equal(first[name].replicates, again[name].replicates)


def test_bootstrap_metrics_defaults_run_fast_on_400_by_576():
    X, labels = family_embeddings(50, 576, 8, seed=18, spread=2.0)

    start = time.perf_counter()
    bootstrap_metrics(X, labels)
    elapsed = time.perf_counter() - start

    # 1.3 to 2.7 s for 200 resamples on 2 cores at load 8 to 10; the bound leaves room.
    assert elapsed < 10.0


def centred_grams(X: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    return Xc @ Xc.T, Yc @ Yc.T


def test_resampled_biased_cka_equals_cka_of_resampled_rows():
    rng = np.random.default_rng(19)
    X = rng.normal(size=(40, 6))
    Y = X[:, :4] + rng.normal(size=(40, 4))
    resampled = ResampledCka(*centred_grams(X, Y), unbiased=False)

    for indices in resample_indices(40, 5, 20, None):
        expected = linear_cka(X[indices], Y[indices], unbiased=False)
        assert resampled.cka(np.bincount(indices, minlength=40)) == pytest.approx(
            expected, abs=1e-10
        )


def test_resampled_unbiased_cka_of_single_draws_equals_linear_cka():
    rng = np.random.default_rng(20)
    X = rng.normal(size=(30, 5))
    Y = X[:, :3] + rng.normal(size=(30, 3))

    resampled = ResampledCka(*centred_grams(X, Y), unbiased=True)

    assert resampled.cka(np.ones(30)) == pytest.approx(linear_cka(X, Y, unbiased=True), abs=1e-10)


def test_resampled_unbiased_cka_sums_over_distinct_samples():
    # HSIC_1 = S2/N2 + S4/N4 - 2 S3/N3 with every sum over tuples of distinct samples, each
    # tuple weighted by the product of its samples' draw counts, written out in full.
    rng = np.random.default_rng(21)
    X = rng.normal(size=(7, 3))
    Y = X[:, :2] + rng.normal(size=(7, 2))
    K, L = centred_grams(X, Y)
    counts = np.array([2, 0, 1, 3, 1, 0, 0])

    def weighted_mean(order, term):
        tuples = list(itertools.permutations(range(7), order))
        weights = np.array([np.prod(counts[list(t)]) for t in tuples])
        terms = np.array([term(*t) for t in tuples])
        return np.sum(weights * terms) / np.sum(weights)

    def weighted_hsic(A, B):
        s2 = weighted_mean(2, lambda i, j: A[i, j] * B[i, j])
        s3 = weighted_mean(3, lambda i, j, q: A[i, j] * B[i, q])
        s4 = weighted_mean(4, lambda i, j, q, r: A[i, j] * B[q, r])
        return s2 + s4 - 2 * s3

    expected = weighted_hsic(K, L) / np.sqrt(weighted_hsic(K, K) * weighted_hsic(L, L))

    resampled = ResampledCka(K, L, unbiased=True)

    assert resampled.cka(counts) == pytest.approx(expected, abs=1e-10)


def test_unbiased_cka_interval_contains_point_when_width_nears_n():
    # Y = X + noise of equal variance, so the population CKA is 0.5. Resampling with copies
    # paired up would read about 0.8 here.
    rng = np.random.default_rng(22)
    X = rng.normal(size=(300, 400))
    Y = X + rng.normal(size=(300, 400))

    interval = bootstrap_cka(X, Y, resamples=100, unbiased=True)

    assert interval.point == pytest.approx(0.5, abs=0.03)
    assert interval.low < interval.point < interval.high
    assert interval.high - interval.low < 0.1


def test_cka_interval_contains_point():
    rng = np.random.default_rng(21)
    X = rng.normal(size=(300, 10))
    Y = X @ rng.normal(size=(10, 10)) + 2.0 * rng.normal(size=(300, 10))

    interval = bootstrap_cka(X, Y)

    assert interval.point == pytest.approx(linear_cka(X, Y), abs=1e-12)
    assert interval.low < interval.point < interval.high
    assert interval.low >= 0.0
    assert interval.high <= 1.0


def test_cka_interval_routes_agree():
    rng = np.random.default_rng(22)
    X = rng.normal(size=(120, 5))
    Y = X + rng.normal(size=(120, 5))

    gram = bootstrap_cka(X, Y, resamples=30, unbiased=False)
    feature = bootstrap_cka(X, Y, resamples=30, unbiased=False, gram_max_samples=10)

    assert feature.low == pytest.approx(gram.low, abs=1e-10)
    assert feature.high == pytest.approx(gram.high, abs=1e-10)


def test_cka_interval_of_constant_representation_is_undefined():
    X = np.random.default_rng(23).normal(size=(30, 3))

    interval = bootstrap_cka(X, np.ones((30, 2)), resamples=10)

    assert "all 30 rows of Y are identical" in interval.reason
