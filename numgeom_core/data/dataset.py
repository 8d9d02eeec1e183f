"""The sequence dataset: windows of every family and split, rendered as text, in one table."""

import logging
from collections.abc import Sequence

import polars as pl

from numgeom_core.data.config import SPLITS, TERMS_FIELD, DatasetConfig
from numgeom_core.data.families import FAMILIES, Window
from numgeom_core.data.feasibility import check_feasible
from numgeom_core.data.sampling import sample_family_windows, validate_sample
from numgeom_core.errors import DatasetError

logger = logging.getLogger(__name__)

SCHEMA: dict[str, pl.DataType] = {
    "sample_id": pl.Utf8(),
    "split": pl.Utf8(),
    "family": pl.Utf8(),
    "text": pl.Utf8(),
    "terms": pl.List(pl.Int64()),
    "length": pl.Int32(),
    "magnitude": pl.Int32(),
    "parity": pl.Utf8(),
}
# Report at most this many bad rows in one DatasetError.
_MAX_REPORTED_PROBLEMS = 5


# Sample attributes that are not the label; clusters should encode as little of them as possible.
NUISANCE_ATTRIBUTES = ("length", "magnitude", "parity")


def render_text(terms: Sequence[int], config: DatasetConfig) -> str:
    """Return the terms joined by config.separator, put in place of {terms} in config.template."""
    joined = config.separator.join(str(term) for term in terms)
    return config.template.replace(TERMS_FIELD, joined)


def magnitude(first_term: int) -> int:
    """Return the order of magnitude of a positive integer: its number of decimal digits - 1."""
    return len(str(first_term)) - 1


def parity(first_term: int) -> str:
    """Return "even" or "odd"."""
    return "even" if first_term % 2 == 0 else "odd"


def build_dataset(config: DatasetConfig) -> pl.DataFrame:
    """Generate the dataset described by `config`.

    Returns one row per window with columns SCHEMA, ordered by split (train, eval, ood),
    then family in config order, then draw index. The same config always gives the same
    frame. Raises DatasetError if the config is infeasible or a row fails validation.
    """
    check_feasible(config)

    columns: dict[str, list] = {name: [] for name in SCHEMA}
    train_windows: dict[str, frozenset[Window]] = {}
    for split in SPLITS:
        spec = config.split(split)
        id_width = max(4, len(str(spec.samples_per_family - 1)))
        for name in config.families:
            excluded = train_windows.get(name, frozenset()) if split == "eval" else frozenset()
            windows = sample_family_windows(FAMILIES[name], split, config, excluded)
            if split == "train":
                train_windows[name] = frozenset(windows)
            for index, window in enumerate(windows):
                _append_row(
                    columns, f"{split}-{name}-{index:0{id_width}d}", split, name, window, config
                )

    frame = pl.DataFrame(columns, schema=SCHEMA)
    validate_dataset(frame, config)
    logger.info(
        "Built the sequence dataset: %d rows of %d families (%s)",
        frame.height,
        len(config.families),
        ", ".join(f"{config.split(split).samples_per_family} {split}" for split in SPLITS),
    )
    return frame


def _append_row(
    columns: dict[str, list],
    sample_id: str,
    split: str,
    family: str,
    window: Window,
    config: DatasetConfig,
) -> None:
    columns["sample_id"].append(sample_id)
    columns["split"].append(split)
    columns["family"].append(family)
    columns["text"].append(render_text(window, config))
    columns["terms"].append(list(window))
    columns["length"].append(len(window))
    columns["magnitude"].append(magnitude(window[0]))
    columns["parity"].append(parity(window[0]))


def validate_dataset(frame: pl.DataFrame, config: DatasetConfig) -> None:
    """Raise DatasetError unless `frame` is a valid dataset for `config`.

    Checks the column names and dtypes and the number of rows per split and family. Each
    row must follow its family's rule and no other family's, match its text and nuisance
    attributes to its terms, and lie in its split's ranges. Sample ids must be unique,
    windows unique within a split, and train and eval must share no window.
    """
    if dict(frame.schema) != SCHEMA:
        raise DatasetError(
            f"Invalid dataset columns {dict(frame.schema)}: expected exactly {SCHEMA}."
        )

    problems: list[str] = []
    seen: dict[str, set[tuple[int, ...]]] = {split: set() for split in SPLITS}
    for row in frame.iter_rows(named=True):
        terms = tuple(row["terms"] or ())
        problem = _row_problem(row, terms, config)
        if problem is None and terms in seen[row["split"]]:
            problem = f"window {list(terms)} appears twice in the {row['split']} split"
        if problem is not None:
            problems.append(f"{row['sample_id']}: {problem}")
        else:
            seen[row["split"]].add(terms)

    shared = seen["train"] & seen["eval"]
    if shared:
        problems.append(f"train and eval share {len(shared)} windows, such as {list(min(shared))}")
    if frame["sample_id"].n_unique() != frame.height:
        problems.append("sample_id values are not unique")
    problems.extend(_count_problems(frame, config))
    if problems:
        raise DatasetError(
            f"Dataset validation failed for {len(problems)} rows or checks: "
            + "; ".join(problems[:_MAX_REPORTED_PROBLEMS])
        )


def _count_problems(frame: pl.DataFrame, config: DatasetConfig) -> list[str]:
    """Return one message per (split, family) whose row count differs from samples_per_family."""
    counts = {
        (split, family): count
        for split, family, count in frame.group_by("split", "family").len().iter_rows()
    }
    expected = {
        (split, family): config.split(split).samples_per_family
        for split in SPLITS
        for family in config.families
    }
    return [
        f"{split} {family} has {counts.get((split, family), 0)} rows, expected "
        f"{expected.get((split, family), 0)}"
        for split, family in sorted(set(counts) | set(expected))
        if counts.get((split, family), 0) != expected.get((split, family), 0)
    ]


def _row_problem(row: dict, terms: tuple[int, ...], config: DatasetConfig) -> str | None:
    """Return what is wrong with one row, or None."""
    if row["split"] not in SPLITS:
        return f"split {row['split']!r} is not one of {', '.join(SPLITS)}"
    try:
        validate_sample(terms, row["family"], config.families)
    except DatasetError as error:
        return str(error)

    spec = config.split(row["split"])
    if not spec.min_first_term <= terms[0] <= spec.max_first_term:
        return f"first term {terms[0]} is outside the {row['split']} range ({spec.describe()})"
    if not spec.min_length <= len(terms) <= spec.max_length:
        return f"length {len(terms)} is outside the {row['split']} range ({spec.describe()})"
    expected = {
        "text": render_text(terms, config),
        "length": len(terms),
        "magnitude": magnitude(terms[0]),
        "parity": parity(terms[0]),
    }
    for column, value in expected.items():
        if row[column] != value:
            return f"{column} is {row[column]!r}, expected {value!r} from the terms"
    return None
