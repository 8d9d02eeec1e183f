"""All geometry metrics of one embedding set: separation of the family labels and what
k-means clusters encode."""

import logging
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from numgeom_core.errors import ConfigError
from numgeom_core.metrics.dispersion import calinski_harabasz, davies_bouldin
from numgeom_core.metrics.inputs import (
    check_lengths,
    encode_labels,
    prepare_embeddings,
    validate_block_size,
)
from numgeom_core.metrics.kmeans_agreement import kmeans_agreement
from numgeom_core.metrics.registry import (
    MetricValue,
    attribute_metric_name,
    validate_attribute_name,
)
from numgeom_core.metrics.silhouette import silhouette_from_codes

logger = logging.getLogger(__name__)

LABEL_METRICS = ("silhouette", "davies_bouldin", "calinski_harabasz")
KMEANS_METRICS = ("kmeans_ari", "kmeans_nmi")


@dataclass(frozen=True)
class MetricsConfig:
    """Settings of the geometry metrics.

    kmeans_n_init: number of k-means runs from different k-means++ starts. The run with the
        lowest inertia is kept.
    kmeans_max_iter: maximum Lloyd iterations per run.
    seed: random_state of k-means, which makes repeated runs give the same clusters.
    silhouette_block_size: rows per block in the exact cosine silhouette. It bounds the
        working memory (a few block_size × k float64 arrays) and changes the value only by
        float64 rounding.
    """

    kmeans_n_init: int = 10
    kmeans_max_iter: int = 300
    seed: int = 0
    silhouette_block_size: int = 4096

    def __post_init__(self) -> None:
        for field_name in ("kmeans_n_init", "kmeans_max_iter"):
            value = getattr(self, field_name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ConfigError(
                    f"Invalid {field_name} {value!r}: expected an int >= 1 "
                    f"(default {getattr(MetricsConfig, field_name)})."
                )
        if isinstance(self.seed, bool) or not isinstance(self.seed, int):
            raise ConfigError(f"Invalid seed {self.seed!r}: expected an int in [0, 2**32 - 1].")
        if not 0 <= self.seed < 2**32:
            raise ConfigError(
                f"Invalid seed {self.seed}: scikit-learn's random_state must lie in [0, 2**32 - 1]."
            )
        validate_block_size(self.silhouette_block_size)


def compute_geometry_metrics(
    X: np.ndarray,
    labels: Sequence,
    attributes: Mapping[str, Sequence],
    config: MetricsConfig,
) -> list[MetricValue]:
    """Compute every geometry metric of embeddings X [n, d] against the family labels [n].

    Returns, in this order: silhouette, davies_bouldin, calinski_harabasz, kmeans_ari,
    kmeans_nmi, then kmeans_nmi_<attribute> in the order of `attributes` (each a sequence of
    n values). A metric that cannot be computed has value None and a reason, and is logged at
    info. Raises MetricError for invalid X (shape, dtype, non-finite or zero rows), mismatched
    lengths, unhashable labels or values, and invalid attribute names.
    """
    X64 = prepare_embeddings(X)
    n_samples = X64.shape[0]
    check_lengths(n_samples, labels, attributes)
    for attribute in attributes:
        validate_attribute_name(attribute)
    codes, classes = encode_labels(labels, "family label")
    encoded_attributes = {
        attribute: encode_labels(values, f"attribute {attribute!r}")
        for attribute, values in attributes.items()
    }
    logger.info(
        "Computing geometry metrics on %d embeddings of dimension %d with %d family labels",
        n_samples,
        X64.shape[1],
        len(classes),
    )

    if len(classes) < 2:
        reason = f"only one family label: {classes[0]!r}"
        names = [*LABEL_METRICS, *KMEANS_METRICS, *map(attribute_metric_name, attributes)]
        values = [MetricValue(name, None, reason) for name in names]
    else:
        values = label_metrics(X64, codes, classes, config.silhouette_block_size)
        values += kmeans_agreement(
            X64,
            codes,
            len(classes),
            encoded_attributes,
            n_init=config.kmeans_n_init,
            max_iter=config.kmeans_max_iter,
            seed=config.seed,
        )

    for value in values:
        if value.value is None:
            logger.info("Metric %s is undefined: %s", value.name, value.reason)
    return values


def label_metrics(
    X: np.ndarray, codes: np.ndarray, classes: list[Hashable], block_size: int
) -> list[MetricValue]:
    """Return silhouette, davies_bouldin and calinski_harabasz of unit rows X [n, d]."""
    n_samples, k = X.shape[0], len(classes)
    if n_samples <= k:
        reason = (
            f"{n_samples} samples for {k} family labels: the index needs "
            "2 <= number of labels <= n_samples - 1"
        )
        return [MetricValue(name, None, reason) for name in LABEL_METRICS]
    silhouette = silhouette_from_codes(X, codes, k, block_size)
    return [
        MetricValue("silhouette", silhouette, None),
        davies_bouldin(X, codes, classes),
        calinski_harabasz(X, codes, classes),
    ]
