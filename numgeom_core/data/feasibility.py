"""Checks, before any generation, that a dataset config can be satisfied.

Capacity counts are exact counts of the distinct windows each family can draw in a split's
ranges. They do not subtract the rare windows that also satisfy another family (such as
9, 16, 25, which is both squares and Fibonacci-like), so the sampler still raises if
exclusivity leaves too few.
"""

from numgeom_core.data.config import SPLITS, DatasetConfig, SplitSpec, validate_structure
from numgeom_core.data.families import FAMILIES, Family
from numgeom_core.data.integers import INT64_MAX
from numgeom_core.errors import DatasetError


def check_feasible(config: DatasetConfig) -> None:
    """Raise DatasetError if `config` cannot produce its dataset.

    Checks the settings themselves, that every term stays within int64, and that each
    family has enough distinct windows: train and eval must not share a window, so where
    their ranges overlap they draw from one pool.
    """
    if not isinstance(config, DatasetConfig):
        raise DatasetError(f"Invalid dataset config {config!r}: expected a DatasetConfig.")
    validate_structure(config)

    for name in config.families:
        family = FAMILIES[name]
        for split in SPLITS:
            _check_int64(family, split, config)
        _check_capacity(family, config)


def _fix_hint(family: Family, split: str) -> str:
    settings = [f"{split}.max_first_term", f"{split}.max_length", *family.tuning_settings]
    return ", ".join(settings)


def _check_int64(family: Family, split: str, config: DatasetConfig) -> None:
    spec = config.split(split)
    largest = family.max_term(spec, config)
    if largest > INT64_MAX:
        raise DatasetError(
            f"Family {family.name!r} can reach {largest} in the {split} split ({spec.describe()}), "
            f"above the int64 maximum {INT64_MAX}. Lower {_fix_hint(family, split)}."
        )


def overlap(first: SplitSpec, second: SplitSpec) -> SplitSpec | None:
    """Return the ranges both specs allow (samples_per_family 1), or None if they are disjoint."""
    min_length = max(first.min_length, second.min_length)
    max_length = min(first.max_length, second.max_length)
    min_first_term = max(first.min_first_term, second.min_first_term)
    max_first_term = min(first.max_first_term, second.max_first_term)
    if min_length > max_length or min_first_term > max_first_term:
        return None
    return SplitSpec(1, min_length, max_length, min_first_term, max_first_term)


def _check_capacity(family: Family, config: DatasetConfig) -> None:
    train, eval_ = config.train, config.eval
    _require_windows(family, config, "train", train.samples_per_family, "")

    shared = overlap(train, eval_)
    train_windows_in_eval = 0
    if shared is not None:
        train_windows_in_eval = family.count_windows(shared, config, cap=train.samples_per_family)
    needed = eval_.samples_per_family + train_windows_in_eval
    if train_windows_in_eval == 0:
        reason = ""
    elif _ranges(train) == _ranges(eval_):
        reason = (
            f" ({train.samples_per_family} train + {eval_.samples_per_family} eval, because "
            "the two splits share their ranges and must not share a window)"
        )
    else:
        reason = (
            f" ({eval_.samples_per_family} eval + up to {train_windows_in_eval} train windows "
            "that fall in the eval ranges, which eval must not repeat)"
        )
    _require_windows(family, config, "eval", needed, reason)

    _require_windows(family, config, "ood", config.ood.samples_per_family, "")


def _ranges(spec: SplitSpec) -> tuple[int, int, int, int]:
    return (spec.min_length, spec.max_length, spec.min_first_term, spec.max_first_term)


def _require_windows(
    family: Family, config: DatasetConfig, split: str, needed: int, reason: str
) -> None:
    spec = config.split(split)
    available = family.count_windows(spec, config, cap=needed)
    if available >= needed:
        return
    settings_to_widen = [
        f"{split}.min_first_term/max_first_term",
        f"{split}.min_length/max_length",
        *family.tuning_settings,
    ]
    raise DatasetError(
        f"Family {family.name!r} has only {available} distinct windows in the {split} split "
        f"({spec.describe()}), but {needed} are needed{reason}. Lower "
        f"{split}.samples_per_family, or widen {', '.join(settings_to_widen)}."
    )
