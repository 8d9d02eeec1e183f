"""Metrics of embeddings: how well the family labels separate and can be predicted, what
k-means clusters encode, how similar two models' embeddings are, and bootstrap intervals.

Each metric family has its own module, and `registry` describes every metric by name.
"""

from numgeom_core.metrics.bootstrap import (
    BootstrapConfig,
    Interval,
    MetricReplicates,
    bootstrap_cka,
    bootstrap_interval,
    bootstrap_metric_replicates,
    bootstrap_metrics,
    bootstrap_replicates,
    interval_from_replicates,
    resample_indices,
)
from numgeom_core.metrics.classification import knn_accuracy_cv, knn_accuracy_loo, linear_probe
from numgeom_core.metrics.contingency import cluster_attribute_contingency, nmi_per_attribute
from numgeom_core.metrics.geometry import MetricsConfig, compute_geometry_metrics
from numgeom_core.metrics.registry import (
    EVALUATION_METRICS,
    METRICS,
    MetricSpec,
    MetricValue,
    metric_spec,
)
from numgeom_core.metrics.retained_gain import retained_gain, retained_gain_interval
from numgeom_core.metrics.silhouette import cosine_silhouette
from numgeom_core.metrics.similarity import linear_cka, linear_cka_metric, neighbour_overlap

__all__ = [
    "EVALUATION_METRICS",
    "METRICS",
    "BootstrapConfig",
    "Interval",
    "MetricReplicates",
    "MetricSpec",
    "MetricValue",
    "MetricsConfig",
    "bootstrap_cka",
    "bootstrap_interval",
    "bootstrap_metric_replicates",
    "bootstrap_metrics",
    "bootstrap_replicates",
    "cluster_attribute_contingency",
    "compute_geometry_metrics",
    "cosine_silhouette",
    "interval_from_replicates",
    "knn_accuracy_cv",
    "knn_accuracy_loo",
    "linear_cka",
    "linear_cka_metric",
    "linear_probe",
    "metric_spec",
    "neighbour_overlap",
    "nmi_per_attribute",
    "resample_indices",
    "retained_gain",
    "retained_gain_interval",
]
