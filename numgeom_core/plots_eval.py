"""Figures of the evaluation: cluster × attribute heat maps, the separation-versus-similarity
trade-off, and metric curves along the SLERP path.

Every figure is written atomically as PNG, so a killed run leaves the previous file intact.
An undefined value (null) is left out of a figure and named in a note on it, and a null
interval end draws no interval for that value.
"""

import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on servers; must precede the pyplot import

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402
from matplotlib.image import AxesImage  # noqa: E402

from numgeom_core.atomic import atomic_path  # noqa: E402
from numgeom_core.errors import MetricError  # noqa: E402
from numgeom_core.metrics.contingency import CLUSTER_COLUMN  # noqa: E402
from numgeom_core.metrics.registry import metric_spec  # noqa: E402

DPI = 110
METHOD_MARKERS = {"base": "o", "lora": "s", "soup": "^", "slerp": "D"}
OTHER_MARKERS = ("v", "P", "X", "*", "<", ">", "h")
PREFERRED_METRIC_ORDER = ("silhouette", "davies_bouldin")
MAX_NOTE_ITEMS = 6


def plot_contingency_heatmaps(tables: Mapping[str, pl.DataFrame], path: Path, title: str) -> Path:
    """Draw one heat map per attribute: clusters as rows, attribute values as columns.

    `tables` maps attribute name -> `cluster_attribute_contingency` output (column
    "cluster", then one count column per value). Colour is the row-normalised share of a
    cluster's samples that take the value, from 0 to 1. Each cell is annotated with that
    share and the count. An empty cluster row stays at 0.
    """
    panels = max(len(tables), 1)
    fig, axes = plt.subplots(1, panels, figsize=(4.6 * panels + 0.8, 4.2), squeeze=False)
    image = None
    for ax, (attribute, table) in zip(axes[0], tables.items(), strict=False):
        image = draw_heatmap(ax, table)
        ax.set_title(attribute, fontsize=10)
    if not tables:
        note(axes[0][0], "no attributes")
    if image is not None:
        fig.colorbar(image, ax=axes[0].tolist(), label="share of the cluster", shrink=0.85)
    fig.suptitle(title)
    return save(fig, path)


def draw_heatmap(ax: plt.Axes, table: pl.DataFrame) -> AxesImage | None:
    """Draw one contingency table as a row-normalised, annotated heat map on `ax`."""
    value_columns = [name for name in table.columns if name != CLUSTER_COLUMN]
    if table.height == 0 or not value_columns:
        note(ax, "empty table")
        return None
    counts = table.select(value_columns).to_numpy().astype(np.float64)  # [clusters, values]
    row_totals = counts.sum(axis=1, keepdims=True)  # [clusters, 1]
    shares = np.divide(counts, row_totals, out=np.zeros_like(counts), where=row_totals > 0)

    image = ax.imshow(shares, vmin=0.0, vmax=1.0, cmap="viridis", aspect="auto")
    font_size = 8 if counts.size <= 40 else 6
    for (row, column), share in np.ndenumerate(shares):
        colour = "black" if share > 0.6 else "white"
        text = f"{share:.2f}\n({int(counts[row, column])})"
        ax.text(column, row, text, ha="center", va="center", color=colour, fontsize=font_size)
    ax.set_xticks(range(len(value_columns)), value_columns, rotation=30, ha="right")
    ax.set_yticks(range(table.height), [str(c) for c in table[CLUSTER_COLUMN].to_list()])
    ax.set_ylabel("cluster")
    return image


def plot_tradeoff(
    points: pl.DataFrame,
    path: Path,
    x_label: str = "linear CKA to the base model",
    y_label: str = "silhouette on eval",
    title: str = "Task separation against similarity to the base model",
) -> Path:
    """Draw one point per backbone × merge method: similarity to base against separation.

    `points` has columns backbone, merge_method, similarity, separation, and optionally
    similarity_low, similarity_high, separation_low, separation_high for the interval
    bars. Colour marks the backbone, the marker the merge method, and each point is labelled.
    A point with a null similarity or separation is not drawn and is named in a note.
    """
    backbones = sorted(set(points["backbone"].to_list()))
    colours = series_colours(backbones)
    markers = method_markers(points["merge_method"].to_list())

    fig, ax = plt.subplots(figsize=(7.2, 5.4))
    skipped = []
    for row in points.iter_rows(named=True):
        x, y = row["similarity"], row["separation"]
        label = f"{row['backbone']}/{row['merge_method']}"
        if not (is_number(x) and is_number(y)):
            skipped.append(label)
            continue
        colour, marker = colours[row["backbone"]], markers[row["merge_method"]]
        draw_interval(ax, row.get("similarity_low"), row.get("similarity_high"), y, colour, True)
        draw_interval(ax, row.get("separation_low"), row.get("separation_high"), x, colour, False)
        ax.scatter([x], [y], color=colour, marker=marker, s=55, zorder=3)
        ax.annotate(label, (x, y), textcoords="offset points", xytext=(5, 5), fontsize=7)
    if skipped:
        note(ax, "not drawn (undefined): " + shorten(skipped), corner=True)

    ax.set_xlabel(x_label)
    ax.set_ylabel(y_label)
    ax.set_title(title, fontsize=11)
    legend_entries(ax, colours, markers)
    fig.tight_layout()
    return save(fig, path)


def draw_interval(
    ax: plt.Axes, low: object, high: object, at: float, colour: tuple, horizontal: bool
) -> None:
    """Draw the segment low..high at `at`, or nothing when an end is null or nan.

    A segment rather than an error bar, because a percentile interval need not contain
    the point, and matplotlib rejects negative error lengths.
    """
    if not (is_number(low) and is_number(high)):
        return
    if horizontal:
        ax.hlines(at, low, high, color=colour, linewidth=1.2, alpha=0.8, zorder=2)
    else:
        ax.vlines(at, low, high, color=colour, linewidth=1.2, alpha=0.8, zorder=2)


def plot_slerp_curves(
    curves: pl.DataFrame, path: Path, title: str = "Metrics along the SLERP path"
) -> Path:
    """Draw each metric against the SLERP t, one line per backbone, intervals shaded.

    `curves` has columns backbone, t, metric, value, low, high (low and high may be null).
    One panel per metric: silhouette, then davies_bouldin, then any others by name. A null
    value breaks the line at that t.
    """
    metrics = ordered(curves["metric"].to_list(), PREFERRED_METRIC_ORDER)
    backbones = sorted(set(curves["backbone"].to_list()))
    colours = series_colours(backbones)

    panels = max(len(metrics), 1)
    fig, axes = plt.subplots(1, panels, figsize=(5.0 * panels, 4.0), squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=False):
        for backbone in backbones:
            line = curves.filter(
                (pl.col("metric") == metric) & (pl.col("backbone") == backbone)
            ).sort("t")
            if line.height:
                draw_curve(ax, line, colours[backbone], backbone)
        ax.set_xlabel("SLERP t (0 = base, 1 = LoRA)")
        ax.set_ylabel(metric_axis_label(metric))
        ax.set_title(metric, fontsize=10)
        ax.legend(title="backbone", fontsize=8)
    if not metrics:
        note(axes[0][0], "no curves")
    fig.suptitle(title)
    fig.tight_layout()
    return save(fig, path)


def draw_curve(ax: plt.Axes, line: pl.DataFrame, colour: tuple, label: str) -> None:
    """Draw one backbone's metric against t, with the interval shaded where both ends exist."""
    t = line["t"].to_numpy().astype(np.float64)
    value = as_float_array(line["value"])
    ax.plot(t, value, marker="o", markersize=4, color=colour, label=label)
    if "low" in line.columns and "high" in line.columns:
        low, high = as_float_array(line["low"]), as_float_array(line["high"])
        shaded = ~(np.isnan(low) | np.isnan(high))
        if shaded.any():
            low = np.where(shaded, low, 0.0)  # the values under where=False are not drawn
            high = np.where(shaded, high, 0.0)
            ax.fill_between(t, low, high, where=shaded, color=colour, alpha=0.2, linewidth=0)


def metric_axis_label(metric: str) -> str:
    """Return the metric name with its better direction where the registry defines one."""
    try:
        better = metric_spec(metric).higher_is_better
    except MetricError:
        return metric
    if better is None:
        return metric
    return f"{metric} ({'higher' if better else 'lower'} is better)"


def legend_entries(ax: plt.Axes, colours: dict[str, tuple], markers: dict[str, str]) -> None:
    """Add a legend with one colour entry per backbone and one marker entry per method."""
    handles = [
        plt.Line2D([], [], marker="o", linestyle="", color=colour, label=backbone)
        for backbone, colour in colours.items()
    ]
    handles += [
        plt.Line2D([], [], marker=marker, linestyle="", color="grey", label=method)
        for method, marker in markers.items()
    ]
    ax.legend(handles=handles, fontsize=8, loc="best")


def series_colours(names: Sequence[str]) -> dict[str, tuple]:
    """Return a fixed colour per name, in the order given."""
    cmap = plt.get_cmap("tab10" if len(names) <= 10 else "tab20")
    return {name: cmap(i % cmap.N) for i, name in enumerate(names)}


def method_markers(methods: Sequence[str]) -> dict[str, str]:
    """Return a marker per merge method: fixed ones for base, lora, soup and slerp."""
    markers = {}
    others = iter(OTHER_MARKERS * (len(methods) // len(OTHER_MARKERS) + 1))
    for method in ordered(methods, tuple(METHOD_MARKERS)):
        markers[method] = METHOD_MARKERS.get(method) or next(others)
    return markers


def ordered(values: Sequence[str], preferred: Sequence[str]) -> list[str]:
    """Return the distinct values: those in `preferred` first, in its order, then sorted."""
    present = set(values)
    first = [value for value in preferred if value in present]
    return first + sorted(present - set(first))


def is_number(value: object) -> bool:
    """Return whether `value` is a finite number (not None, nan or inf)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def as_float_array(column: pl.Series) -> np.ndarray:
    """Return the column as float64 [n], with nulls as nan."""
    return column.cast(pl.Float64).fill_null(float("nan")).to_numpy()


def shorten(items: list[str]) -> str:
    """Join up to MAX_NOTE_ITEMS items and count the rest."""
    shown = ", ".join(items[:MAX_NOTE_ITEMS])
    extra = len(items) - MAX_NOTE_ITEMS
    return shown if extra <= 0 else f"{shown} and {extra} more"


def note(ax: plt.Axes, text: str, corner: bool = False) -> None:
    """Write `text` on the axes: centred, or small in the lower left corner."""
    if corner:
        ax.text(0.01, 0.01, text, transform=ax.transAxes, fontsize=7, va="bottom", ha="left")
    else:
        ax.text(0.5, 0.5, text, transform=ax.transAxes, ha="center", va="center")


def save(fig: plt.Figure, path: Path) -> Path:
    """Write `fig` as PNG to `path` atomically, close it, and return the path."""
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI)
    plt.close(fig)
    return path
