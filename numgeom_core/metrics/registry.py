"""Registry of the metrics: name, meaning, direction, valid range and reference.

The fixed geometry metrics are in METRICS, the evaluation metrics in EVALUATION_METRICS.
The per-attribute entries `kmeans_nmi_<attribute>` are built on request by `metric_spec`,
because the attribute names come from the dataset.
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


KNN_REFERENCE = (
    "Cover, T. and Hart, P. (1967). Nearest neighbor pattern classification. IEEE "
    "Transactions on Information Theory 13(1), 21-27."
)

# Metrics of the evaluation stage: classification, similarity to the base model, and the
# retained gain. Kept apart from METRICS, which lists what compute_geometry_metrics returns.
EVALUATION_METRICS: dict[str, MetricSpec] = {
    spec.name: spec
    for spec in (
        MetricSpec(
            name="knn_accuracy",
            description=(
                "Accuracy of k-NN on the family labels (cosine similarity, majority vote, a "
                "tie going to the nearest neighbour's label), the mean over stratified "
                "k-fold cross-validation folds."
            ),
            higher_is_better=True,
            valid_range=(0.0, 1.0),
            reference=KNN_REFERENCE,
        ),
        MetricSpec(
            name="knn_accuracy_loo",
            description=(
                "Leave-one-out accuracy of k-NN on the family labels, with the vote of "
                "knn_accuracy. Each row is classified by its k nearest other rows."
            ),
            higher_is_better=True,
            valid_range=(0.0, 1.0),
            reference=KNN_REFERENCE,
        ),
        MetricSpec(
            name="probe_accuracy",
            description=(
                "Test accuracy of a multinomial logistic regression trained on the L2-"
                "normalised embeddings and family labels of another split."
            ),
            higher_is_better=True,
            valid_range=(0.0, 1.0),
            reference=(
                "Alain, G. and Bengio, Y. (2016). Understanding intermediate layers using "
                "linear classifier probes. arXiv:1610.01644."
            ),
        ),
        MetricSpec(
            name="linear_cka",
            description=(
                "Linear centred kernel alignment between two representations of the same "
                "samples, 1 for equal ones up to rotation and scale. The biased HSIC "
                "estimator gives values in [0, 1]. The unbiased one is the cosine of the "
                "U-centred Gram matrices, in [-1, 1], and is slightly negative for "
                "unrelated representations. The range covers both."
            ),
            higher_is_better=None,
            valid_range=(-1.0, 1.0),
            reference=(
                "Kornblith, S., Norouzi, M., Lee, H. and Hinton, G. (2019). Similarity of "
                "neural network representations revisited. ICML, arXiv:1905.00414. Unbiased "
                "HSIC: Song, L. et al. (2012), JMLR 13, as used by Nguyen, T., Raghu, M. and "
                "Kornblith, S. (2021), arXiv:2010.15327."
            ),
        ),
        MetricSpec(
            name="neighbour_overlap",
            description=(
                "Mean over samples of |N_X(i) ∩ N_Y(i)| / k, with N the k nearest other "
                "samples by cosine similarity in each representation. About k / (n - 1) for "
                "unrelated representations."
            ),
            higher_is_better=None,
            valid_range=(0.0, 1.0),
            reference=(
                "Huh, M., Cheung, B., Wang, T. and Isola, P. (2024). The platonic "
                "representation hypothesis. arXiv:2405.07987 (mutual nearest neighbours)."
            ),
        ),
        MetricSpec(
            name="retained_gain",
            description=(
                "(m(method) - m(base)) / (m(lora) - m(base)) for one metric m: the share of "
                "the LoRA adapter's gain over base that a merged model keeps. 1 matches "
                "LoRA, 0 is back at base. Undefined when LoRA does not improve m."
            ),
            higher_is_better=True,
            valid_range=(-math.inf, math.inf),
            reference="Defined by numgeom; no published index.",
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
    if name in EVALUATION_METRICS:
        return EVALUATION_METRICS[name]
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
        f"Unknown metric {name!r}: expected one of {sorted(METRICS | EVALUATION_METRICS)} or "
        f"'{KMEANS_NMI_PREFIX}<attribute>' with an attribute name of letters, digits and '_'."
    )
