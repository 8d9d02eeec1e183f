"""Cluster × attribute contingency tables and per-attribute NMI of given clusters."""

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import normalized_mutual_info_score

from numgeom_core.errors import MetricError
from numgeom_core.metrics import cluster_attribute_contingency, nmi_per_attribute

pytestmark = pytest.mark.filterwarnings("error")


def test_contingency_counts_match_hand_count():
    # Cluster 0: even, odd. Cluster 1: odd, odd, even. Cluster 2: even.
    clusters = [1, 0, 1, 1, 0, 2]
    parity = ["odd", "even", "even", "odd", "odd", "even"]

    table = cluster_attribute_contingency(clusters, parity)

    expected = pl.DataFrame({"cluster": [0, 1, 2], "even": [1, 1, 1], "odd": [1, 2, 0]})
    assert table.equals(expected)
    assert table.schema["even"] == pl.Int64


def test_contingency_rows_sum_to_cluster_sizes():
    rng = np.random.default_rng(0)
    clusters = rng.integers(0, 5, size=200)
    lengths = rng.integers(4, 9, size=200)

    table = cluster_attribute_contingency(clusters, lengths)

    row_sums = table.drop("cluster").sum_horizontal().to_list()
    assert row_sums == np.bincount(clusters).tolist()
    assert table.columns == ["cluster", "4", "5", "6", "7", "8"]


def test_contingency_keeps_first_appearance_order_for_unsortable_values():
    table = cluster_attribute_contingency(["b", "a", "b"], [3, "x", 3])

    assert table.columns == ["cluster", "3", "x"]
    assert table["cluster"].to_list() == ["a", "b"]
    assert table["3"].to_list() == [0, 2]


@pytest.mark.parametrize("values", [[1, "1"], ["cluster", "x"]])
def test_contingency_rejects_clashing_column_names(values):
    with pytest.raises(MetricError, match="repeat or clash"):
        cluster_attribute_contingency([0, 1], values)


def test_contingency_rejects_mismatched_lengths():
    with pytest.raises(MetricError, match="Length mismatch"):
        cluster_attribute_contingency([0, 1, 2], ["a", "b"])


def test_nmi_per_attribute_equals_scikit_learn():
    rng = np.random.default_rng(1)
    clusters = rng.integers(0, 4, size=120)
    magnitude = (clusters + rng.integers(0, 2, size=120)) % 3
    parity = rng.integers(0, 2, size=120)

    values = nmi_per_attribute(clusters, {"magnitude": magnitude, "parity": parity})

    assert [value.name for value in values] == ["kmeans_nmi_magnitude", "kmeans_nmi_parity"]
    assert values[0].value == pytest.approx(normalized_mutual_info_score(magnitude, clusters))
    assert values[1].value == pytest.approx(normalized_mutual_info_score(parity, clusters))


def test_nmi_of_constant_attribute_is_undefined():
    (value,) = nmi_per_attribute([0, 1, 0, 1], {"length": [5, 5, 5, 5]})

    assert value.value is None
    assert "takes the single value 5" in value.reason


def test_nmi_rejects_invalid_attribute_name():
    with pytest.raises(MetricError, match="Invalid attribute name"):
        nmi_per_attribute([0, 1], {"first term": [1, 2]})
