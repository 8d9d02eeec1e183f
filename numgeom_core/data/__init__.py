"""Labelled windows of integer sequences, rendered as text, for embedding-geometry experiments.

Each sample is a window of consecutive terms of one family (primes, Fibonacci-like, squares,
cubes, triangular, arithmetic, geometric, or control), checked by exact integer arithmetic to
belong to its own family and to no other selected family.
"""

from numgeom_core.data.config import FAMILY_NAMES, SPLITS, DatasetConfig, SplitSpec
from numgeom_core.data.dataset import (
    NUISANCE_ATTRIBUTES,
    SCHEMA,
    build_dataset,
    magnitude,
    parity,
    render_text,
    validate_dataset,
)
from numgeom_core.data.families import FAMILIES, Family, Window
from numgeom_core.data.feasibility import check_feasible
from numgeom_core.data.sampling import validate_sample

__all__ = [
    "FAMILIES",
    "FAMILY_NAMES",
    "SCHEMA",
    "SPLITS",
    "DatasetConfig",
    "Family",
    "SplitSpec",
    "Window",
    "build_dataset",
    "check_feasible",
    "magnitude",
    "NUISANCE_ATTRIBUTES",
    "parity",
    "render_text",
    "validate_dataset",
    "validate_sample",
]
