"""Similarity of two representations of the same samples: linear CKA and k-NN overlap.

Both compare, say, the base model's embeddings with a merged model's embeddings of the same
n inputs, row i of one with row i of the other. The widths may differ.
"""

import logging
import math

import numpy as np

from numgeom_core.errors import ConfigError, MetricError
from numgeom_core.metrics.inputs import prepare_embeddings, validate_block_size
from numgeom_core.metrics.neighbours import block_neighbours, validate_positive_int
from numgeom_core.metrics.registry import MetricValue

logger = logging.getLogger(__name__)

# The unbiased estimator needs two n × n float64 Gram matrices, 400 MB at n = 5000.
UNBIASED_MAX_SAMPLES = 5000
# `unbiased=None` picks the unbiased estimator below this n, so wherever it fits. The biased
# one overstates CKA unless n is far above the width d: measured on Gaussian data with
# n = 400, d = 576, it reads 0.59 for independent representations and 0.79 for a pair whose
# unbiased CKA is 0.50. For independent representations it reads about d / n when n >> d.
UNBIASED_BELOW_SAMPLES = UNBIASED_MAX_SAMPLES + 1
# An automatically chosen biased estimator logs a warning below this many samples per unit
# of width, where its overstatement for unrelated representations exceeds about 0.1.
BIASED_WARNING_SAMPLES_PER_WIDTH = 10
# The biased estimator uses the n × n Gram matrices up to this n when they are also cheaper
# than the d × d cross-products, and the cross-products otherwise.
GRAM_MAX_SAMPLES = 2048
# A representation whose centred rows have a Frobenius norm below this fraction of the
# uncentred norm has (up to rounding) identical rows, and its CKA is 0 / 0.
CONSTANT_TOLERANCE = 1e-10


def linear_cka(
    X: np.ndarray,
    Y: np.ndarray,
    unbiased: bool | None = None,
    *,
    unbiased_below: int = UNBIASED_BELOW_SAMPLES,
    gram_max_samples: int = GRAM_MAX_SAMPLES,
) -> float:
    """Compute linear centred kernel alignment (CKA) between representations X and Y.

    X [n, d_x] and Y [n, d_y] describe the same n samples row by row. With the linear Gram
    matrices K = X Xᵀ and L = Y Yᵀ, CKA = HSIC(K, L) / sqrt(HSIC(K, K) HSIC(L, L)), 1 when
    Y is X up to an orthogonal transformation and isotropic scaling, near 0 for independent
    representations. Kornblith, S., Norouzi, M., Lee, H. and Hinton, G. (2019). Similarity
    of neural network representations revisited. ICML, arXiv:1905.00414.

    Estimators of HSIC:
    - biased (unbiased=False): tr(K H L H) with centring matrix H. With column-centred X and
      Y this is ||Yᵀ X||_F², so CKA = ||Yᵀ X||_F² / (||Xᵀ X||_F ||Yᵀ Y||_F), in [0, 1].
      For independent representations it is biased upwards by about d / n. n × n Gram
      matrices are used when n <= gram_max_samples and they are the cheaper route, and
      the d × d cross-products otherwise, so the memory is O(n·d + d²) for large n.
    - unbiased (unbiased=True): the estimator of Song, L., Smola, A., Gretton, A., Bedo, J.
      and Borgwardt, K. (2012). Feature selection via dependence maximization. JMLR 13,
      as used for CKA by Nguyen, T., Raghu, M. and Kornblith, S. (2021), arXiv:2010.15327.
      It equals the inner product of the U-centred Gram matrices divided by n(n - 3), so
      CKA is their cosine and lies in [-1, 1]. It can be negative for unrelated
      representations. It needs 4 <= n <= 5000 (two n × n Gram matrices).
    - unbiased=None picks the unbiased estimator for n < unbiased_below (5001 by default,
      so for every n it can handle), else the biased one. The biased estimator then logs a
      warning when n < 10 · max(d_x, d_y), where it overstates CKA by about 0.1 or more.

    Raises MetricError for invalid or mismatched inputs, for an estimator outside its range
    of n, and when X or Y has identical rows, because CKA then divides zero by zero.
    """
    value, reason = cka_or_reason(X, Y, unbiased, unbiased_below, gram_max_samples)
    if value is None:
        raise MetricError(f"Linear CKA is undefined: {reason}.")
    return value


def linear_cka_metric(
    X: np.ndarray,
    Y: np.ndarray,
    unbiased: bool | None = None,
    *,
    unbiased_below: int = UNBIASED_BELOW_SAMPLES,
    gram_max_samples: int = GRAM_MAX_SAMPLES,
) -> MetricValue:
    """Return `linear_cka` as MetricValue "linear_cka", undefined with a reason for 0 / 0.

    Invalid inputs still raise MetricError, as in `linear_cka`.
    """
    value, reason = cka_or_reason(X, Y, unbiased, unbiased_below, gram_max_samples)
    return MetricValue("linear_cka", value, reason)


def cka_or_reason(
    X: np.ndarray,
    Y: np.ndarray,
    unbiased: bool | None,
    unbiased_below: int,
    gram_max_samples: int,
) -> tuple[float | None, str | None]:
    """Return (CKA, None), or (None, reason) when a representation has identical rows."""
    unbiased_below = validate_positive_int(unbiased_below, "unbiased_below", UNBIASED_BELOW_SAMPLES)
    gram_max_samples = validate_positive_int(gram_max_samples, "gram_max_samples", 2048)
    Xc, Yc = centred_representations(X, Y)
    n_samples = Xc.shape[0]
    use_unbiased = choose_unbiased(n_samples, unbiased, unbiased_below)
    width = max(Xc.shape[1], Yc.shape[1])
    if (
        unbiased is None
        and not use_unbiased
        and n_samples < BIASED_WARNING_SAMPLES_PER_WIDTH * width
    ):
        logger.warning(
            "Linear CKA uses the biased HSIC estimator for n = %d samples of width up to %d, "
            "where it overstates CKA (by about width / n for unrelated representations). "
            "Pass unbiased=True, or subsample to at most %d rows for the unbiased estimator.",
            n_samples,
            width,
            UNBIASED_MAX_SAMPLES,
        )

    for name, centred, original in (("X", Xc, X), ("Y", Yc, Y)):
        spread = np.linalg.norm(centred)
        if spread <= CONSTANT_TOLERANCE * np.linalg.norm(np.asarray(original, np.float64)):
            reason = (
                f"all {n_samples} rows of {name} are identical, so its centred Gram matrix "
                "is zero and CKA divides zero by zero"
            )
            return None, reason

    if use_unbiased:
        return gram_cka(Xc @ Xc.T, Yc @ Yc.T, unbiased=True)
    if prefers_gram_route(n_samples, Xc.shape[1], Yc.shape[1], gram_max_samples):
        return gram_cka(Xc @ Xc.T, Yc @ Yc.T, unbiased=False)
    return feature_cka(Xc, Yc), None


def centred_representations(X: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Check X [n, d_x] and Y [n, d_y] and return float64 copies with zero column means."""
    centred = []
    for name, array in (("X", X), ("Y", Y)):
        array = np.asarray(array)
        if array.ndim != 2 or 0 in array.shape:
            raise MetricError(
                f"Representation {name} must be a non-empty 2-D array [n_samples, width], "
                f"got shape {array.shape}."
            )
        if array.dtype not in (np.float32, np.float64):
            raise MetricError(
                f"Representation {name} must be float32 or float64, got dtype {array.dtype}. "
                "Convert it with .astype(np.float32)."
            )
        if not np.isfinite(array).all():
            raise MetricError(
                f"Representation {name} contains nan or inf: recompute those embeddings."
            )
        array64 = array.astype(np.float64)
        centred.append(array64 - array64.mean(axis=0))
    Xc, Yc = centred
    if Xc.shape[0] != Yc.shape[0]:
        raise MetricError(
            f"X has {Xc.shape[0]} rows but Y has {Yc.shape[0]}: CKA compares two "
            "representations of the same samples, row i with row i."
        )
    return Xc, Yc


def choose_unbiased(n_samples: int, unbiased: bool | None, unbiased_below: int) -> bool:
    """Return whether to use the unbiased estimator, raising if it cannot be used for n."""
    if unbiased is not None and not isinstance(unbiased, bool):
        raise ConfigError(f"Invalid unbiased {unbiased!r}: expected True, False or None.")
    use_unbiased = n_samples < unbiased_below if unbiased is None else unbiased
    if not use_unbiased:
        if n_samples < 2:
            raise MetricError("Linear CKA needs at least 2 rows to centre, got 1.")
        return False
    if n_samples < 4:
        raise MetricError(
            f"The unbiased HSIC estimator needs at least 4 rows, got {n_samples}: pass "
            "unbiased=False for the biased estimator, or use more samples."
        )
    if n_samples > UNBIASED_MAX_SAMPLES:
        raise MetricError(
            f"The unbiased HSIC estimator needs two {n_samples} × {n_samples} Gram matrices, "
            f"more than the limit of {UNBIASED_MAX_SAMPLES} rows: pass unbiased=False. Its "
            f"upward bias, about width / n, is small at n = {n_samples}."
        )
    return True


def prefers_gram_route(n_samples: int, width_x: int, width_y: int, gram_max_samples: int) -> bool:
    """Return whether the biased CKA should use n × n Gram matrices instead of d × d products.

    The Gram route costs about n² (d_x + d_y) multiply-adds, the feature route
    n (d_x d_y + d_x² + d_y²).
    """
    if n_samples > gram_max_samples:
        return False
    gram_cost = n_samples * (width_x + width_y)
    feature_cost = width_x * width_y + width_x**2 + width_y**2
    return gram_cost <= feature_cost


def feature_cka(Xc: np.ndarray, Yc: np.ndarray) -> float:
    """Return the biased linear CKA of column-centred Xc [n, d_x] and Yc [n, d_y].

    ||Ycᵀ Xc||_F² / (||Xcᵀ Xc||_F ||Ycᵀ Yc||_F), in O(n·d + d²) memory.
    """
    cross = np.linalg.norm(Yc.T @ Xc) ** 2  # ||Yᵀ X||_F², Yᵀ X is [d_y, d_x]
    self_x = np.linalg.norm(Xc.T @ Xc)  # ||Xᵀ X||_F
    self_y = np.linalg.norm(Yc.T @ Yc)
    return float(np.clip(cross / (self_x * self_y), 0.0, 1.0))


def gram_cka(K: np.ndarray, L: np.ndarray, unbiased: bool) -> tuple[float | None, str | None]:
    """Return (CKA, None) of linear Gram matrices K, L [n, n], or (None, reason) for 0 / 0.

    Biased: cosine of the double-centred matrices H K H and H L H, in [0, 1]. Unbiased:
    cosine of the U-centred matrices, in [-1, 1]. The result is clipped to that range,
    which only removes float64 rounding.
    """
    centre = u_centre if unbiased else double_centre
    Kc, Lc = centre(K), centre(L)  # [n, n] each
    self_k = float(np.vdot(Kc, Kc))
    self_l = float(np.vdot(Lc, Lc))
    if self_k <= 0.0 or self_l <= 0.0:
        which = "X" if self_k <= 0.0 else "Y"
        kind = "U-centred" if unbiased else "centred"
        return None, f"the {kind} Gram matrix of {which} is zero, so CKA divides by zero"
    value = float(np.vdot(Kc, Lc)) / math.sqrt(self_k * self_l)
    low = -1.0 if unbiased else 0.0
    return float(np.clip(value, low, 1.0)), None


def double_centre(K: np.ndarray) -> np.ndarray:
    """Return H K H [n, n], with H = I - 11ᵀ/n: K minus row and column means plus the grand mean."""
    column_means = K.mean(axis=0)  # [n]
    row_means = K.mean(axis=1)  # [n]
    return K - column_means[None, :] - row_means[:, None] + K.mean()


def u_centre(K: np.ndarray) -> np.ndarray:
    """Return the U-centred matrix [n, n] of K, n >= 4, with a zero diagonal.

    With K̃ = K with its diagonal set to zero, row sums r and total s, entry (i, j), i != j,
    is K̃_ij - (r_i + r_j) / (n - 2) + s / ((n - 1)(n - 2)). Its inner product with another
    U-centred matrix, divided by n(n - 3), is Song et al.'s unbiased HSIC.
    """
    n_samples = K.shape[0]
    K_tilde = K.copy()
    np.fill_diagonal(K_tilde, 0.0)
    row_sums = K_tilde.sum(axis=1)  # [n]
    total = row_sums.sum()
    U = (
        K_tilde
        - row_sums[:, None] / (n_samples - 2)
        - row_sums[None, :] / (n_samples - 2)
        + total / ((n_samples - 1) * (n_samples - 2))
    )
    np.fill_diagonal(U, 0.0)
    return U


def neighbour_overlap(X: np.ndarray, Y: np.ndarray, k: int = 10, block_size: int = 1024) -> float:
    """Compute the mean overlap of the cosine k-nearest-neighbour sets of X and Y, in [0, 1].

    X [n, d_x] and Y [n, d_y] describe the same n samples row by row. For each row i,
    N_X(i) is the set of the k rows most cosine-similar to row i in X, excluding i itself,
    and likewise N_Y(i). Returns mean_i |N_X(i) ∩ N_Y(i)| / k: 1 when both representations
    rank the same neighbours first, about k / (n - 1) when they are unrelated. This is the
    mutual k-nearest-neighbour alignment of Huh, M., Cheung, B., Wang, T. and Isola, P.
    (2024). The platonic representation hypothesis. arXiv:2405.07987.

    Works `block_size` rows at a time: memory O(block_size · n + n · k), never n × n.
    Among exactly equal similarities (duplicate rows) the choice of neighbour is arbitrary.
    Raises MetricError for invalid or mismatched inputs and unless 1 <= k <= n - 1.
    """
    k = validate_positive_int(k, "k", 10)
    block_size = validate_block_size(block_size)
    X_unit = prepare_embeddings(X)
    Y_unit = prepare_embeddings(Y)
    n_samples = X_unit.shape[0]
    if Y_unit.shape[0] != n_samples:
        raise MetricError(
            f"X has {n_samples} rows but Y has {Y_unit.shape[0]}: the overlap compares two "
            "representations of the same samples, row i with row i."
        )
    if k > n_samples - 1:
        raise MetricError(
            f"k = {k} neighbours need at least k + 1 = {k + 1} rows, got {n_samples}: "
            "lower k or use more samples."
        )

    shared = 0
    for start in range(0, n_samples, block_size):
        stop = min(start + block_size, n_samples)
        neighbours_x = block_neighbours(X_unit, start, stop, k)  # [b, k]
        neighbours_y = block_neighbours(Y_unit, start, stop, k)  # [b, k]
        # Each set has k distinct rows, so a repeated index in the sorted union is shared.
        union = np.sort(np.concatenate([neighbours_x, neighbours_y], axis=1), axis=1)  # [b, 2k]
        shared += int(np.count_nonzero(union[:, 1:] == union[:, :-1]))
    return shared / (n_samples * k)
