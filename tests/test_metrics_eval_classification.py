"""k-NN accuracy (cross-validated and leave-one-out) and the linear probe."""

import logging
import math

import numpy as np
import pytest

from numgeom_core.errors import ConfigError, MetricError
from numgeom_core.metrics import knn_accuracy_cv, knn_accuracy_loo, linear_probe
from numgeom_core.metrics.classification import LeaveOneOutKnn
from numgeom_core.metrics.inputs import prepare_embeddings
from numgeom_core.metrics.neighbours import vote

pytestmark = pytest.mark.filterwarnings("error")


def separated_families(per_family: int, seed: int, noise: float = 0.05) -> tuple:
    """Four families of unit vectors close to the first four coordinate axes of R^6."""
    rng = np.random.default_rng(seed)
    axes = np.eye(6)[:4]
    X = np.repeat(axes, per_family, axis=0) + noise * rng.normal(size=(4 * per_family, 6))
    labels = np.repeat(["primes", "squares", "cubes", "control"], per_family)
    return X, labels


def on_circle(degrees: list[float]) -> np.ndarray:
    radians = np.deg2rad(degrees)
    return np.stack([np.cos(radians), np.sin(radians)], axis=1)


def brute_force_loo_accuracy(X: np.ndarray, codes: np.ndarray, indices: np.ndarray, k: int):
    """Leave-one-out k-NN on the rows X[indices], skipping every copy of the row classified."""
    X_resample = prepare_embeddings(X)[indices]
    codes_resample = codes[indices]
    correct = 0
    for position in range(indices.size):
        similarities = X_resample @ X_resample[position]
        similarities[indices == indices[position]] = -np.inf
        nearest = np.argsort(-similarities, kind="stable")[:k]
        counts = np.bincount(codes_resample[nearest], minlength=codes.max() + 1)
        tied = np.flatnonzero(counts == counts.max())
        predicted = next(c for c in codes_resample[nearest] if c in tied)
        correct += predicted == codes_resample[position]
    return correct / indices.size


def test_knn_of_separated_families_is_one():
    X, labels = separated_families(20, seed=0)

    value = knn_accuracy_cv(X, labels, k=5, folds=5, seed=0)

    assert value.name == "knn_accuracy"
    assert value.value == 1.0


def test_knn_of_random_labels_is_near_chance():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(400, 16))
    labels = rng.integers(0, 4, size=400)

    value = knn_accuracy_cv(X, labels).value

    # Chance is 1/4. The standard error of an accuracy over 400 rows is about 0.022.
    assert abs(value - 0.25) < 0.08


def test_vote_takes_majority():
    codes = np.array([[0, 1, 1]])

    assert vote(codes, np.ones((1, 3)), n_classes=2).tolist() == [1]


def test_vote_tie_goes_to_nearest_neighbour():
    # Classes 1 and 0 each get one vote, and the nearest neighbour is of class 1.
    codes = np.array([[1, 0], [0, 1]])

    assert vote(codes, np.ones((2, 2)), n_classes=2).tolist() == [1, 0]


def test_vote_counts_weights_and_skips_zero_weight_nearest():
    # Row 0: class 0 has weight 1, class 1 weight 2, so class 1 wins although 0 is nearest.
    # Row 1: the nearest neighbour casts no vote, classes 1 and 2 tie at 1, and 1 is nearer.
    codes = np.array([[0, 1, 2], [0, 1, 2]])
    weights = np.array([[1.0, 2.0, 0.0], [0.0, 1.0, 1.0]])

    assert vote(codes, weights, n_classes=3).tolist() == [1, 1]


def test_loo_knn_matches_hand_worked_circle():
    # A at 0° and 20°, B at 12°, 90° and 100°. With k = 1: 0° and 20° are nearest to 12°
    # (B, wrong), 12° is nearest to 20° (A, wrong), 90° and 100° find each other (right).
    X = on_circle([0, 20, 12, 90, 100])
    labels = ["A", "A", "B", "B", "B"]

    value = knn_accuracy_loo(X, labels, k=1)

    assert value.name == "knn_accuracy_loo"
    assert value.value == pytest.approx(2 / 5)


def test_loo_knn_never_counts_copies_of_the_row_itself():
    # Row 0 (A at 40°) is closer to B at 60° than to A at 0°. Drawn three times, it would be
    # its own neighbour if copies counted. With them left out, its neighbour is B, so it is
    # wrong. Rows 1 (A, 0°) and 2, 3 (B at 60°, 70°) are right.
    # Accuracy = (0 × 3 + 1 + 1 + 1) / 6 = 1/2.
    X = prepare_embeddings(on_circle([40, 0, 60, 70]))
    codes = np.array([0, 0, 1, 1])
    counts = np.array([3, 1, 1, 1])

    knn = LeaveOneOutKnn(X, codes, n_classes=2, k=1, block_size=2)

    assert knn.accuracy(counts) == pytest.approx(0.5)


def test_loo_knn_of_resample_matches_brute_force():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(60, 5))
    codes = rng.integers(0, 3, size=60)
    indices = rng.integers(0, 60, size=60)
    counts = np.bincount(indices, minlength=60)

    knn = LeaveOneOutKnn(prepare_embeddings(X), codes, n_classes=3, k=4, block_size=7)

    assert knn.accuracy(counts) == pytest.approx(brute_force_loo_accuracy(X, codes, indices, 4))


def test_loo_knn_recomputes_rows_beyond_stored_neighbours():
    # k = 1 stores 8 + 64 = 72 neighbours per row. Row 0's 72 nearest rows are not drawn,
    # so its neighbours must come from the full similarity row.
    rng = np.random.default_rng(3)
    X = prepare_embeddings(rng.normal(size=(200, 4)))
    codes = rng.integers(0, 2, size=200)
    knn = LeaveOneOutKnn(X, codes, n_classes=2, k=1, block_size=64)
    indices = np.setdiff1d(np.arange(200), knn.order[0])  # row 0 and the 127 farthest rows
    counts = np.bincount(indices, minlength=200)

    assert knn.order.shape == (200, 72)
    assert knn.accuracy(counts) == pytest.approx(brute_force_loo_accuracy(X, codes, indices, 1))


def test_loo_knn_of_resample_with_too_few_rows_is_none():
    X = prepare_embeddings(on_circle([0, 10, 20, 30, 40]))
    knn = LeaveOneOutKnn(X, np.array([0, 0, 1, 1, 1]), n_classes=2, k=3, block_size=8)

    # Rows 0 and 2 drawn twice each: every row has only 2 draws that are not its copies.
    assert knn.accuracy(np.array([2, 0, 2, 0, 0])) is None


@pytest.mark.parametrize(
    ("sizes", "k", "folds", "message"),
    [
        ((20, 20, 3), 5, 5, "family label 'c' has 3 members, fewer than the 5 folds"),
        ((4, 4, 4), 10, 2, "k = 10 is not below the smallest training fold of 6 rows"),
        ((30,), 5, 5, "only one family label: 'a'"),
    ],
)
def test_knn_undefined_cases_give_reason(sizes, k, folds, message):
    rng = np.random.default_rng(4)
    labels = [name for name, size in zip("abc", sizes, strict=False) for _ in range(size)]
    X = rng.normal(size=(len(labels), 3))

    value = knn_accuracy_cv(X, labels, k=k, folds=folds)

    assert value.value is None
    assert message in value.reason


def test_loo_knn_undefined_when_k_reaches_rows_left():
    value = knn_accuracy_loo(on_circle([0, 10, 20, 30]), ["a", "a", "b", "b"], k=3)

    assert value.value is None
    assert "k = 3 is not below the 3 rows left" in value.reason


def knn_on_overlapping_families(**settings) -> float:
    rng = np.random.default_rng(5)
    X = rng.normal(size=(240, 8))
    labels = np.arange(240) % 3
    X[:, 0] += 0.8 * labels  # families overlap, so accuracy depends on every setting
    return knn_accuracy_cv(X, labels, **settings).value


@pytest.mark.parametrize("setting", [{"k": 1}, {"folds": 3}, {"seed": 7}])
def test_knn_settings_change_value(setting):
    assert knn_on_overlapping_families(**setting) != knn_on_overlapping_families()


def test_knn_block_size_does_not_change_value():
    assert knn_on_overlapping_families(block_size=5) == knn_on_overlapping_families()


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"k": 0}, "Invalid k 0"),
        ({"k": True}, "Invalid k True"),
        ({"folds": 1}, "Invalid folds 1"),
        ({"seed": -1}, "Invalid seed -1"),
        ({"seed": 2**32}, "Invalid seed"),
        ({"block_size": 0}, "Invalid silhouette block size"),
    ],
)
def test_knn_rejects_invalid_settings(setting, message):
    X, labels = separated_families(10, seed=6)

    with pytest.raises(ConfigError, match=message):
        knn_accuracy_cv(X, labels, **setting)


def test_knn_rejects_mismatched_lengths():
    X, labels = separated_families(10, seed=7)

    with pytest.raises(MetricError, match="the embeddings have 40 rows, labels has 39"):
        knn_accuracy_cv(X, labels[:-1])


def test_probe_on_separable_data_is_one():
    X_train, y_train = separated_families(25, seed=8)
    X_test, y_test = separated_families(10, seed=9)

    value = linear_probe(X_train, y_train, X_test, y_test)

    assert value.name == "probe_accuracy"
    assert value.value == 1.0


def test_probe_scores_unseen_test_label_as_wrong(caplog):
    X_train, y_train = separated_families(25, seed=10)
    X_test, y_test = separated_families(5, seed=11)
    y_test = y_test.astype(object)
    y_test[:5] = "fibonacci_like"  # 5 of 20 test rows carry a label training never saw

    with caplog.at_level(logging.WARNING, logger="numgeom_core.metrics.classification"):
        value = linear_probe(X_train, y_train, X_test, y_test)

    assert value.value == pytest.approx(15 / 20)
    assert "['fibonacci_like'] never occur in the training labels" in caplog.text
    assert "their 5 test rows count as wrong" in caplog.text


def test_probe_with_one_training_label_is_undefined():
    X, labels = separated_families(5, seed=12)

    value = linear_probe(X[:5], labels[:5], X, labels)

    assert value.value is None
    assert value.reason == "the training labels take the single value 'primes'"


def probe_on_overlapping_families(**settings) -> float:
    rng = np.random.default_rng(13)
    X = rng.normal(size=(300, 20))
    labels = np.arange(300) % 3
    X[np.arange(300), labels] += 1.0
    return linear_probe(X[:200], labels[:200], X[200:], labels[200:], **settings).value


def test_probe_regularisation_changes_value():
    assert probe_on_overlapping_families(C=1e-4) != probe_on_overlapping_families(C=100.0)


def test_probe_logs_non_convergence(caplog):
    with caplog.at_level(logging.WARNING, logger="numgeom_core.metrics.classification"):
        value = probe_on_overlapping_families(max_iter=1)

    assert math.isfinite(value)
    assert "did not converge within max_iter=1 iterations" in caplog.text


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        ({"C": 0.0}, "Invalid C 0.0"),
        ({"C": math.inf}, "Invalid C inf"),
        ({"max_iter": 0}, "Invalid max_iter 0"),
    ],
)
def test_probe_rejects_invalid_settings(setting, message):
    with pytest.raises(ConfigError, match=message):
        probe_on_overlapping_families(**setting)


def test_probe_rejects_mismatched_dimensions():
    X, labels = separated_families(5, seed=14)

    with pytest.raises(MetricError, match="dimension 6 but test embeddings 5"):
        linear_probe(X, labels, X[:, :5], labels)
