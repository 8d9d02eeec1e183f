"""Evaluation figures: contingency heat maps, the trade-off plot and SLERP curves."""

import polars as pl
import pytest

from numgeom_core.metrics import cluster_attribute_contingency
from numgeom_core.plots_eval import plot_contingency_heatmaps, plot_slerp_curves, plot_tradeoff

pytestmark = pytest.mark.filterwarnings("error")

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def tradeoff_points() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "backbone": ["minilm-l6", "minilm-l6", "smollm2-135m", "smollm2-135m"],
            "merge_method": ["base", "lora", "slerp", "soup"],
            "similarity": [1.0, 0.55, 0.8, None],
            "similarity_low": [None, 0.5, 0.75, None],
            "similarity_high": [None, 0.6, 0.85, None],
            "separation": [0.2, 0.6, 0.5, 0.3],
            # The LoRA interval misses its point, as a percentile interval may.
            "separation_low": [0.1, 0.62, None, 0.2],
            "separation_high": [0.3, 0.7, None, 0.4],
        }
    )


def slerp_curves() -> pl.DataFrame:
    rows = []
    for backbone in ("minilm-l6", "smollm2-135m"):
        for t in (0.0, 0.25, 0.5, 0.75, 1.0):
            for metric, value in (("silhouette", 0.2 + 0.4 * t), ("davies_bouldin", 3 - t)):
                undefined = backbone == "smollm2-135m" and t == 0.5
                rows.append(
                    {
                        "backbone": backbone,
                        "t": t,
                        "metric": metric,
                        "value": None if undefined else value,
                        "low": None if t == 0.25 else value - 0.05,
                        "high": None if t == 0.25 else value + 0.05,
                    }
                )
    return pl.DataFrame(rows)


def test_heatmaps_write_png(tmp_path):
    tables = {
        "parity": cluster_attribute_contingency([0, 0, 1, 1, 2], ["even", "odd", "odd", 1, 1]),
        "length": cluster_attribute_contingency([0, 1, 1], [4, 5, 5]),
    }

    path = plot_contingency_heatmaps(tables, tmp_path / "contingency.png", "k-means clusters")

    assert path == tmp_path / "contingency.png"
    assert path.read_bytes().startswith(PNG_SIGNATURE)


def test_heatmaps_handle_no_tables_and_empty_table(tmp_path):
    empty = cluster_attribute_contingency([], [])

    first = plot_contingency_heatmaps({}, tmp_path / "none.png", "no attributes")
    second = plot_contingency_heatmaps({"length": empty}, tmp_path / "empty.png", "empty")

    assert first.read_bytes().startswith(PNG_SIGNATURE)
    assert second.read_bytes().startswith(PNG_SIGNATURE)


def test_tradeoff_writes_png_with_null_intervals_and_values(tmp_path):
    path = plot_tradeoff(tradeoff_points(), tmp_path / "tradeoff.png")

    assert path.read_bytes().startswith(PNG_SIGNATURE)


def test_tradeoff_accepts_points_without_interval_columns(tmp_path):
    points = tradeoff_points().select("backbone", "merge_method", "similarity", "separation")

    path = plot_tradeoff(points, tmp_path / "tradeoff.png", y_label="probe accuracy on eval")

    assert path.read_bytes().startswith(PNG_SIGNATURE)


def test_slerp_curves_write_png_with_null_values(tmp_path):
    path = plot_slerp_curves(slerp_curves(), tmp_path / "slerp.png")

    assert path.read_bytes().startswith(PNG_SIGNATURE)


def test_slerp_curves_handle_empty_table(tmp_path):
    empty = slerp_curves().clear()

    path = plot_slerp_curves(empty, tmp_path / "slerp.png")

    assert path.read_bytes().startswith(PNG_SIGNATURE)


def test_plot_replaces_previous_file_atomically(tmp_path):
    target = tmp_path / "slerp.png"
    target.write_bytes(b"old")

    plot_slerp_curves(slerp_curves(), target)

    assert target.read_bytes().startswith(PNG_SIGNATURE)
    assert [p.name for p in tmp_path.iterdir()] == ["slerp.png"]
