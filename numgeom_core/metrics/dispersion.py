"""Davies-Bouldin and Calinski-Harabasz indices of the family labels, with degenerate cases.

Both compare within-family spread to between-family spread on L2-normalised embeddings, and
both divide by a quantity that can be zero. scikit-learn 1.9 returns 0.0 or 1.0 in those
cases, and here they are reported as undefined with the reason.
"""

from collections.abc import Hashable

import numpy as np
from scipy.spatial.distance import pdist
from sklearn.metrics import calinski_harabasz_score, davies_bouldin_score

from numgeom_core.metrics.inputs import constant_clusters
from numgeom_core.metrics.registry import MetricValue

# Centroids of unit vectors closer than this are treated as coinciding. float32 embeddings
# resolve about 6e-8 on the unit sphere, and scikit-learn's Euclidean distances, computed as
# sqrt(||a||² + ||b||² - 2 a·b), carry an error near sqrt(float64 eps), about 1e-8. A smaller
# distance is therefore not a measured separation.
CENTROID_TOLERANCE = 1e-8


def davies_bouldin(X: np.ndarray, codes: np.ndarray, classes: list[Hashable]) -> MetricValue:
    """Return the Davies-Bouldin index of unit rows X [n, d] with codes [n] for `classes`.

    DB = (1/k) Σ_i max_{j≠i} (s_i + s_j) / ||c_i - c_j||, where c is a family centroid and s
    the mean Euclidean distance of the family's rows to it. Range [0, inf), lower is better.
    Undefined when two family centroids coincide, because their ratio divides by zero.
    scikit-learn skips such a pair (or returns 0.0 when all centroids coincide).
    """
    k = len(classes)
    centroids = np.stack([X[codes == cluster].mean(axis=0) for cluster in range(k)])  # [k, d]
    distances = pdist(centroids)  # [k (k - 1) / 2], direct differences, not the Gram trick
    closest = int(np.argmin(distances))
    if distances[closest] <= CENTROID_TOLERANCE:
        first, second = condensed_pair(closest, k)
        return MetricValue(
            name="davies_bouldin",
            value=None,
            reason=(
                f"the centroids of family labels {classes[first]!r} and {classes[second]!r} "
                f"coincide (distance {distances[closest]:.1e} <= {CENTROID_TOLERANCE:.0e}), "
                "so the Davies-Bouldin ratio (s_i + s_j) / d(c_i, c_j) divides by zero"
            ),
        )
    return MetricValue("davies_bouldin", float(davies_bouldin_score(X, codes)), None)


def calinski_harabasz(X: np.ndarray, codes: np.ndarray, classes: list[Hashable]) -> MetricValue:
    """Return the Calinski-Harabasz index of unit rows X [n, d] with codes [n] for `classes`.

    CH = [B / (k - 1)] / [W / (n - k)], with B = Σ_c n_c ||c_c - c||² the between-family and
    W = Σ_i ||x_i - c_{label(i)}||² the within-family dispersion. Range [0, inf), higher is
    better. Undefined when W = 0, that is when every family's embeddings are identical
    (scikit-learn returns 1.0 there).
    """
    if constant_clusters(X, codes, len(classes)).all():
        return MetricValue(
            name="calinski_harabasz",
            value=None,
            reason=(
                "the within-family dispersion W is zero because all embeddings of each "
                "family label are identical, so CH = B (n - k) / (W (k - 1)) divides by zero"
            ),
        )
    return MetricValue("calinski_harabasz", float(calinski_harabasz_score(X, codes)), None)


def condensed_pair(index: int, k: int) -> tuple[int, int]:
    """Return the pair (i, j), i < j, at position `index` of a condensed k × k distance vector."""
    i = 0
    while index >= k - 1 - i:
        index -= k - 1 - i
        i += 1
    return i, i + 1 + index
