"""Settings of the sequence dataset: families, per-split ranges, text rendering and seed."""

from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from numgeom_core.data.integers import INT64_MAX
from numgeom_core.errors import DatasetError

FAMILY_NAMES: tuple[str, ...] = (
    "primes",
    "fibonacci_like",
    "squares",
    "cubes",
    "triangular",
    "arithmetic",
    "geometric",
    "control",
)
SPLITS: tuple[str, ...] = ("train", "eval", "ood")
TERMS_FIELD = "{terms}"

# With two terms every increasing pair is an arithmetic progression and fits any two-seed
# recurrence, so no family could be distinguished and control would be empty.
MIN_WINDOW_LENGTH = 3


def _require_int(name: str, value: object, minimum: int, maximum: int = INT64_MAX) -> None:
    """Raise DatasetError unless `value` is an int (not a bool) in [minimum, maximum]."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise DatasetError(f"Invalid {name} {value!r}: expected an integer.")
    if not minimum <= value <= maximum:
        bound = f"≥ {minimum}" if value < minimum else f"≤ {maximum}"
        raise DatasetError(f"Invalid {name} {value}: expected an integer {bound}.")


@dataclass(frozen=True)
class SplitSpec:
    """Size and ranges of one split; every range is inclusive.

    Attributes:
        samples_per_family: number of windows drawn for each family (≥ 1).
        min_length, max_length: number of terms in a window (≥ 3).
        min_first_term, max_first_term: range of the first term of a window (≥ 1).
    """

    samples_per_family: int
    min_length: int
    max_length: int
    min_first_term: int
    max_first_term: int

    def __post_init__(self) -> None:
        _require_int("samples_per_family", self.samples_per_family, 1)
        _require_int("min_length", self.min_length, MIN_WINDOW_LENGTH)
        _require_int("max_length", self.max_length, MIN_WINDOW_LENGTH)
        _require_int("min_first_term", self.min_first_term, 1)
        _require_int("max_first_term", self.max_first_term, 1)
        if self.min_length > self.max_length:
            raise DatasetError(
                f"Invalid length range: min_length {self.min_length} > max_length "
                f"{self.max_length}. Set min_length ≤ max_length."
            )
        if self.min_first_term > self.max_first_term:
            raise DatasetError(
                f"Invalid first-term range: min_first_term {self.min_first_term} > "
                f"max_first_term {self.max_first_term}. Set min_first_term ≤ max_first_term."
            )

    @property
    def lengths(self) -> range:
        """The allowed numbers of terms, min_length to max_length."""
        return range(self.min_length, self.max_length + 1)

    def describe(self) -> str:
        """Return the ranges in words, for error messages."""
        return (
            f"first term in [{self.min_first_term}, {self.max_first_term}] and "
            f"{self.min_length} to {self.max_length} terms"
        )


@dataclass(frozen=True)
class DatasetConfig:
    """Settings of the sequence dataset.

    Attributes:
        families: family names, at least two, in the order rows are written.
        train, eval, ood: size and ranges of each split. eval shares train's role as
            in-distribution data and never repeats a train window. ood must start above the
            first terms and lengths of train and eval.
        separator: text between terms when rendering; non-empty and without digits.
        template: text around the terms; contains "{terms}" exactly once, replaced literally.
        max_ratio: geometric ratios r are drawn from [2, max_ratio].
        max_difference: arithmetic differences d are drawn from [1, max_difference].
        seed: the one seed behind every random draw.
    """

    families: tuple[str, ...] = FAMILY_NAMES
    # First terms below 10^4 (magnitudes 0-3) in train and eval, at or above 10^4
    # (magnitudes 4-6) in ood, so no magnitude is shared between the two ranges.
    train: SplitSpec = field(default_factory=lambda: SplitSpec(50, 4, 8, 1, 9_999))
    eval: SplitSpec = field(default_factory=lambda: SplitSpec(50, 4, 8, 1, 9_999))
    ood: SplitSpec = field(default_factory=lambda: SplitSpec(50, 9, 12, 10_000, 999_999))
    separator: str = ", "
    template: str = TERMS_FIELD
    max_ratio: int = 5
    max_difference: int = 1_000
    seed: int = 0

    def __post_init__(self) -> None:
        if isinstance(self.families, list):
            object.__setattr__(self, "families", tuple(self.families))
        validate_structure(self)

    def split(self, name: str) -> SplitSpec:
        """Return the SplitSpec of split `name` (train, eval or ood)."""
        if name not in SPLITS:
            raise DatasetError(f"Unknown split {name!r}: expected one of {', '.join(SPLITS)}.")
        return getattr(self, name)

    def to_dict(self) -> dict[str, str | int]:
        """Return every setting as a flat dict, for example {"train.min_length": 4}.

        Families are joined with commas. from_dict reads the result back.
        """
        settings: dict[str, str | int] = {"families": ",".join(self.families)}
        for split in SPLITS:
            spec = self.split(split)
            for spec_field in fields(SplitSpec):
                settings[f"{split}.{spec_field.name}"] = getattr(spec, spec_field.name)
        settings["separator"] = self.separator
        settings["template"] = self.template
        settings["max_ratio"] = self.max_ratio
        settings["max_difference"] = self.max_difference
        settings["seed"] = self.seed
        return settings

    @classmethod
    def from_dict(cls, settings: Mapping[str, Any]) -> "DatasetConfig":
        """Build a config from to_dict's keys; a missing key keeps its default.

        Integers may be given as decimal strings (MLflow returns parameters as strings), and
        families as a comma-separated string or a list. Unknown keys raise DatasetError.
        """
        defaults = cls()
        known = set(defaults.to_dict())
        unknown = sorted(set(settings) - known)
        if unknown:
            raise DatasetError(
                f"Unknown dataset settings {unknown}: expected keys among {sorted(known)}."
            )
        merged = {**defaults.to_dict(), **settings}

        families = merged["families"]
        if isinstance(families, str):
            families = tuple(name.strip() for name in families.split(",") if name.strip())
        split_specs = {
            split: SplitSpec(
                **{
                    spec_field.name: _parse_int(
                        f"{split}.{spec_field.name}", merged[f"{split}.{spec_field.name}"]
                    )
                    for spec_field in fields(SplitSpec)
                }
            )
            for split in SPLITS
        }
        return cls(
            families=tuple(families),
            **split_specs,
            separator=merged["separator"],
            template=merged["template"],
            max_ratio=_parse_int("max_ratio", merged["max_ratio"]),
            max_difference=_parse_int("max_difference", merged["max_difference"]),
            seed=_parse_int("seed", merged["seed"]),
        )


def _parse_int(name: str, value: object) -> object:
    """Convert a decimal string to int; leave every other value for validation to judge."""
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    return value


def validate_structure(config: DatasetConfig) -> None:
    """Raise DatasetError for settings that are invalid whatever the family capacities.

    Checks the family list, the separator and template, the integer settings, the split
    types, and that ood lies above train and eval in first term and length.
    """
    _validate_families(config.families)
    _validate_text_settings(config.separator, config.template)
    _require_int("max_ratio", config.max_ratio, 2)
    _require_int("max_difference", config.max_difference, 1)
    _require_int("seed", config.seed, 0)
    for split in SPLITS:
        spec = getattr(config, split)
        if not isinstance(spec, SplitSpec):
            raise DatasetError(
                f"Invalid {split} split {spec!r}: expected a SplitSpec(samples_per_family, "
                "min_length, max_length, min_first_term, max_first_term)."
            )
    _validate_ood_ranges(config)


def _validate_families(families: object) -> None:
    if not isinstance(families, tuple) or not all(isinstance(name, str) for name in families):
        raise DatasetError(f"Invalid families {families!r}: expected a tuple of family names.")
    unknown = [name for name in families if name not in FAMILY_NAMES]
    if unknown:
        raise DatasetError(
            f"Unknown families {unknown}: known families are {', '.join(FAMILY_NAMES)}."
        )
    duplicates = sorted({name for name in families if families.count(name) > 1})
    if duplicates:
        raise DatasetError(f"Families {duplicates} are listed twice: list each family once.")
    if len(families) < 2:
        raise DatasetError(
            f"Too few families {list(families)}: clustering needs at least two families. "
            f"Add families from {', '.join(FAMILY_NAMES)}."
        )


def _validate_text_settings(separator: object, template: object) -> None:
    if not isinstance(separator, str) or not separator:
        raise DatasetError(f"Invalid separator {separator!r}: expected a non-empty string.")
    if any(character.isdigit() for character in separator):
        raise DatasetError(
            f"Invalid separator {separator!r}: it contains a digit, which would merge into the "
            "numbers. Use a separator without digits, such as ', ' or ' '."
        )
    if not isinstance(template, str) or template.count(TERMS_FIELD) != 1:
        raise DatasetError(
            f"Invalid template {template!r}: it must contain {TERMS_FIELD} exactly once, for "
            f"example 'Sequence: {TERMS_FIELD}'."
        )


def _validate_ood_ranges(config: DatasetConfig) -> None:
    in_distribution_first_term = max(config.train.max_first_term, config.eval.max_first_term)
    if config.ood.min_first_term <= in_distribution_first_term:
        raise DatasetError(
            f"Invalid ood.min_first_term {config.ood.min_first_term}: out-of-distribution "
            f"windows must start above the train and eval first terms (up to "
            f"{in_distribution_first_term}). Set ood.min_first_term to at least "
            f"{in_distribution_first_term + 1}."
        )
    in_distribution_length = max(config.train.max_length, config.eval.max_length)
    if config.ood.min_length <= in_distribution_length:
        raise DatasetError(
            f"Invalid ood.min_length {config.ood.min_length}: out-of-distribution windows "
            f"must be longer than train and eval windows (up to {in_distribution_length} "
            f"terms). Set ood.min_length to at least {in_distribution_length + 1}."
        )
