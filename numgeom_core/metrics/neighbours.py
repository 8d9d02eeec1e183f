"""Cosine nearest neighbours and k-NN votes, shared by the classification, similarity and
bootstrap metrics.

Every function takes unit rows (from `prepare_embeddings`), so the cosine similarity is the
dot product. Neighbours come in order of decreasing similarity. Among exactly equal
similarities the order is deterministic but unspecified, because numpy's argpartition breaks
those ties by its own rule.
"""

import numpy as np

from numgeom_core.errors import ConfigError


def validate_positive_int(value: object, name: str, default: int) -> int:
    """Return `value` if it is an int >= 1 (not a bool); raise ConfigError otherwise."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"Invalid {name} {value!r}: expected an int >= 1 (default {default}).")
    return value


def top_k_by_similarity(similarities: np.ndarray, k: int) -> np.ndarray:
    """Return the column indices [b, k] of the k largest entries of each row of [b, m].

    Rows come sorted by decreasing similarity. Requires 1 <= k <= m. Entries set to -inf
    (excluded neighbours) come last, so they are returned only when k exceeds the others.
    """
    m = similarities.shape[1]
    if k < m:
        candidates = np.argpartition(similarities, m - k, axis=1)[:, m - k :]  # [b, k], unsorted
    else:
        candidates = np.broadcast_to(np.arange(m), similarities.shape)  # [b, m]
    candidate_similarities = np.take_along_axis(similarities, candidates, axis=1)
    order = np.argsort(-candidate_similarities, axis=1, kind="stable")  # [b, k]
    return np.take_along_axis(candidates, order, axis=1)


def self_excluded_neighbours(X: np.ndarray, k: int, block_size: int) -> np.ndarray:
    """Return the k nearest other rows [n, k] of every row of unit rows X [n, d].

    Row i never lists itself, but it does list an identical copy stored in another row.
    Works `block_size` query rows at a time, so the memory is O(block_size · n + n · k).
    """
    n_samples = X.shape[0]
    neighbours = np.empty((n_samples, k), dtype=np.intp)  # [n, k]
    for start in range(0, n_samples, block_size):
        stop = min(start + block_size, n_samples)
        neighbours[start:stop] = block_neighbours(X, start, stop, k)
    return neighbours


def block_neighbours(X: np.ndarray, start: int, stop: int, k: int) -> np.ndarray:
    """Return the k nearest other rows [stop - start, k] of rows start..stop - 1 of X [n, d]."""
    similarities = X[start:stop] @ X.T  # [b, n]
    similarities[np.arange(stop - start), np.arange(start, stop)] = -np.inf
    return top_k_by_similarity(similarities, k)


def vote(neighbour_codes: np.ndarray, weights: np.ndarray, n_classes: int) -> np.ndarray:
    """Return the predicted class [b] of a weighted majority vote over neighbours [b, m].

    neighbour_codes: class codes in [0, n_classes), nearest neighbour first. weights: votes
    each neighbour casts (1 for plain k-NN, a multiplicity in a bootstrap resample), >= 0.
    A tie between classes goes to the class of the nearest neighbour among the tied classes
    that casts a positive vote.
    """
    b, m = neighbour_codes.shape
    rows = np.repeat(np.arange(b), m)  # [b·m]
    flat = rows * n_classes + neighbour_codes.ravel()
    votes = np.bincount(flat, weights=weights.ravel(), minlength=b * n_classes)
    votes = votes.reshape(b, n_classes)  # [b, n_classes]

    best = votes.max(axis=1)  # [b]
    neighbour_votes = np.take_along_axis(votes, neighbour_codes, axis=1)  # [b, m]
    is_tied_winner = (neighbour_votes == best[:, None]) & (weights > 0)  # [b, m]
    first_winner = np.argmax(is_tied_winner, axis=1)  # [b]
    return neighbour_codes[np.arange(b), first_winner]
