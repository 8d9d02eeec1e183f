"""Agreement of k-means clusters with the family labels and with nuisance attributes.

k-means (Lloyd's algorithm with k-means++ seeding, Arthur and Vassilvitskii 2007) runs once
on the L2-normalised embeddings with k = number of families. Its clusters are scored against
the family labels (adjusted Rand index, normalised mutual information) and against each
nuisance attribute (normalised mutual information, arithmetic-mean normalisation).
"""

from collections.abc import Hashable, Mapping

import numpy as np
from sklearn.cluster import KMeans
from sklearn.metrics import adjusted_rand_score, normalized_mutual_info_score

from numgeom_core.metrics.inputs import count_distinct_rows_up_to
from numgeom_core.metrics.registry import MetricValue, attribute_metric_name


def kmeans_agreement(
    X: np.ndarray,
    codes: np.ndarray,
    k: int,
    attributes: Mapping[str, tuple[np.ndarray, list[Hashable]]],
    n_init: int,
    max_iter: int,
    seed: int,
) -> list[MetricValue]:
    """Return kmeans_ari, kmeans_nmi and kmeans_nmi_<attribute> for unit rows X [n, d].

    codes: family codes [n] in [0, k), k >= 2. attributes: name -> (codes [n], distinct
    values). k-means is fitted once. All these metrics are undefined when X has fewer than k
    distinct rows, because k-means cannot then form k clusters.
    """
    names = ["kmeans_ari", "kmeans_nmi", *(attribute_metric_name(a) for a in attributes)]
    n_distinct = count_distinct_rows_up_to(X, k)
    if n_distinct < k:
        reason = (
            f"k-means needs {k} clusters (one per family label) but the embeddings contain "
            f"only {n_distinct} distinct points"
        )
        return [MetricValue(name, None, reason) for name in names]

    kmeans = KMeans(n_clusters=k, n_init=n_init, max_iter=max_iter, random_state=seed)
    predicted = kmeans.fit_predict(X)  # [n]

    values = [
        MetricValue("kmeans_ari", float(adjusted_rand_score(codes, predicted)), None),
        MetricValue("kmeans_nmi", float(normalized_mutual_info_score(codes, predicted)), None),
    ]
    for name, (attribute_codes, distinct_values) in attributes.items():
        values.append(attribute_nmi(name, attribute_codes, distinct_values, predicted))
    return values


def attribute_nmi(
    attribute: str,
    attribute_codes: np.ndarray,
    distinct_values: list[Hashable],
    predicted: np.ndarray,
) -> MetricValue:
    """Return NMI between k-means clusters [n] and one attribute, undefined for a constant."""
    name = attribute_metric_name(attribute)
    if len(distinct_values) < 2:
        return MetricValue(
            name=name,
            value=None,
            reason=(
                f"attribute {attribute!r} takes the single value {distinct_values[0]!r}, and "
                "NMI against a constant is degenerate (its entropy is zero, so the score is "
                "0 for any clustering)"
            ),
        )
    value = normalized_mutual_info_score(attribute_codes, predicted)
    return MetricValue(name, float(value), None)
