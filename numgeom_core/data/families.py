"""The sequence families: rule, membership test, and how windows are drawn, listed and counted.

A window is a tuple of consecutive terms of one sequence. Every family draws the window length
uniformly from the split's lengths, then its parameters; the first term always lies in the
split's first-term range.
"""

import itertools
import math
import random
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Sequence

from numgeom_core.data.config import FAMILY_NAMES, DatasetConfig, SplitSpec
from numgeom_core.data.integers import (
    integer_cube_root,
    largest_triangular_index,
    next_prime,
    previous_prime,
    primes_between,
)
from numgeom_core.data.membership import (
    is_arithmetic,
    is_consecutive_cubes,
    is_consecutive_primes,
    is_consecutive_squares,
    is_consecutive_triangular,
    is_control,
    is_fibonacci_like,
    is_geometric,
)

Window = tuple[int, ...]

# Each gap of a control window is drawn from [1, max(first term, CONTROL_MIN_GAP_BOUND)], so
# control windows grow at a pace similar to the structured families. The floor of 10 gives a
# window starting at 1 ten choices per gap, where a bound of 1 would force 1, 2, 3, ...
CONTROL_MIN_GAP_BOUND = 10


class Family(ABC):
    """A sequence family: its name, its rule in words and an exact membership test.

    Subclasses also draw random windows (generate), list every window in a split's ranges
    (windows) and count them (count_windows), so a sampler can enumerate small families
    and rejection-sample large ones. `tuning_settings` names the DatasetConfig fields
    besides the split ranges that change how many windows exist.
    """

    tuning_settings: tuple[str, ...] = ()

    def __init__(self, name: str, rule: str, test: Callable[[Sequence[int]], bool]) -> None:
        self.name = name
        self.rule = rule
        self._test = test

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.name!r})"

    def test(self, terms: Sequence[int]) -> bool:
        """Return whether `terms` satisfy this family's rule, by exact integer arithmetic."""
        return self._test(terms)

    @abstractmethod
    def generate(self, rng: random.Random, spec: SplitSpec, config: DatasetConfig) -> Window | None:
        """Draw one window in spec's ranges, or return None when the draw leaves them."""

    @abstractmethod
    def windows(self, spec: SplitSpec, config: DatasetConfig) -> Iterator[Window]:
        """Yield every distinct window generate can produce in spec's ranges."""

    @abstractmethod
    def count_windows(self, spec: SplitSpec, config: DatasetConfig, cap: int) -> int:
        """Return min(cap, number of distinct windows in spec's ranges), before exclusivity."""

    @abstractmethod
    def max_term(self, spec: SplitSpec, config: DatasetConfig) -> int:
        """Return an upper bound on every term of every window in spec's ranges."""


class IndexedFamily(Family):
    """A family of consecutive values term(k), term(k+1), ... of an increasing function of k ≥ 1.

    `floor_index(n)` is the largest k with term(k) ≤ n, computed exactly.
    """

    def __init__(
        self,
        name: str,
        rule: str,
        test: Callable[[Sequence[int]], bool],
        term: Callable[[int], int],
        floor_index: Callable[[int], int],
    ) -> None:
        super().__init__(name, rule, test)
        self.term = term
        self.floor_index = floor_index

    def index_range(self, spec: SplitSpec) -> range:
        """Return the k whose term(k) lies in spec's first-term range."""
        first_k = self.floor_index(spec.min_first_term - 1) + 1
        last_k = self.floor_index(spec.max_first_term)
        return range(first_k, last_k + 1)

    def _window(self, k: int, length: int) -> Window:
        return tuple(self.term(k + i) for i in range(length))

    def generate(self, rng: random.Random, spec: SplitSpec, config: DatasetConfig) -> Window | None:
        length = rng.randint(spec.min_length, spec.max_length)
        indices = self.index_range(spec)
        if not indices:
            return None
        return self._window(rng.choice(indices), length)

    def windows(self, spec: SplitSpec, config: DatasetConfig) -> Iterator[Window]:
        for k in self.index_range(spec):
            for length in spec.lengths:
                yield self._window(k, length)

    def count_windows(self, spec: SplitSpec, config: DatasetConfig, cap: int) -> int:
        return min(cap, len(self.index_range(spec)) * len(spec.lengths))

    def max_term(self, spec: SplitSpec, config: DatasetConfig) -> int:
        return self.term(self.floor_index(spec.max_first_term) + spec.max_length - 1)


class PrimesFamily(Family):
    """Consecutive primes; a window starts at any prime in the first-term range."""

    def _window(self, first: int, length: int) -> Window:
        terms = [first]
        while len(terms) < length:
            terms.append(next_prime(terms[-1]))
        return tuple(terms)

    def generate(self, rng: random.Random, spec: SplitSpec, config: DatasetConfig) -> Window | None:
        # NOTE: starting at the first prime ≥ a uniform integer weights each prime by the gap
        # before it. Small ranges avoid this bias because the sampler enumerates them.
        length = rng.randint(spec.min_length, spec.max_length)
        first = next_prime(rng.randint(spec.min_first_term, spec.max_first_term) - 1)
        if first > spec.max_first_term:
            return None
        return self._window(first, length)

    def windows(self, spec: SplitSpec, config: DatasetConfig) -> Iterator[Window]:
        starts = primes_between(spec.min_first_term, spec.max_first_term)
        if not starts:
            return
        terms = list(self._window(starts[-1], spec.max_length))
        terms = starts[:-1] + terms
        for i in range(len(starts)):
            for length in spec.lengths:
                yield tuple(terms[i : i + length])

    def count_windows(self, spec: SplitSpec, config: DatasetConfig, cap: int) -> int:
        length_count = len(spec.lengths)
        needed_starts = -(-cap // length_count)
        starts = primes_between(spec.min_first_term, spec.max_first_term, limit=needed_starts)
        return min(cap, len(starts) * length_count)

    def max_term(self, spec: SplitSpec, config: DatasetConfig) -> int:
        last_start = previous_prime(spec.max_first_term + 1)
        if last_start is None or last_start < spec.min_first_term:
            return 0
        return self._window(last_start, spec.max_length)[-1]


class ArithmeticFamily(Family):
    """a, a + d, a + 2d, ... with d drawn from [1, max_difference]."""

    tuning_settings = ("max_difference",)

    def generate(self, rng: random.Random, spec: SplitSpec, config: DatasetConfig) -> Window | None:
        length = rng.randint(spec.min_length, spec.max_length)
        first = rng.randint(spec.min_first_term, spec.max_first_term)
        difference = rng.randint(1, config.max_difference)
        return tuple(first + i * difference for i in range(length))

    def windows(self, spec: SplitSpec, config: DatasetConfig) -> Iterator[Window]:
        for first in range(spec.min_first_term, spec.max_first_term + 1):
            for difference in range(1, config.max_difference + 1):
                for length in spec.lengths:
                    yield tuple(first + i * difference for i in range(length))

    def count_windows(self, spec: SplitSpec, config: DatasetConfig, cap: int) -> int:
        first_terms = spec.max_first_term - spec.min_first_term + 1
        return min(cap, first_terms * config.max_difference * len(spec.lengths))

    def max_term(self, spec: SplitSpec, config: DatasetConfig) -> int:
        return spec.max_first_term + (spec.max_length - 1) * config.max_difference


class GeometricFamily(Family):
    """a, a·r, a·r², ... with r drawn from [2, max_ratio]."""

    tuning_settings = ("max_ratio",)

    def generate(self, rng: random.Random, spec: SplitSpec, config: DatasetConfig) -> Window | None:
        length = rng.randint(spec.min_length, spec.max_length)
        first = rng.randint(spec.min_first_term, spec.max_first_term)
        ratio = rng.randint(2, config.max_ratio)
        return tuple(first * ratio**i for i in range(length))

    def windows(self, spec: SplitSpec, config: DatasetConfig) -> Iterator[Window]:
        for first in range(spec.min_first_term, spec.max_first_term + 1):
            for ratio in range(2, config.max_ratio + 1):
                for length in spec.lengths:
                    yield tuple(first * ratio**i for i in range(length))

    def count_windows(self, spec: SplitSpec, config: DatasetConfig, cap: int) -> int:
        first_terms = spec.max_first_term - spec.min_first_term + 1
        return min(cap, first_terms * (config.max_ratio - 1) * len(spec.lengths))

    def max_term(self, spec: SplitSpec, config: DatasetConfig) -> int:
        return spec.max_first_term * config.max_ratio ** (spec.max_length - 1)


def _fibonacci_window(first: int, second: int, length: int) -> Window:
    terms = [first, second]
    while len(terms) < length:
        terms.append(terms[-1] + terms[-2])
    return tuple(terms[:length])


class FibonacciLikeFamily(Family):
    """a(n) = a(n-1) + a(n-2); the second term b is drawn from [a + 1, 2a].

    With b in [a + 1, 2a] the window increases like every other family, and b - a lies in
    [1, a], so the window is itself a stretch of a longer sequence with positive seeds.
    """

    def generate(self, rng: random.Random, spec: SplitSpec, config: DatasetConfig) -> Window | None:
        length = rng.randint(spec.min_length, spec.max_length)
        first = rng.randint(spec.min_first_term, spec.max_first_term)
        second = rng.randint(first + 1, 2 * first)
        return _fibonacci_window(first, second, length)

    def windows(self, spec: SplitSpec, config: DatasetConfig) -> Iterator[Window]:
        for first in range(spec.min_first_term, spec.max_first_term + 1):
            for second in range(first + 1, 2 * first + 1):
                for length in spec.lengths:
                    yield _fibonacci_window(first, second, length)

    def count_windows(self, spec: SplitSpec, config: DatasetConfig, cap: int) -> int:
        # Each first term a has a choices of b, so the pairs number a_min + ... + a_max.
        low, high = spec.min_first_term, spec.max_first_term
        pairs = (low + high) * (high - low + 1) // 2
        return min(cap, pairs * len(spec.lengths))

    def max_term(self, spec: SplitSpec, config: DatasetConfig) -> int:
        first = spec.max_first_term
        return _fibonacci_window(first, 2 * first, spec.max_length)[-1]


def control_gap_bound(first: int) -> int:
    """Return the largest gap between neighbouring terms of a control window starting at `first`."""
    return max(first, CONTROL_MIN_GAP_BOUND)


class ControlFamily(Family):
    """Strictly increasing integers that pass no other family test.

    Gaps are drawn from [1, control_gap_bound(first term)]. count_windows counts every gap
    choice, including the few that happen to follow a rule, so it is an upper bound.
    """

    def generate(self, rng: random.Random, spec: SplitSpec, config: DatasetConfig) -> Window | None:
        length = rng.randint(spec.min_length, spec.max_length)
        first = rng.randint(spec.min_first_term, spec.max_first_term)
        bound = control_gap_bound(first)
        terms = [first]
        for _ in range(length - 1):
            terms.append(terms[-1] + rng.randint(1, bound))
        return tuple(terms)

    def windows(self, spec: SplitSpec, config: DatasetConfig) -> Iterator[Window]:
        for first in range(spec.min_first_term, spec.max_first_term + 1):
            gap_choices = range(1, control_gap_bound(first) + 1)
            for length in spec.lengths:
                for gaps in itertools.product(gap_choices, repeat=length - 1):
                    yield tuple(itertools.accumulate(gaps, initial=first))

    def count_windows(self, spec: SplitSpec, config: DatasetConfig, cap: int) -> int:
        # Every first term adds at least 10² windows, so this loop stops within cap / 100 steps.
        total = 0
        for first in range(spec.min_first_term, spec.max_first_term + 1):
            bound = control_gap_bound(first)
            total += sum(bound ** (length - 1) for length in spec.lengths)
            if total >= cap:
                return cap
        return total

    def max_term(self, spec: SplitSpec, config: DatasetConfig) -> int:
        first = spec.max_first_term
        return first + (spec.max_length - 1) * control_gap_bound(first)


def _build_registry() -> dict[str, Family]:
    families: list[Family] = [
        PrimesFamily(
            "primes",
            "consecutive primes: every term is prime and no prime lies between neighbours",
            is_consecutive_primes,
        ),
        FibonacciLikeFamily(
            "fibonacci_like",
            "a(n) = a(n-1) + a(n-2) from two positive seeds a, b (generated with a < b ≤ 2a)",
            is_fibonacci_like,
        ),
        IndexedFamily(
            "squares",
            "consecutive squares k², (k+1)², ...",
            is_consecutive_squares,
            lambda k: k * k,
            math.isqrt,
        ),
        IndexedFamily(
            "cubes",
            "consecutive cubes k³, (k+1)³, ...",
            is_consecutive_cubes,
            lambda k: k**3,
            integer_cube_root,
        ),
        IndexedFamily(
            "triangular",
            "consecutive triangular numbers k(k+1)/2",
            is_consecutive_triangular,
            lambda k: k * (k + 1) // 2,
            largest_triangular_index,
        ),
        ArithmeticFamily(
            "arithmetic", "constant difference d, 1 ≤ d ≤ max_difference", is_arithmetic
        ),
        GeometricFamily("geometric", "constant integer ratio r, 2 ≤ r ≤ max_ratio", is_geometric),
        ControlFamily(
            "control",
            "strictly increasing integers passing no other family test; each gap drawn from "
            f"[1, max(first term, {CONTROL_MIN_GAP_BOUND})]",
            is_control,
        ),
    ]
    registry = {family.name: family for family in families}
    if tuple(registry) != FAMILY_NAMES:
        raise RuntimeError(f"Family registry {tuple(registry)} does not match {FAMILY_NAMES}.")
    return registry


FAMILIES: dict[str, Family] = _build_registry()
