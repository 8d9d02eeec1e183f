"""Linear CKA (biased and unbiased HSIC) and the k-NN overlap of two representations."""

import logging
import tracemalloc

import numpy as np
import pytest

from numgeom_core.errors import ConfigError, MetricError
from numgeom_core.metrics import linear_cka, linear_cka_metric, neighbour_overlap

pytestmark = pytest.mark.filterwarnings("error")


def random_rotation(dim: int, seed: int) -> np.ndarray:
    Q, _ = np.linalg.qr(np.random.default_rng(seed).normal(size=(dim, dim)))
    return Q


def cka_from_definition(X: np.ndarray, Y: np.ndarray) -> float:
    """tr(K H L H) / sqrt(tr(K H K H) tr(L H L H)) with explicit n × n matrices."""
    n = X.shape[0]
    H = np.eye(n) - np.ones((n, n)) / n
    K, L = X @ X.T, Y @ Y.T

    def hsic(A, B):
        return np.trace(A @ H @ B @ H)

    return hsic(K, L) / np.sqrt(hsic(K, K) * hsic(L, L))


def unbiased_cka_from_song_formula(X: np.ndarray, Y: np.ndarray) -> float:
    """Song et al. (2012), with K̃, L̃ the Gram matrices with zero diagonals:

    HSIC_1 = [tr(K̃L̃) + 1ᵀK̃1 1ᵀL̃1 / ((n-1)(n-2)) - 2/(n-2) 1ᵀK̃L̃1] / (n(n-3)).
    """
    n = X.shape[0]
    ones = np.ones(n)

    def hsic(K, L):
        K, L = K.copy(), L.copy()
        np.fill_diagonal(K, 0.0)
        np.fill_diagonal(L, 0.0)
        middle = (ones @ K @ ones) * (ones @ L @ ones) / ((n - 1) * (n - 2))
        last = 2.0 / (n - 2) * (ones @ K @ L @ ones)
        return (np.trace(K @ L) + middle - last) / (n * (n - 3))

    K, L = X @ X.T, Y @ Y.T
    return hsic(K, L) / np.sqrt(hsic(K, K) * hsic(L, L))


@pytest.mark.parametrize("unbiased", [False, True])
def test_cka_of_representation_with_itself_is_one(unbiased):
    X = np.random.default_rng(0).normal(size=(60, 12))

    assert linear_cka(X, X, unbiased=unbiased) == pytest.approx(1.0, abs=1e-12)


@pytest.mark.parametrize("unbiased", [False, True])
def test_cka_is_one_under_rotation(unbiased):
    X = np.random.default_rng(1).normal(size=(80, 16))

    assert linear_cka(X, X @ random_rotation(16, 2), unbiased=unbiased) == pytest.approx(
        1.0, abs=1e-6
    )


@pytest.mark.parametrize("unbiased", [False, True])
def test_cka_ignores_isotropic_scaling(unbiased):
    rng = np.random.default_rng(3)
    X = rng.normal(size=(70, 10))
    Y = X[:, :6] + 0.5 * rng.normal(size=(70, 6))

    reference = linear_cka(X, Y, unbiased=unbiased)

    assert linear_cka(3.7 * X, 0.01 * Y, unbiased=unbiased) == pytest.approx(reference, abs=1e-12)
    assert linear_cka(X, 5.0 * X, unbiased=unbiased) == pytest.approx(1.0, abs=1e-12)


def test_cka_is_not_invariant_to_anisotropic_scaling():
    X = np.random.default_rng(4).normal(size=(200, 4))

    stretched = X * np.array([10.0, 1.0, 1.0, 1.0])

    assert linear_cka(X, stretched, unbiased=False) < 0.6


def test_biased_cka_of_independent_data_is_near_zero_for_large_n():
    rng = np.random.default_rng(5)
    X, Y = rng.normal(size=(5000, 8)), rng.normal(size=(5000, 8))

    # The upward bias is about sqrt(d_x d_y) / n = 8 / 5000 = 0.0016.
    assert 0.0 <= linear_cka(X, Y, unbiased=False) < 0.01


def test_unbiased_cka_of_independent_small_sample_is_near_zero():
    rng = np.random.default_rng(6)
    X, Y = rng.normal(size=(40, 20)), rng.normal(size=(40, 20))

    # With n = 40 and d = 20 the biased estimator reads about 0.3; the unbiased one does not.
    assert linear_cka(X, Y, unbiased=False) > 0.25
    assert abs(linear_cka(X, Y, unbiased=True)) < 0.1


def test_unbiased_cka_can_be_negative():
    rng = np.random.default_rng(0)
    X, Y = rng.normal(size=(40, 20)), rng.normal(size=(40, 20))

    assert -1.0 <= linear_cka(X, Y, unbiased=True) < 0.0


def test_feature_and_gram_routes_agree_with_definition():
    rng = np.random.default_rng(7)
    X = rng.normal(size=(150, 200))
    Y = X[:, :120] @ rng.normal(size=(120, 90)) + rng.normal(size=(150, 90))
    X += 3.0  # a non-zero mean, which centring must remove

    expected = cka_from_definition(X - X.mean(0), Y - Y.mean(0))
    # 150 (200 + 90) <= 200·90 + 200² + 90² picks the Gram route; gram_max_samples=1 forbids it.
    gram = linear_cka(X, Y, unbiased=False)
    feature = linear_cka(X, Y, unbiased=False, gram_max_samples=1)

    assert gram == pytest.approx(expected, abs=1e-10)
    assert feature == pytest.approx(expected, abs=1e-10)


def test_unbiased_cka_equals_song_formula():
    rng = np.random.default_rng(8)
    X = rng.normal(size=(30, 7)) + 2.0
    Y = np.tanh(X[:, :5]) + 0.3 * rng.normal(size=(30, 5))

    expected = unbiased_cka_from_song_formula(X, Y)

    assert linear_cka(X, Y, unbiased=True) == pytest.approx(expected, abs=1e-10)


def test_default_estimator_is_unbiased_up_to_5000_rows():
    rng = np.random.default_rng(9)
    X, Y = rng.normal(size=(400, 6)), rng.normal(size=(400, 6))
    X_large, Y_large = rng.normal(size=(5001, 2)), rng.normal(size=(5001, 2))

    assert linear_cka(X, Y) == linear_cka(X, Y, unbiased=True)
    assert linear_cka(X_large, Y_large) == linear_cka(X_large, Y_large, unbiased=False)


def test_unbiased_below_sets_the_switch():
    rng = np.random.default_rng(10)
    X, Y = rng.normal(size=(50, 6)), rng.normal(size=(50, 6))

    assert linear_cka(X, Y, unbiased_below=51) == linear_cka(X, Y, unbiased=True)
    assert linear_cka(X, Y, unbiased_below=50) == linear_cka(X, Y, unbiased=False)


def test_biased_cka_overstates_when_width_nears_n():
    # Independent Gaussian representations with n = 400 rows of width 576: the biased
    # estimator reads about 0.59, the unbiased one about 0.
    rng = np.random.default_rng(11)
    X, Y = rng.normal(size=(400, 576)), rng.normal(size=(400, 576))

    assert linear_cka(X, Y, unbiased=False) > 0.5
    assert abs(linear_cka(X, Y, unbiased=True)) < 0.02


def test_automatic_biased_choice_warns_for_narrow_n(caplog):
    rng = np.random.default_rng(12)
    X, Y = rng.normal(size=(50, 20)), rng.normal(size=(50, 20))

    with caplog.at_level(logging.WARNING, logger="numgeom_core.metrics.similarity"):
        linear_cka(X, Y, unbiased=False)
    assert caplog.text == ""

    with caplog.at_level(logging.WARNING, logger="numgeom_core.metrics.similarity"):
        linear_cka(X, Y, unbiased_below=10)
    assert "uses the biased HSIC estimator for n = 50 samples of width up to 20" in caplog.text


def test_cka_accepts_different_widths_and_float32():
    rng = np.random.default_rng(10)
    X = rng.normal(size=(120, 5)).astype(np.float32)
    Y = np.concatenate([X, np.zeros((120, 3), np.float32)], axis=1)

    assert linear_cka(X, Y) == pytest.approx(1.0, abs=1e-6)


def test_unbiased_cka_rejects_large_n_with_fix():
    X = np.random.default_rng(11).normal(size=(5001, 2))

    with pytest.raises(MetricError, match="more than the limit of 5000 rows: pass unbiased=False"):
        linear_cka(X, X, unbiased=True)


def test_unbiased_cka_rejects_fewer_than_four_rows():
    X = np.random.default_rng(12).normal(size=(3, 2))

    with pytest.raises(MetricError, match="needs at least 4 rows, got 3: pass unbiased=False"):
        linear_cka(X, X)


def test_cka_rejects_mismatched_rows():
    rng = np.random.default_rng(13)

    with pytest.raises(MetricError, match="X has 10 rows but Y has 9"):
        linear_cka(rng.normal(size=(10, 3)), rng.normal(size=(9, 3)))


@pytest.mark.parametrize(
    ("Y", "message"),
    [
        (np.full((10, 3), np.nan), "contains nan or inf"),
        (np.ones((10, 3), dtype=np.int64), "must be float32 or float64"),
        (np.ones(10), "must be a non-empty 2-D array"),
    ],
)
def test_cka_rejects_malformed_input(Y, message):
    X = np.random.default_rng(14).normal(size=(10, 3))

    with pytest.raises(MetricError, match=message):
        linear_cka(X, Y)


def test_cka_rejects_invalid_unbiased_setting():
    X = np.random.default_rng(15).normal(size=(10, 3))

    with pytest.raises(ConfigError, match="Invalid unbiased 'yes'"):
        linear_cka(X, X, unbiased="yes")


def test_cka_of_identical_rows_is_undefined():
    X = np.random.default_rng(16).normal(size=(20, 3))
    constant = np.tile([[0.6, 0.8, 0.0]], (20, 1))

    with pytest.raises(MetricError, match="all 20 rows of Y are identical"):
        linear_cka(X, constant)
    value = linear_cka_metric(X, constant)
    assert value.name == "linear_cka"
    assert value.value is None
    assert "all 20 rows of Y are identical" in value.reason


def test_cka_metric_wraps_value():
    X = np.random.default_rng(17).normal(size=(20, 3))

    assert linear_cka_metric(X, 2.0 * X).value == pytest.approx(1.0)


def test_feature_route_memory_stays_linear_in_samples():
    n = 20_000
    rng = np.random.default_rng(18)
    X, Y = rng.normal(size=(n, 32)), rng.normal(size=(n, 24))

    tracemalloc.start()
    linear_cka(X, Y, unbiased=False)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    # Two centred float64 copies take 9 MB; one n × n Gram matrix would take 3.2 GB.
    assert peak < 5 * n * (32 + 24) * 8
    assert peak < n * n * 8 / 100


def test_overlap_of_representation_with_itself_is_one():
    X = np.random.default_rng(19).normal(size=(300, 8))

    assert neighbour_overlap(X, X, k=10) == 1.0


def test_overlap_is_invariant_to_rotation_and_scale():
    X = np.random.default_rng(20).normal(size=(300, 8))

    assert neighbour_overlap(X, 4.0 * X @ random_rotation(8, 21), k=10) == 1.0


def test_overlap_with_shuffled_rows_is_near_chance():
    rng = np.random.default_rng(22)
    X = rng.normal(size=(2000, 8))

    value = neighbour_overlap(X, X[rng.permutation(2000)], k=10)

    # Unrelated neighbour sets share k² / (n - 1) = 0.05 of k = 10 rows: overlap 0.005.
    assert value < 0.02


def test_overlap_matches_hand_worked_circle():
    # k = 1 on the unit circle. In X (0°, 10°, 50°, 60°) the nearest rows are 1, 0, 3, 2.
    # In Y row 2 moves to 15°: nearest rows 1, 2, 1, 2. Rows 0 and 3 agree: overlap 2/4.
    def on_circle(degrees):
        radians = np.deg2rad(degrees)
        return np.stack([np.cos(radians), np.sin(radians)], axis=1)

    X = on_circle([0, 10, 50, 60])
    Y = on_circle([0, 10, 15, 60])

    assert neighbour_overlap(X, Y, k=1) == pytest.approx(0.5)


def test_overlap_block_size_does_not_change_value():
    rng = np.random.default_rng(23)
    X = rng.normal(size=(150, 6))
    Y = X + 0.5 * rng.normal(size=(150, 6))

    assert neighbour_overlap(X, Y, k=7, block_size=11) == neighbour_overlap(X, Y, k=7)


def test_overlap_memory_stays_below_distance_matrix():
    n = 5_000
    rng = np.random.default_rng(24)
    X = rng.normal(size=(n, 16))

    tracemalloc.start()
    neighbour_overlap(X, X, k=5, block_size=64)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()

    # Two unit-row copies (1.3 MB) and a few 64 × n arrays (2.6 MB each): about 7 MB.
    # One n × n similarity matrix would take 200 MB.
    assert peak < n * n * 8 / 20


def test_overlap_rejects_k_beyond_rows():
    X = np.random.default_rng(25).normal(size=(5, 3))

    with pytest.raises(MetricError, match="k = 5 neighbours need at least k \\+ 1 = 6 rows"):
        neighbour_overlap(X, X, k=5)


def test_overlap_rejects_mismatched_rows():
    rng = np.random.default_rng(26)

    with pytest.raises(MetricError, match="X has 8 rows but Y has 7"):
        neighbour_overlap(rng.normal(size=(8, 3)), rng.normal(size=(7, 3)), k=2)
