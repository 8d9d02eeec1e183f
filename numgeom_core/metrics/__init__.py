"""Geometry metrics of embeddings: how well the family labels separate, and what k-means
clusters encode.

Each metric family has its own module, and `registry` describes every metric by name.
"""

from numgeom_core.metrics.geometry import MetricsConfig, compute_geometry_metrics
from numgeom_core.metrics.registry import METRICS, MetricSpec, MetricValue, metric_spec
from numgeom_core.metrics.silhouette import cosine_silhouette

__all__ = [
    "METRICS",
    "MetricSpec",
    "MetricValue",
    "MetricsConfig",
    "compute_geometry_metrics",
    "cosine_silhouette",
    "metric_spec",
]
