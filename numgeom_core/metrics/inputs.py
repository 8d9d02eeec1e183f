"""Validation and encoding of the embeddings, labels and attributes every metric reads."""

from collections.abc import Hashable, Mapping, Sequence

import numpy as np

from numgeom_core.errors import ConfigError, MetricError

MAX_ROWS_SHOWN = 5


def prepare_embeddings(X: np.ndarray) -> np.ndarray:
    """Check embeddings and return a float64 copy with every row scaled to unit L2 norm.

    X: float32 or float64 [n, d], rows expected to be L2-normalised already. Re-normalising
    in float64 removes the float32 rounding of the stored norms. Raises MetricError for a
    wrong shape or dtype, no rows, non-finite values or all-zero rows, naming the rows.
    """
    X = np.asarray(X)
    if X.ndim != 2:
        raise MetricError(
            f"Embeddings must be a 2-D array [n_samples, dim], got shape {X.shape}. "
            "Stack one embedding per row."
        )
    if X.dtype not in (np.float32, np.float64):
        raise MetricError(
            f"Embeddings must be float32 or float64, got dtype {X.dtype}. "
            "Convert them with X.astype(np.float32)."
        )
    n_samples, dim = X.shape
    if n_samples == 0 or dim == 0:
        raise MetricError(
            f"Embeddings of shape {X.shape} are empty: metrics need at least one row and "
            "one dimension."
        )

    X64 = X.astype(np.float64)  # [n, d], a copy
    squared_norms = np.einsum("ij,ij->i", X64, X64)  # [n]
    # A nan or inf norm means a non-finite entry or an overflow, and a zero or subnormal norm
    # means a zero row or an underflow. Only those rows take the slower checks below.
    unusual = ~np.isfinite(squared_norms) | (squared_norms < np.finfo(np.float64).tiny)
    if unusual.any():
        rescale_unusual_rows(X, X64, np.flatnonzero(unusual))
        squared_norms[unusual] = np.einsum("ij,ij->i", X64[unusual], X64[unusual])
    X64 /= np.sqrt(squared_norms)[:, None]
    return X64


def rescale_unusual_rows(X: np.ndarray, X64: np.ndarray, rows: np.ndarray) -> None:
    """Divide rows of X64 [n, d] by their largest entry, or raise for non-finite or zero rows."""
    n_samples = X.shape[0]
    non_finite = rows[~np.isfinite(X[rows]).all(axis=1)]
    if non_finite.size:
        raise MetricError(
            f"Embeddings contain nan or inf in {non_finite.size} of {n_samples} rows (first "
            f"rows: {non_finite[:MAX_ROWS_SHOWN].tolist()}). Recompute those embeddings or "
            "drop the rows."
        )
    row_max = np.abs(X64[rows]).max(axis=1)  # [len(rows)]
    zero = rows[row_max == 0]
    if zero.size:
        raise MetricError(
            f"Embeddings contain {zero.size} all-zero rows of {n_samples} (first rows: "
            f"{zero[:MAX_ROWS_SHOWN].tolist()}), which have no direction. Recompute them."
        )
    # Scaling by the largest entry keeps the squared norm from overflowing or underflowing.
    X64[rows] /= row_max[:, None]


def check_lengths(
    n_samples: int, labels: Sequence, attributes: Mapping[str, Sequence] | None = None
) -> None:
    """Raise MetricError naming every size unless labels and attributes have n_samples entries."""
    sizes = {"labels": len(labels)}
    for attribute, values in (attributes or {}).items():
        sizes[f"attribute {attribute!r}"] = len(values)
    if all(size == n_samples for size in sizes.values()):
        return
    listed = ", ".join(f"{source} has {size}" for source, size in sizes.items())
    raise MetricError(
        f"Length mismatch: the embeddings have {n_samples} rows, {listed}. Pass one family "
        "label and one value of each attribute per embedding row, in the same order."
    )


def encode_labels(values: Sequence, field: str) -> tuple[np.ndarray, list[Hashable]]:
    """Return integer codes [n] and the distinct values, numbered in order of first appearance.

    Any hashable values work (strings, integers). Raises MetricError for an unhashable value.
    """
    if isinstance(values, np.ndarray) and values.ndim == 1 and values.dtype != object:
        return encode_array_labels(values)
    index: dict[Hashable, int] = {}
    codes = np.empty(len(values), dtype=np.intp)  # [n]
    for position, value in enumerate(values):
        try:
            codes[position] = index.setdefault(value, len(index))
        except TypeError as error:
            raise MetricError(
                f"{field} value {value!r} at position {position} is not hashable: use strings "
                "or integers."
            ) from error
    return codes, list(index)


def encode_array_labels(values: np.ndarray) -> tuple[np.ndarray, list[Hashable]]:
    """Vectorised `encode_labels` for a 1-D numeric or string array [n]."""
    distinct, first_positions, inverse = np.unique(values, return_index=True, return_inverse=True)
    order = np.argsort(first_positions)  # distinct values in order of first appearance
    rank = np.empty_like(order)
    rank[order] = np.arange(order.size)
    return rank[inverse], [distinct[i].item() for i in order]


def validate_block_size(block_size: object) -> int:
    """Return `block_size` if it is a positive int; raise ConfigError otherwise."""
    if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 1:
        raise ConfigError(
            f"Invalid silhouette block size {block_size!r}: expected an int >= 1 (rows per "
            "block). 4096 suits most machines; smaller values use less memory."
        )
    return block_size


def count_distinct_rows_up_to(X: np.ndarray, limit: int) -> int:
    """Return min(number of distinct rows of X [n, d], limit), comparing rows exactly.

    The distinct values of the first column bound the count from below, which usually settles
    it without sorting whole rows.
    """
    if np.unique(X[:, 0]).size >= limit:
        return limit
    return min(int(np.unique(X, axis=0).shape[0]), limit)


def constant_clusters(X: np.ndarray, codes: np.ndarray, k: int) -> np.ndarray:
    """Return a bool [k] that is True where every row of the cluster equals its first row."""
    constant = np.zeros(k, dtype=bool)
    for cluster in range(k):
        rows = X[codes == cluster]  # [n_c, d]
        constant[cluster] = rows.shape[0] > 0 and bool((rows == rows[0]).all())
    return constant
