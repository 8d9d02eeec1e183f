"""Figures of the study: metric bars across backbone × merge method, and UMAP maps.

Every figure is written atomically as PNG, so a killed run leaves the previous file intact.
"""

import math
from collections.abc import Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on servers; must precede the pyplot import

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import polars as pl  # noqa: E402

from numgeom_core.atomic import atomic_path  # noqa: E402

DPI = 110


def plot_metric_bars(table: pl.DataFrame, metric: str, path: Path, better: str) -> Path:
    """Draw `metric` as grouped bars: one panel per split, backbones on x, one bar per method.

    `table` is the long metrics table (columns backbone, merge_method, split, metric,
    value). An undefined value is drawn as an empty slot labelled "n/a". `better` is
    "higher" or "lower" and goes into the title, so the direction cannot be misread.
    """
    rows = table.filter(pl.col("metric") == metric)
    splits = _ordered_unique(rows["split"].to_list(), ("train", "eval", "ood"))
    backbones = sorted(set(rows["backbone"].to_list()))
    methods = _ordered_unique(rows["merge_method"].to_list(), ("base",))

    fig, axes = plt.subplots(
        1, max(len(splits), 1), figsize=(4.2 * max(len(splits), 1), 3.8), squeeze=False
    )
    width = 0.8 / max(len(methods), 1)
    for ax, split in zip(axes[0], splits, strict=False):
        for j, method in enumerate(methods):
            xs = np.arange(len(backbones)) + (j - (len(methods) - 1) / 2) * width
            values = [_lookup(rows, backbone, method, split) for backbone in backbones]
            heights = [0.0 if v is None else v for v in values]
            ax.bar(xs, heights, width=width, label=method)
            for x, value in zip(xs, values, strict=True):
                if value is None:
                    ax.text(x, 0, "n/a", ha="center", va="bottom", fontsize=8)
        ax.set_xticks(np.arange(len(backbones)), backbones, rotation=20, ha="right")
        ax.set_title(f"{split}")
        ax.axhline(0, color="black", linewidth=0.6)
    axes[0][0].set_ylabel(f"{metric} ({better} is better)")
    axes[0][-1].legend(title="merge method", fontsize=8)
    fig.suptitle(f"{metric} by backbone and merge method")
    fig.tight_layout()
    return _save(fig, path)


def plot_umap_grid(maps: pl.DataFrame, path: Path, families: Sequence[str]) -> Path:
    """Draw one UMAP map per backbone × merge method, rows backbones, columns methods.

    `maps` has columns backbone, merge_method, family, x, y. Colours are fixed per family
    across all panels, in the order of `families`.
    """
    backbones = sorted(set(maps["backbone"].to_list()))
    methods = _ordered_unique(maps["merge_method"].to_list(), ("base",))
    colours = _family_colours(families)

    fig, axes = plt.subplots(
        len(backbones),
        len(methods),
        figsize=(4.0 * len(methods) + 1.8, 3.6 * len(backbones)),
        squeeze=False,
    )
    for i, backbone in enumerate(backbones):
        for j, method in enumerate(methods):
            cell = maps.filter(
                (pl.col("backbone") == backbone) & (pl.col("merge_method") == method)
            )
            _scatter(axes[i][j], cell, colours)
            axes[i][j].set_title(f"{backbone} / {method}", fontsize=9)
    _legend(fig, colours)
    fig.tight_layout(rect=(0, 0, 0.86, 1))
    return _save(fig, path)


def plot_umap_cell(cell: pl.DataFrame, path: Path, families: Sequence[str], title: str) -> Path:
    """Draw a single UMAP map (columns family, x, y), coloured by family."""
    colours = _family_colours(families)
    fig, ax = plt.subplots(figsize=(5.8, 4.2))
    _scatter(ax, cell, colours)
    ax.set_title(title, fontsize=10)
    _legend(fig, colours)
    fig.tight_layout(rect=(0, 0, 0.76, 1))
    return _save(fig, path)


def plot_loss_curve(
    losses: Sequence[float], stage_of_step: Sequence[int], path: Path, title: str
) -> Path:
    """Draw the training loss per step, with a dashed line at each stage boundary."""
    fig, ax = plt.subplots(figsize=(6.0, 3.6))
    steps = np.arange(1, len(losses) + 1)
    ax.plot(steps, losses, marker="o", markersize=2.5, linewidth=1.2)
    for step in range(1, len(stage_of_step)):
        if stage_of_step[step] != stage_of_step[step - 1]:
            ax.axvline(step + 0.5, color="grey", linestyle="--", linewidth=0.8)
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return _save(fig, path)


def plot_sweep_curves(curves: pl.DataFrame, path: Path, metrics: Sequence[str]) -> Path:
    """Draw each metric against the SLERP t, one line per backbone (columns backbone, t,
    metric, value)."""
    fig, axes = plt.subplots(1, len(metrics), figsize=(4.4 * len(metrics), 3.6), squeeze=False)
    for ax, metric in zip(axes[0], metrics, strict=True):
        rows = curves.filter(pl.col("metric") == metric).sort("t")
        for backbone in sorted(set(rows["backbone"].to_list())):
            line = rows.filter(pl.col("backbone") == backbone)
            ax.plot(line["t"], line["value"], marker="o", label=backbone)
        ax.set_xlabel("t (0 = base, 1 = LoRA-merged)")
        ax.set_title(metric)
    axes[0][-1].legend(fontsize=8)
    fig.suptitle("SLERP from base to the LoRA-merged weights")
    fig.tight_layout()
    return _save(fig, path)


def _scatter(ax: plt.Axes, cell: pl.DataFrame, colours: dict[str, tuple]) -> None:
    for family, colour in colours.items():
        points = cell.filter(pl.col("family") == family)
        ax.scatter(points["x"], points["y"], s=7, color=colour, alpha=0.8, linewidths=0)
    ax.set_xticks([])
    ax.set_yticks([])
    if cell.height == 0:
        ax.text(0.5, 0.5, "not materialised", ha="center", va="center", transform=ax.transAxes)


def _legend(fig: plt.Figure, colours: dict[str, tuple]) -> None:
    handles = [
        plt.Line2D([], [], marker="o", linestyle="", color=colour, label=family)
        for family, colour in colours.items()
    ]
    fig.legend(handles=handles, loc="center right", title="family", fontsize=8)


def _family_colours(families: Sequence[str]) -> dict[str, tuple]:
    cmap = plt.get_cmap("tab10" if len(families) <= 10 else "tab20")
    return {family: cmap(i % cmap.N) for i, family in enumerate(families)}


def _lookup(rows: pl.DataFrame, backbone: str, method: str, split: str) -> float | None:
    match = rows.filter(
        (pl.col("backbone") == backbone)
        & (pl.col("merge_method") == method)
        & (pl.col("split") == split)
    )
    if match.height == 0:
        return None
    value = match["value"][0]
    return None if value is None or math.isnan(value) else float(value)


def _ordered_unique(values: Sequence[str], preferred: Sequence[str]) -> list[str]:
    present = set(values)
    first = [v for v in preferred if v in present]
    return first + sorted(present - set(first))


def _save(fig: plt.Figure, path: Path) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=DPI)
    plt.close(fig)
    return path
