"""Metrics of a bootstrap resample, computed from how often each sample was drawn.

A resample is given as counts [n]: counts[i] copies of sample i. Working from the counts
touches each distinct sample once instead of copying n rows per resample. Copies of the
same sample are one sample drawn several times, so the silhouette, like the leave-one-out
k-NN in `classification`, does not treat a row's own copies as its cluster neighbours.
"""

import numpy as np
from scipy.spatial.distance import pdist

from numgeom_core.metrics.dispersion import CENTROID_TOLERANCE
from numgeom_core.metrics.silhouette import ZERO_DISTANCE_TOLERANCE


def weighted_label_statistics(
    X: np.ndarray, codes: np.ndarray, n_classes: int, counts: np.ndarray
) -> tuple[float | None, float | None]:
    """Return the cosine silhouette and the Davies-Bouldin index of a resample, None if undefined.

    X: unit rows [n, d]. codes: family codes [n] in [0, n_classes). counts: draws [n].
    Both are undefined unless 2 <= number of families drawn <= number of draws - 1.
    Davies-Bouldin equals scikit-learn's on the resampled rows X[indices], and is None
    where two centroids coincide. The silhouette equals `cosine_silhouette` on the resampled
    rows except that a(i) leaves out the copies of row i, as it leaves out row i itself.
    With all counts 1 it equals `cosine_silhouette(X, codes)`.
    """
    present = np.flatnonzero(counts)  # [u]
    weights = counts[present].astype(np.float64)  # [u]
    X_present = X[present]  # [u, d]
    present_codes = codes[present]  # [u]
    sizes = np.bincount(present_codes, weights=weights, minlength=n_classes)  # [k]
    drawn = np.flatnonzero(sizes)
    if not 2 <= drawn.size <= weights.sum() - 1:
        return None, None

    one_hot = np.zeros((n_classes, present.size), dtype=np.float64)  # [k, u]
    one_hot[present_codes, np.arange(present.size)] = weights
    sums = one_hot @ X_present  # [k, d], weighted sum of each family's rows
    silhouette = weighted_silhouette(X_present, present_codes, weights, sums, sizes)
    db = weighted_davies_bouldin(X_present, present_codes, weights, sums[drawn], sizes, drawn)
    return silhouette, db


def weighted_silhouette(
    X: np.ndarray, codes: np.ndarray, weights: np.ndarray, sums: np.ndarray, sizes: np.ndarray
) -> float:
    """Return the mean silhouette over draws of distinct unit rows X [u, d] drawn weights [u] times.

    sums [k, d] and sizes [k] are the weighted family sums and draw counts. A family absent
    from the resample (size 0) is not a candidate for b(i).
    """
    rows = np.arange(X.shape[0])
    dots = X @ sums.T  # [u, k]: x_i · S_c
    own_sizes = sizes[codes]  # [u]
    others = own_sizes - weights  # [u]: draws of the own family that are not copies of i

    # a(i): mean distance to the other draws of the own family; copies of i are left out.
    own_dots = dots[rows, codes] - weights * np.einsum("ij,ij->i", X, X)  # [u]
    with np.errstate(divide="ignore", invalid="ignore"):
        a = (others - own_dots) / others  # [u], nan where no other draw exists

    # b(i): smallest mean distance to another drawn family.
    with np.errstate(divide="ignore", invalid="ignore"):
        mean_distances = 1.0 - dots / sizes  # [u, k]
    mean_distances[:, sizes == 0] = np.inf
    mean_distances[rows, codes] = np.inf
    b = mean_distances.min(axis=1)  # [u]

    a = np.maximum(a, 0.0)
    b = np.maximum(b, 0.0)
    scale = np.maximum(a, b)
    defined = (others > 0) & (scale > ZERO_DISTANCE_TOLERANCE)
    samples = np.zeros(X.shape[0], dtype=np.float64)  # [u] s(i), 0 for lone draws
    np.divide(b - a, scale, out=samples, where=defined)
    return float(np.sum(weights * samples) / np.sum(weights))


def weighted_davies_bouldin(
    X: np.ndarray,
    codes: np.ndarray,
    weights: np.ndarray,
    drawn_sums: np.ndarray,
    sizes: np.ndarray,
    drawn: np.ndarray,
) -> float | None:
    """Return the Davies-Bouldin index of the drawn families, None if two centroids coincide.

    X: distinct unit rows [u, d] with codes [u] and draw counts weights [u]. drawn_sums
    [m, d] are the weighted sums of the m drawn families, listed in `drawn` (codes).
    """
    centroids = drawn_sums / sizes[drawn][:, None]  # [m, d]
    if pdist(centroids).min() <= CENTROID_TOLERANCE:
        return None
    position = np.full(sizes.size, -1, dtype=np.intp)
    position[drawn] = np.arange(drawn.size)
    distances = np.linalg.norm(X - centroids[position[codes]], axis=1)  # [u] to own centroid
    spread = np.bincount(position[codes], weights=weights * distances, minlength=drawn.size)
    spread /= sizes[drawn]  # [m] mean distance of the family's draws to its centroid

    separation = np.linalg.norm(centroids[:, None, :] - centroids[None, :, :], axis=2)  # [m, m]
    np.fill_diagonal(separation, np.inf)
    ratios = (spread[:, None] + spread[None, :]) / separation  # [m, m]
    return float(np.mean(ratios.max(axis=1)))


class ResampledCka:
    """Linear CKA of bootstrap resamples of two representations, from draw counts.

    K [n, n] and L [n, n] are the linear Gram matrices of the column-centred representations.
    For a resample with counts c, every HSIC term is a quadratic form in c: Σ_ij K_ij L_ij
    over drawn pairs is cᵀ (K ∘ L) c and the row sums of the resampled K are K c. So each
    resample costs a few n × n matrix-vector products and copies no matrix. The unbiased
    estimator leaves out only the diagonal pairs (a draw with itself), as Song et al.'s
    formula does for the resampled rows.
    """

    def __init__(self, K: np.ndarray, L: np.ndarray, unbiased: bool) -> None:
        self.K, self.L = K, L  # [n, n] each
        self.products = {"KL": K * L, "KK": K * K, "LL": L * L}  # [n, n] each
        self.unbiased = unbiased

    def cka(self, counts: np.ndarray) -> float | None:
        """Return the CKA of the resample with counts [n], or None where it divides by zero."""
        c = counts.astype(np.float64)  # [n]
        Kc, Lc = self.K @ c, self.L @ c  # [n] row sums of the resampled Gram matrices
        diag_k, diag_l = np.diag(self.K), np.diag(self.L)  # [n]
        hsic_kl = self.hsic(c, self.products["KL"], Kc, Lc, diag_k, diag_l)
        hsic_kk = self.hsic(c, self.products["KK"], Kc, Kc, diag_k, diag_k)
        hsic_ll = self.hsic(c, self.products["LL"], Lc, Lc, diag_l, diag_l)
        if hsic_kk <= 0.0 or hsic_ll <= 0.0:
            return None
        value = hsic_kl / np.sqrt(hsic_kk * hsic_ll)
        return float(np.clip(value, -1.0 if self.unbiased else 0.0, 1.0))

    def hsic(
        self,
        c: np.ndarray,
        product: np.ndarray,
        row_sums_a: np.ndarray,
        row_sums_b: np.ndarray,
        diag_a: np.ndarray,
        diag_b: np.ndarray,
    ) -> float:
        """Return HSIC of the resampled pair A, B times a factor of n alone, which CKA cancels.

        Biased: tr(A H B H) = (n - 1)² HSIC_0. Unbiased: n(n - 3) HSIC_1.
        """
        n = c.sum()
        trace = c @ product @ c  # Σ over drawn pairs of A_ij B_ij
        cross = np.sum(c * row_sums_a * row_sums_b)  # 1ᵀ A B 1
        total_a, total_b = c @ row_sums_a, c @ row_sums_b  # 1ᵀ A 1, 1ᵀ B 1
        if not self.unbiased:
            return float(trace - 2.0 * cross / n + total_a * total_b / n**2)

        # Song et al. (2012): the same sums over pairs of distinct draws (zero diagonals).
        trace -= np.sum(c * diag_a * diag_b)
        cross = np.sum(c * (row_sums_a - diag_a) * (row_sums_b - diag_b))
        total_a -= c @ diag_a
        total_b -= c @ diag_b
        return float(trace + total_a * total_b / ((n - 1) * (n - 2)) - 2.0 * cross / (n - 2))
