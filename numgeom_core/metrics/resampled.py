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
    For a resample with counts c, every HSIC term is a polynomial in c built from n × n
    matrix-vector products, so no resampled matrix is copied.

    Biased estimator: tr(K H L H) of the resampled rows as they are.
    Unbiased estimator: the U-statistic form of Song et al.'s HSIC_1,
        HSIC_1 = S2 / N2 + S4 / N4 - 2 S3 / N3,
    with S2 = Σ K_ij L_ij over distinct (i, j), S3 = Σ K_ij L_iq over distinct (i, j, q),
    S4 = Σ K_ij L_qr over distinct (i, j, q, r), and N2, N3, N4 the numbers of such tuples.
    On a resample, "distinct" means distinct samples, and a tuple counts with the product of
    its samples' draw counts. Copies of one sample therefore never pair up: with n ≈ d, the
    pairs of copies, each contributing K_ii L_ii ≈ d², would otherwise outweigh the rest
    (measured at n = 400, d = 576: true CKA 0.50, resampled CKA 0.78 to 0.81).
    """

    def __init__(self, K: np.ndarray, L: np.ndarray, unbiased: bool) -> None:
        self.unbiased = unbiased
        if unbiased:
            K, L = K.copy(), L.copy()
            np.fill_diagonal(K, 0.0)  # U-statistics never pair a sample with itself
            np.fill_diagonal(L, 0.0)
        self.K, self.L = K, L  # [n, n] each
        self.products = {"KL": K * L, "KK": K * K, "LL": L * L}  # [n, n] each

    def cka(self, counts: np.ndarray) -> float | None:
        """Return the CKA of the resample with counts [n], or None where it divides by zero."""
        c = counts.astype(np.float64)  # [n]
        Kc, Lc = self.K @ c, self.L @ c  # [n]
        hsic = self.unbiased_hsic if self.unbiased else self.biased_hsic
        hsic_kl = hsic(c, self.products["KL"], Kc, Lc)
        hsic_kk = hsic(c, self.products["KK"], Kc, Kc)
        hsic_ll = hsic(c, self.products["LL"], Lc, Lc)
        if hsic_kl is None or not (hsic_kk > 0.0 and hsic_ll > 0.0):
            return None
        value = hsic_kl / np.sqrt(hsic_kk * hsic_ll)
        return float(np.clip(value, -1.0 if self.unbiased else 0.0, 1.0))

    @staticmethod
    def biased_hsic(c: np.ndarray, product: np.ndarray, Ac: np.ndarray, Bc: np.ndarray) -> float:
        """Return tr(A H B H) of the resampled rows, (n - 1)² HSIC_0, for A ∘ B = product."""
        n = c.sum()
        trace = c @ product @ c  # Σ over pairs of draws of A_ij B_ij
        cross = np.sum(c * Ac * Bc)  # 1ᵀ A B 1
        return float(trace - 2.0 * cross / n + (c @ Ac) * (c @ Bc) / n**2)

    @staticmethod
    def unbiased_hsic(
        c: np.ndarray, product: np.ndarray, Ac: np.ndarray, Bc: np.ndarray
    ) -> float | None:
        """Return HSIC_1 over distinct samples weighted by counts, for zero-diagonal A and B.

        The sums over distinct tuples follow from the unrestricted ones by inclusion and
        exclusion. With c = 1 this is Song et al.'s formula. None for fewer than 4 samples.
        """
        c2 = c * c
        product_c, product_c2 = product @ c, product @ c2  # [n] each
        s2 = c @ product_c
        s3 = np.sum(c * Ac * Bc) - c2 @ product_c
        # In (cᵀAc)(cᵀBc), the pairs (i, j) and (q, r) share one sample in 4 symmetric
        # ways and both samples in 2.
        one_shared = np.sum(c2 * Ac * Bc) - c2 @ product_c2
        both_shared = c2 @ product_c2
        s4 = (c @ Ac) * (c @ Bc) - 4.0 * one_shared - 2.0 * both_shared

        p1, p2, p3, p4 = (np.sum(c**power) for power in (1, 2, 3, 4))
        n2 = p1**2 - p2
        n3 = p1**3 - 3 * p1 * p2 + 2 * p3
        n4 = p1**4 - 6 * p1**2 * p2 + 3 * p2**2 + 8 * p1 * p3 - 6 * p4
        if n4 <= 0:  # fewer than 4 distinct samples
            return None
        return float(s2 / n2 + s4 / n4 - 2.0 * s3 / n3)
