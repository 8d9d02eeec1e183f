"""Cluster × attribute counts and their NMI: the structure clusters encode besides the family."""

from collections.abc import Hashable, Mapping, Sequence

import numpy as np
import polars as pl

from numgeom_core.errors import MetricError
from numgeom_core.metrics.inputs import check_lengths, encode_labels
from numgeom_core.metrics.kmeans_agreement import attribute_nmi
from numgeom_core.metrics.registry import MetricValue, validate_attribute_name

CLUSTER_COLUMN = "cluster"


def cluster_attribute_contingency(
    cluster_labels: Sequence, attribute_values: Sequence
) -> pl.DataFrame:
    """Count the samples of each cluster that take each attribute value.

    cluster_labels [n] and attribute_values [n]: hashable values, one per sample. Returns
    one row per cluster: column "cluster" with the cluster label, then one Int64 column per
    attribute value, named str(value), holding the counts. Rows and value columns come in
    sorted order where the values sort, else in order of first appearance. Every row sums
    to the cluster's size and the whole table to n. Raises MetricError for mismatched
    lengths, unhashable values, and values whose column names would collide.
    """
    check_lengths(len(cluster_labels), attribute_values)
    cluster_codes, clusters = encode_labels(cluster_labels, "cluster label")
    value_codes, values = encode_labels(attribute_values, "attribute value")
    cluster_order = sorted_positions(clusters)
    value_order = sorted_positions(values)

    counts = np.zeros((len(clusters), len(values)), dtype=np.int64)  # [clusters, values]
    np.add.at(counts, (cluster_codes, value_codes), 1)
    counts = counts[np.ix_(cluster_order, value_order)]

    names = [str(values[position]) for position in value_order]
    if len(set(names)) != len(names) or CLUSTER_COLUMN in names:
        raise MetricError(
            f"Attribute values {[values[p] for p in value_order]!r} give the column names "
            f"{names}, which repeat or clash with {CLUSTER_COLUMN!r}: map the attribute to "
            "values with distinct string forms."
        )
    columns = {CLUSTER_COLUMN: [clusters[position] for position in cluster_order]}
    columns.update({name: counts[:, j] for j, name in enumerate(names)})
    try:
        return pl.DataFrame(columns, schema_overrides=dict.fromkeys(names, pl.Int64))
    except (TypeError, pl.exceptions.PolarsError) as error:
        raise MetricError(
            f"Cluster labels {columns[CLUSTER_COLUMN][:5]!r}... do not form one polars "
            "column: use labels of a single type, such as ints."
        ) from error


def sorted_positions(values: list[Hashable]) -> list[int]:
    """Return the positions of `values` in sorted order, or in list order if they do not sort."""
    try:
        return sorted(range(len(values)), key=values.__getitem__)
    except TypeError:
        return list(range(len(values)))


def nmi_per_attribute(
    cluster_labels: Sequence, attributes: Mapping[str, Sequence]
) -> list[MetricValue]:
    """Return kmeans_nmi_<attribute> for each attribute, in the order of `attributes`.

    cluster_labels [n]: the k-means cluster of each sample, as used for kmeans_nmi.
    attributes: name -> values [n]. Each value is the normalised mutual information between
    clusters and attribute (arithmetic-mean normalisation), as in `compute_geometry_metrics`,
    and undefined for an attribute with a single value. Raises MetricError for invalid
    names, mismatched lengths and unhashable values.
    """
    for attribute in attributes:
        validate_attribute_name(attribute)
    check_lengths(len(cluster_labels), cluster_labels, attributes)
    predicted, _ = encode_labels(cluster_labels, "cluster label")
    values = []
    for attribute, attribute_values in attributes.items():
        codes, distinct = encode_labels(attribute_values, f"attribute {attribute!r}")
        values.append(attribute_nmi(attribute, codes, distinct, predicted))
    return values
