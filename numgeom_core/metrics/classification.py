"""Predictability of the family labels from the embeddings: k-NN and a linear probe.

k-NN uses cosine similarity with a majority vote over the k nearest training rows, and a tie
between classes goes to the nearest neighbour's class among the tied ones (Cover, T. and
Hart, P. (1967). Nearest neighbor pattern classification. IEEE Transactions on Information
Theory 13(1), 21-27). The linear probe is a multinomial logistic regression (Alain, G. and
Bengio, Y. (2016). Understanding intermediate layers using linear classifier probes.
arXiv:1610.01644).
"""

import logging
import math
import warnings
from collections.abc import Sequence

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold

from numgeom_core.errors import ConfigError, MetricError
from numgeom_core.metrics.inputs import (
    check_lengths,
    encode_labels,
    prepare_embeddings,
    validate_block_size,
)
from numgeom_core.metrics.neighbours import (
    self_excluded_neighbours,
    top_k_by_similarity,
    validate_positive_int,
    vote,
)
from numgeom_core.metrics.registry import MetricValue

logger = logging.getLogger(__name__)

# Each bootstrap row keeps this many nearest other rows beyond k. A resample leaves out about
# 37% of the rows, so the k nearest rows present almost always lie among the first 8k + 64.
# Rows where they do not are recomputed from all n rows, so the width changes only the speed.
EXTRA_NEIGHBOURS_PER_K = 8
EXTRA_NEIGHBOURS = 64


def validate_seed(seed: object) -> int:
    """Return `seed` if it is an int in [0, 2**32 - 1]; raise ConfigError otherwise."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise ConfigError(f"Invalid seed {seed!r}: expected an int in [0, 2**32 - 1].")
    return seed


def knn_accuracy_cv(
    X: np.ndarray,
    labels: Sequence,
    k: int = 5,
    folds: int = 5,
    seed: int = 0,
    block_size: int = 4096,
) -> MetricValue:
    """Compute the cross-validated k-NN accuracy of the family labels, in [0, 1].

    X: embeddings [n, d], rows re-normalised to unit length. labels: [n], hashable.
    scikit-learn's StratifiedKFold (shuffled with `seed`) splits the rows into `folds` folds
    that keep the family proportions. Each test row gets the majority label of its k most
    cosine-similar training rows, and the result is the mean of the per-fold accuracies.
    For embeddings without label information it is about 1 / (number of families) when
    the families are of equal size. `block_size` test rows are
    compared at a time, which bounds the memory to O(block_size · n).

    Undefined (value None with a reason) for fewer than 2 labels, for a family with fewer
    members than folds, and for k >= the smallest training fold. Raises MetricError for
    invalid X or labels and ConfigError for invalid settings.
    """
    k = validate_positive_int(k, "k", 5)
    if isinstance(folds, bool) or not isinstance(folds, int) or folds < 2:
        raise ConfigError(f"Invalid folds {folds!r}: expected an int >= 2 (default 5).")
    seed = validate_seed(seed)
    block_size = validate_block_size(block_size)
    X64 = prepare_embeddings(X)
    check_lengths(X64.shape[0], labels)
    codes, classes = encode_labels(labels, "family label")

    if len(classes) < 2:
        return MetricValue("knn_accuracy", None, f"only one family label: {classes[0]!r}")
    sizes = np.bincount(codes)
    smallest = int(np.argmin(sizes))
    if sizes[smallest] < folds:
        reason = (
            f"family label {classes[smallest]!r} has {sizes[smallest]} members, fewer than "
            f"the {folds} folds, so some test folds would miss it"
        )
        return MetricValue("knn_accuracy", None, reason)

    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)
    splits = list(splitter.split(np.zeros(codes.size), codes))
    smallest_train = min(train.size for train, _ in splits)
    if k >= smallest_train:
        reason = f"k = {k} is not below the smallest training fold of {smallest_train} rows"
        return MetricValue("knn_accuracy", None, reason)

    accuracies = []
    for train, test in splits:
        predicted = predict_knn(X64[test], X64[train], codes[train], k, len(classes), block_size)
        accuracies.append(np.mean(predicted == codes[test]))
    return MetricValue("knn_accuracy", float(np.mean(accuracies)), None)


def predict_knn(
    queries: np.ndarray,
    reference: np.ndarray,
    reference_codes: np.ndarray,
    k: int,
    n_classes: int,
    block_size: int,
) -> np.ndarray:
    """Return the k-NN class codes [q] of unit rows queries [q, d] against reference [m, d]."""
    predicted = np.empty(queries.shape[0], dtype=np.intp)  # [q]
    for start in range(0, queries.shape[0], block_size):
        stop = min(start + block_size, queries.shape[0])
        similarities = queries[start:stop] @ reference.T  # [b, m]
        neighbours = top_k_by_similarity(similarities, k)  # [b, k]
        weights = np.ones(neighbours.shape, dtype=np.float64)
        predicted[start:stop] = vote(reference_codes[neighbours], weights, n_classes)
    return predicted


def knn_accuracy_loo(
    X: np.ndarray, labels: Sequence, k: int = 5, block_size: int = 4096
) -> MetricValue:
    """Compute the leave-one-out k-NN accuracy of the family labels, in [0, 1].

    Each row gets the majority label of its k most cosine-similar other rows, with the vote
    rules of `knn_accuracy_cv`. This is the statistic the bootstrap resamples, because it
    needs no folds. Undefined for fewer than 2 labels or k >= n - 1.
    """
    k = validate_positive_int(k, "k", 5)
    block_size = validate_block_size(block_size)
    X64 = prepare_embeddings(X)
    check_lengths(X64.shape[0], labels)
    codes, classes = encode_labels(labels, "family label")
    reason = loo_undefined_reason(codes.size, classes, k)
    if reason is not None:
        return MetricValue("knn_accuracy_loo", None, reason)
    knn = LeaveOneOutKnn(X64, codes, len(classes), k, block_size)
    accuracy = knn.accuracy(np.ones(codes.size, dtype=np.int64))
    return MetricValue("knn_accuracy_loo", accuracy, None)


def loo_undefined_reason(n_samples: int, classes: list, k: int) -> str | None:
    """Return why leave-one-out k-NN is undefined for these sizes, or None if it is defined."""
    if len(classes) < 2:
        return f"only one family label: {classes[0]!r}"
    if k >= n_samples - 1:
        return f"k = {k} is not below the {n_samples - 1} rows left after leaving one out"
    return None


class LeaveOneOutKnn:
    """Leave-one-out k-NN accuracy of an embedding set and of its bootstrap resamples.

    A resample is given as counts [n]: how often each row was drawn. Copies of the row being
    classified are left out, so a row is never its own neighbour, and every other drawn row
    votes as often as it was drawn. Each row's nearest other rows are sorted once, here.
    """

    def __init__(
        self, X: np.ndarray, codes: np.ndarray, n_classes: int, k: int, block_size: int
    ) -> None:
        self.X = X  # [n, d], unit rows
        self.codes = codes  # [n]
        self.n_classes = n_classes
        self.k = k
        self.block_size = block_size
        width = min(X.shape[0] - 1, EXTRA_NEIGHBOURS_PER_K * k + EXTRA_NEIGHBOURS)
        self.order = self_excluded_neighbours(X, width, block_size)  # [n, width]

    def accuracy(self, counts: np.ndarray) -> float | None:
        """Return the accuracy over the drawn rows, or None if fewer than k other rows exist."""
        present = np.flatnonzero(counts)  # [u]
        predicted, short = self.predict(self.order[present], counts)
        if short.any():
            rows = present[short]
            similarities = self.X[rows] @ self.X.T  # [s, n]
            similarities[np.arange(rows.size), rows] = -np.inf
            full_order = top_k_by_similarity(similarities, self.X.shape[0] - 1)  # [s, n - 1]
            predicted[short], still_short = self.predict(full_order, counts)
            if still_short.any():
                return None
        correct = predicted == self.codes[present]  # [u]
        return float(np.sum(counts[present] * correct) / np.sum(counts))

    def predict(self, order: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Return predicted codes [u] and a flag [u] for rows whose list contains < k draws.

        order: neighbour rows [u, m], nearest first. Neighbour j fills
        min(counts[j], slots left) of the k slots, so a row drawn twice may fill two.
        """
        weights = counts[order]  # [u, m]
        filled_before = np.cumsum(weights, axis=1) - weights  # [u, m]
        taken = np.clip(self.k - filled_before, 0, weights)  # [u, m] slots each neighbour fills
        short = filled_before[:, -1] + weights[:, -1] < self.k  # [u]
        predicted = vote(self.codes[order], taken.astype(np.float64), self.n_classes)
        return predicted, short


def linear_probe(
    X_train: np.ndarray,
    y_train: Sequence,
    X_test: np.ndarray,
    y_test: Sequence,
    C: float = 1.0,
    max_iter: int = 1000,
) -> MetricValue:
    """Train a logistic-regression probe on one split and return its accuracy on another.

    X_train [n_train, d], X_test [n_test, d]: embeddings, rows re-normalised to unit length.
    The probe is scikit-learn's LogisticRegression (lbfgs solver, multinomial loss, L2 penalty
    with inverse strength C). The lbfgs solver is deterministic, so no seed is needed.
    Returns the share of test rows whose label the probe predicts, in [0, 1]. A test label
    that never occurs in training is scored as wrong and logged as a warning, and so is a
    probe that stops at max_iter before converging. Undefined when the training labels take
    fewer than 2 values. Raises MetricError for invalid or mismatched inputs.
    """
    if isinstance(C, bool) or not isinstance(C, int | float) or not (math.isfinite(C) and C > 0):
        raise ConfigError(f"Invalid C {C!r}: expected a finite float > 0 (default 1.0).")
    max_iter = validate_positive_int(max_iter, "max_iter", 1000)
    train = prepare_embeddings(X_train)
    test = prepare_embeddings(X_test)
    if train.shape[1] != test.shape[1]:
        raise MetricError(
            f"Training embeddings have dimension {train.shape[1]} but test embeddings "
            f"{test.shape[1]}: embed both splits with the same model."
        )
    check_lengths(train.shape[0], y_train)
    check_lengths(test.shape[0], y_test)
    train_codes, classes = encode_labels(y_train, "training label")
    if len(classes) < 2:
        reason = f"the training labels take the single value {classes[0]!r}"
        return MetricValue("probe_accuracy", None, reason)
    test_codes = map_test_labels(y_test, classes)

    probe = LogisticRegression(C=C, max_iter=max_iter)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ConvergenceWarning)
        probe.fit(train, train_codes)
    for warning in caught:
        if issubclass(warning.category, ConvergenceWarning):
            logger.warning(
                "The linear probe did not converge within max_iter=%d iterations; its accuracy "
                "may be low. Raise max_iter.",
                max_iter,
            )
        else:
            warnings.warn_explicit(
                warning.message, warning.category, warning.filename, warning.lineno
            )

    accuracy = float(np.mean(probe.predict(test) == test_codes))
    return MetricValue("probe_accuracy", accuracy, None)


def map_test_labels(y_test: Sequence, classes: list) -> np.ndarray:
    """Return the training code [n_test] of each test label, -1 for a label unseen in training."""
    test_codes, test_classes = encode_labels(y_test, "test label")
    index = {value: code for code, value in enumerate(classes)}
    mapping = np.array([index.get(value, -1) for value in test_classes], dtype=np.intp)
    unseen = [value for value in test_classes if value not in index]
    if unseen:
        logger.warning(
            "Test labels %s never occur in the training labels, so the probe cannot predict "
            "them and their %d test rows count as wrong.",
            unseen,
            int(np.isin(test_codes, np.flatnonzero(mapping == -1)).sum()),
        )
    return mapping[test_codes]
