"""Drawing distinct, mutually exclusive windows of one family for one split."""

import hashlib
import logging
import random
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence

from numgeom_core.data.config import FAMILY_NAMES, MIN_WINDOW_LENGTH, DatasetConfig, SplitSpec
from numgeom_core.data.families import FAMILIES, Family, Window
from numgeom_core.data.integers import INT64_MAX
from numgeom_core.errors import DatasetError

logger = logging.getLogger(__name__)

# A family with at most this many windows in a split's ranges is listed in full, shuffled,
# and taken without replacement. A larger one is rejection-sampled.
ENUMERATION_LIMIT = 50_000
# Rejection sampling gives up after this many draws per requested sample, plus a fixed margin.
DRAWS_PER_SAMPLE = 50
EXTRA_DRAWS = 1_000


def family_rng(seed: int, split: str, family: str) -> random.Random:
    """Return the random generator of one family in one split.

    Seeded from SHA-256 of (seed, split, family), so adding or removing a family leaves the
    draws of the others unchanged.
    """
    digest = hashlib.sha256(f"numgeom-data:{seed}:{split}:{family}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def rule_violation(terms: Sequence[int], family: str, families: Iterable[str]) -> str | None:
    """Return why `terms` cannot be a `family` sample among `families`, or None if they can.

    A sample must satisfy its own family's test and fail the test of every other family
    in `families`. The control test passes exactly when no structured family's test does,
    so a window that passed its own test needs no test against control or, if it is a
    control window, against anything else.
    """
    if not FAMILIES[family].test(terms):
        return f"they do not satisfy the {family} rule ({FAMILIES[family].rule})"
    if family == "control":
        return None
    matched = [
        other
        for other in families
        if other not in (family, "control") and FAMILIES[other].test(terms)
    ]
    if matched:
        return f"they also satisfy {', '.join(matched)}, and families must be mutually exclusive"
    return None


def validate_sample(terms: Sequence[int], family: str, families: Sequence[str]) -> None:
    """Raise DatasetError unless `terms` is a valid sample of `family` among `families`.

    Valid means: at least three integer terms in [1, 2^63 - 1], the family's own test
    passes, and no other listed family's test passes.
    """
    unknown = [name for name in [family, *families] if name not in FAMILY_NAMES]
    if unknown:
        raise DatasetError(
            f"Unknown families {unknown}: known families are {', '.join(FAMILY_NAMES)}."
        )
    if family not in families:
        raise DatasetError(
            f"Family {family!r} is not among the dataset's families {list(families)}: "
            "add it to families or validate against a listed family."
        )
    if len(terms) < MIN_WINDOW_LENGTH:
        raise DatasetError(
            f"Invalid sample {list(terms)}: a window needs at least {MIN_WINDOW_LENGTH} terms."
        )
    for term in terms:
        if isinstance(term, bool) or not isinstance(term, int) or not 1 <= term <= INT64_MAX:
            raise DatasetError(
                f"Invalid term {term!r} in sample {list(terms)}: terms must be integers in "
                f"[1, {INT64_MAX}]."
            )

    reason = rule_violation(terms, family, families)
    if reason is not None:
        raise DatasetError(f"Invalid {family} sample {list(terms)}: {reason}.")


def sample_family_windows(
    family: Family,
    split: str,
    config: DatasetConfig,
    excluded: frozenset[Window] = frozenset(),
) -> list[Window]:
    """Draw `samples_per_family` distinct valid windows of `family` for `split`.

    Windows in `excluded` (the train windows, when drawing eval) are skipped. A family with
    at most ENUMERATION_LIMIT windows is listed, shuffled and taken without replacement.
    A larger one is drawn with family.generate, at most DRAWS_PER_SAMPLE per sample plus
    EXTRA_DRAWS times. Raises DatasetError naming the family and split when too few valid
    windows turn up.
    """
    spec = config.split(split)
    rng = family_rng(config.seed, split, family.name)
    needed = spec.samples_per_family

    candidates = _candidates(family, spec, config, rng)
    accepted: list[Window] = []
    seen: set[Window] = set()
    rejections: Counter[str] = Counter()
    for candidate in candidates:
        if len(accepted) == needed:
            break
        if candidate is None:
            rejections["outside the first-term range"] += 1
        elif candidate in seen or candidate in excluded:
            rejections["already drawn or in train"] += 1
        elif rule_violation(candidate, family.name, config.families) is not None:
            rejections["matches another family"] += 1
        else:
            accepted.append(candidate)
        if candidate is not None:
            seen.add(candidate)

    logger.debug(
        "Drew %d %s windows for %s, rejected %d: %s",
        len(accepted),
        family.name,
        split,
        rejections.total(),
        dict(rejections),
    )
    if len(accepted) < needed:
        raise DatasetError(
            f"Found only {len(accepted)} of {needed} valid {family.name} windows for the {split} "
            f"split ({spec.describe()}) after rejecting {dict(rejections)}. Lower "
            f"{split}.samples_per_family or widen the {split} ranges."
        )
    return accepted


def _candidates(
    family: Family, spec: SplitSpec, config: DatasetConfig, rng: random.Random
) -> Iterator[Window | None]:
    """Yield candidate windows: a shuffled full list if small, else bounded random draws."""
    if family.count_windows(spec, config, cap=ENUMERATION_LIMIT + 1) <= ENUMERATION_LIMIT:
        windows = list(family.windows(spec, config))
        rng.shuffle(windows)
        yield from windows
        return
    for _ in range(DRAWS_PER_SAMPLE * spec.samples_per_family + EXTRA_DRAWS):
        yield family.generate(rng, spec, config)
