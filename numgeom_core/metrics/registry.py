"""Registry of the geometry metrics: name, meaning, direction, valid range and reference.

The fixed metrics are in METRICS. The per-attribute entries `kmeans_nmi_<attribute>` are
built on request by `metric_spec`, because the attribute names come from the dataset.
"""

import math
import re
from dataclasses import dataclass

from numgeom_core.errors import MetricError

KMEANS_NMI_PREFIX = "kmeans_nmi_"
ATTRIBUTE_NAME_PATTERN = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,63}")


@dataclass(frozen=True)
class MetricSpec:
    """Registry entry for one metric.

    `higher_is_better` is None for diagnostics that have no better direction.
    `valid_range` is the closed interval every defined value lies in, with math.inf for an
    unbounded side.
    """

    name: str
    description: str
    higher_is_better: bool | None
    valid_range: tuple[float, float]
    reference: str

    def __post_init__(self) -> None:
        low, high = self.valid_range
        if math.isnan(low) or math.isnan(high) or low > high:
            raise MetricError(
                f"Invalid valid_range {self.valid_range!r} for metric {self.name!r}: "
                "expected (low, high) with low <= high and no nan."
            )


@dataclass(frozen=True)
class MetricValue:
    """One computed metric: a finite value, or None with the reason it is undefined."""

    name: str
    value: float | None
    reason: str | None

    def __post_init__(self) -> None:
        if (self.value is None) == (self.reason is None):
            raise MetricError(
                f"Metric {self.name!r} got value={self.value!r} and reason={self.reason!r}: "
                "exactly one of them must be None."
            )
        if self.value is not None and not math.isfinite(self.value):
            raise MetricError(
                f"Metric {self.name!r} got the non-finite value {self.value!r}: record an "
                "undefined metric as value=None with a reason instead."
            )


NMI_REFERENCE = (
    "Vinh, N. X., Epps, J. and Bailey, J. (2010). Information theoretic measures for "
    "clusterings comparison: variants, properties, normalization and correction for chance. "
    "JMLR 11. Normalised by the arithmetic mean of the two entropies, scikit-learn's default."
)

METRICS: dict[str, MetricSpec] = {
    spec.name: spec
    for spec in (
        MetricSpec(
            name="silhouette",
            description=(
                "Mean silhouette s(i) = (b(i) - a(i)) / max(a(i), b(i)) over all embeddings, "
                "with cosine distance and the family labels as clusters. a(i) is the mean "
                "distance to the rest of the own family, b(i) to the nearest other family."
            ),
            higher_is_better=True,
            valid_range=(-1.0, 1.0),
            reference=(
                "Rousseeuw, P. J. (1987). Silhouettes: a graphical aid to the interpretation "
                "and validation of cluster analysis. Journal of Computational and Applied "
                "Mathematics 20, 53-65."
            ),
        ),
        MetricSpec(
            name="davies_bouldin",
            description=(
                "Mean over families of the largest (s_i + s_j) / d(c_i, c_j), with s the mean "
                "Euclidean distance to the family centroid c, on L2-normalised embeddings."
            ),
            higher_is_better=False,
            valid_range=(0.0, math.inf),
            reference=(
                "Davies, D. L. and Bouldin, D. W. (1979). A cluster separation measure. "
                "IEEE Transactions on Pattern Analysis and Machine Intelligence 1(2), 224-227."
            ),
        ),
        MetricSpec(
            name="calinski_harabasz",
            description=(
                "Between-family over within-family dispersion, B (n - k) / (W (k - 1)), "
                "on L2-normalised embeddings with n samples and k families."
            ),
            higher_is_better=True,
            valid_range=(0.0, math.inf),
            reference=(
                "Calinski, T. and Harabasz, J. (1974). A dendrite method for cluster analysis. "
                "Communications in Statistics, doi:10.1080/03610927408827101."
            ),
        ),
        MetricSpec(
            name="kmeans_ari",
            description=(
                "Adjusted Rand index between k-means clusters (k = number of families) on "
                "the L2-normalised embeddings and the family labels. 0 is chance level."
            ),
            higher_is_better=True,
            valid_range=(-0.5, 1.0),
            reference=(
                "Hubert, L. and Arabie, P. (1985). Comparing partitions. Journal of "
                "Classification, doi:10.1007/BF01908075. The lower bound -0.5 is from "
                "Chacon, J. E. and Rastrojo, A. I. (2022), doi:10.1007/s11634-022-00491-w."
            ),
        ),
        MetricSpec(
            name="kmeans_nmi",
            description=(
                "Normalised mutual information between k-means clusters (k = number of "
                "families) on the L2-normalised embeddings and the family labels."
            ),
            higher_is_better=True,
            valid_range=(0.0, 1.0),
            reference=NMI_REFERENCE,
        ),
    )
}


def validate_attribute_name(attribute: object) -> str:
    """Return `attribute` unchanged if it can form the metric name kmeans_nmi_<attribute>.

    Raises MetricError naming the value and the rule otherwise.
    """
    if not isinstance(attribute, str) or not ATTRIBUTE_NAME_PATTERN.fullmatch(attribute):
        raise MetricError(
            f"Invalid attribute name {attribute!r}: use 1 to 64 letters, digits and '_', "
            "starting with a letter, for example 'length' or 'magnitude'."
        )
    return attribute


def attribute_metric_name(attribute: str) -> str:
    """Return the metric name `kmeans_nmi_<attribute>` after validating the attribute name."""
    return KMEANS_NMI_PREFIX + validate_attribute_name(attribute)


def metric_spec(name: str) -> MetricSpec:
    """Return the registry entry for `name`, building `kmeans_nmi_<attribute>` entries on request.

    Raises MetricError for a name that is neither a fixed metric nor a valid attribute NMI.
    """
    if name in METRICS:
        return METRICS[name]
    if isinstance(name, str) and name.startswith(KMEANS_NMI_PREFIX):
        attribute = name.removeprefix(KMEANS_NMI_PREFIX)
        if ATTRIBUTE_NAME_PATTERN.fullmatch(attribute):
            return MetricSpec(
                name=name,
                description=(
                    f"Normalised mutual information between the k-means clusters used for "
                    f"kmeans_nmi and the nuisance attribute {attribute!r}. Lower means the "
                    "clusters encode less of the attribute."
                ),
                higher_is_better=None,
                valid_range=(0.0, 1.0),
                reference=NMI_REFERENCE,
            )
    raise MetricError(
        f"Unknown metric {name!r}: expected one of {sorted(METRICS)} or "
        f"'{KMEANS_NMI_PREFIX}<attribute>' with an attribute name of letters, digits and '_'."
    )
