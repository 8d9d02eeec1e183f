"""The exact blocked cosine silhouette against hand-worked values and scikit-learn."""

import tracemalloc

import numpy as np
import pytest
from sklearn.metrics import silhouette_score

from numgeom_core.errors import ConfigError, MetricError
from numgeom_core.metrics import cosine_silhouette

pytestmark = pytest.mark.filterwarnings("error")

# Unit vectors in the plane with rational dot products:
# p1 = (1, 0), p2 = (0.6, 0.8), p3 = (0, 1), p4 = (-0.6, 0.8).
# Cosine distances 1 - x·y: d12 = 0.4, d13 = 1, d14 = 1.6, d23 = 0.2, d24 = 0.72, d34 = 0.2.
P1, P2, P3, P4 = (1.0, 0.0), (0.6, 0.8), (0.0, 1.0), (-0.6, 0.8)


def random_embeddings(n: int, dim: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, dim))


def test_silhouette_of_two_orthogonal_axes_is_one():
    # Two points along x (scaled copies, so the same direction) and two along y:
    # a(i) = 0 inside each pair and b(i) = 1 - cos 90° = 1, so s(i) = (1 - 0) / 1 = 1.
    X = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0], [0.0, 3.0]])

    assert cosine_silhouette(X, ["x", "x", "y", "y"]) == pytest.approx(1.0, abs=1e-12)


def test_silhouette_of_two_plane_pairs_matches_hand_value():
    # Clusters A = {p1, p2}, B = {p3, p4}:
    # s(p1): a = 0.4, b = (1 + 1.6) / 2 = 1.3,    s = 0.9 / 1.3  = 9/13
    # s(p2): a = 0.4, b = (0.2 + 0.72) / 2 = 0.46, s = 0.06 / 0.46 = 3/23
    # s(p3): a = 0.2, b = (1 + 0.2) / 2 = 0.6,     s = 0.4 / 0.6  = 2/3
    # s(p4): a = 0.2, b = (1.6 + 0.72) / 2 = 1.16, s = 0.96 / 1.16 = 24/29
    expected = (9 / 13 + 3 / 23 + 2 / 3 + 24 / 29) / 4  # 0.57925

    X = np.array([P1, P2, P3, P4])
    value = cosine_silhouette(X, ["A", "A", "B", "B"])

    assert value == pytest.approx(expected, abs=1e-12)
    assert value == pytest.approx(silhouette_score(X, [0, 0, 1, 1], metric="cosine"), abs=1e-12)


def test_silhouette_counts_singleton_as_zero():
    # Clusters A = {p1, p2}, B = {p3}:
    # s(p1): a = 0.4, b = 1,   s = 0.6 / 1 = 0.6
    # s(p2): a = 0.4, b = 0.2, s = (0.2 - 0.4) / 0.4 = -0.5
    # s(p3) = 0 because its cluster has one member.
    expected = (0.6 - 0.5 + 0.0) / 3  # 1/30

    X = np.array([P1, P2, P3])

    assert cosine_silhouette(X, ["A", "A", "B"]) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize(
    ("n", "dim", "k", "seed"),
    [(30, 4, 2, 0), (120, 16, 5, 1), (200, 8, 40, 2), (60, 32, 59, 3), (500, 64, 8, 4)],
)
def test_silhouette_equals_scikit_learn_on_random_data(n, dim, k, seed):
    X = random_embeddings(n, dim, seed)
    rng = np.random.default_rng(seed + 100)
    # The first k rows take every label once, so all k labels occur. With k near n, many
    # clusters are singletons.
    labels = np.concatenate([np.arange(k), rng.integers(0, k, n - k)])
    rng.shuffle(labels)

    expected = silhouette_score(X, labels, metric="cosine")

    assert cosine_silhouette(X, labels, block_size=17) == pytest.approx(expected, abs=1e-9)


def test_silhouette_of_float32_matches_scikit_learn():
    X = random_embeddings(300, 24, 5).astype(np.float32)
    labels = np.arange(300) % 6
    X64 = X.astype(np.float64)

    expected = silhouette_score(X64, labels, metric="cosine")

    assert cosine_silhouette(X, labels) == pytest.approx(expected, abs=1e-9)


def test_silhouette_accepts_string_labels_in_any_order():
    X = random_embeddings(80, 6, 6)
    codes = np.arange(80) % 3
    names = np.array(["squares", "primes", "cubes"])[codes].tolist()

    assert cosine_silhouette(X, names) == pytest.approx(cosine_silhouette(X, codes), abs=1e-15)


@pytest.mark.parametrize("block_size", [1, 3, 97])
def test_silhouette_block_size_does_not_change_value(block_size):
    X = random_embeddings(97, 12, 7)
    labels = np.arange(97) % 4
    reference = cosine_silhouette(X, labels, block_size=4096)

    # Blocks change only the order of float64 additions, hence the 1e-12 tolerance.
    assert cosine_silhouette(X, labels, block_size=block_size) == pytest.approx(
        reference, abs=1e-12
    )


def test_silhouette_memory_stays_linear_in_samples():
    n, dim = 20_000, 64
    X = random_embeddings(n, dim, 8)
    labels = np.arange(n) % 8
    copy_bytes = n * dim * 8

    tracemalloc.start()
    cosine_silhouette(X, labels, block_size=4096)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    # The float64 unit-row copy (10 MB) must show up, or tracemalloc is not seeing numpy;
    # an n × n distance matrix would take n² × 8 = 3.2 GB.
    assert peak >= copy_bytes
    assert peak < 3 * copy_bytes
    assert peak < n * n * 8 / 100


def test_silhouette_block_size_bounds_working_memory():
    n, dim, k = 20_000, 16, 8
    X = random_embeddings(n, dim, 9)
    labels = np.arange(n) % k

    peaks = {}
    for block_size in (64, n):
        tracemalloc.start()
        cosine_silhouette(X, labels, block_size=block_size)
        peaks[block_size] = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()

    # One block of n rows holds several [n, k] float64 arrays; blocks of 64 rows do not.
    assert peaks[n] - peaks[64] > n * k * 8


def test_silhouette_of_identical_points_is_zero():
    # a(i) = b(i) = 0 for every point, and Rousseeuw defines s(i) = 0 when a(i) = b(i).
    X = np.tile([[0.6, 0.8]], (6, 1))
    labels = [0, 0, 0, 1, 1, 1]

    assert cosine_silhouette(X, labels) == 0.0
    assert silhouette_score(X, labels, metric="cosine") == 0.0


@pytest.mark.parametrize(
    ("labels", "message"),
    [([0, 0, 0, 0], "got 1 labels for 4 samples"), ([0, 1, 2, 3], "got 4 labels for 4 samples")],
)
def test_silhouette_rejects_invalid_label_count(labels, message):
    X = random_embeddings(4, 3, 10)

    with pytest.raises(MetricError, match=message):
        cosine_silhouette(X, labels)


def test_silhouette_rejects_mismatched_lengths():
    X = random_embeddings(10, 3, 11)

    with pytest.raises(MetricError, match="the embeddings have 10 rows, labels has 9"):
        cosine_silhouette(X, [0, 1] * 4 + [0])


def test_silhouette_rejects_non_finite_rows():
    X = random_embeddings(10, 3, 12)
    X[4, 1] = np.nan
    X[7, 0] = np.inf

    with pytest.raises(MetricError, match=r"2 of 10 rows \(first rows: \[4, 7\]\)"):
        cosine_silhouette(X, [0, 1] * 5)


def test_silhouette_rejects_zero_rows():
    X = random_embeddings(10, 3, 13)
    X[2] = 0.0

    with pytest.raises(MetricError, match=r"1 all-zero rows of 10 \(first rows: \[2\]\)"):
        cosine_silhouette(X, [0, 1] * 5)


@pytest.mark.parametrize("block_size", [0, -3, 2.5, True])
def test_silhouette_rejects_invalid_block_size(block_size):
    X = random_embeddings(10, 3, 14)

    with pytest.raises(ConfigError, match="Invalid silhouette block size"):
        cosine_silhouette(X, [0, 1] * 5, block_size=block_size)
