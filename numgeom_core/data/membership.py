"""Exact membership tests, one per sequence family, on windows of consecutive terms.

Every test returns False for fewer than three terms: any two increasing integers form an
arithmetic progression and fit a two-seed recurrence, so two terms decide nothing.
"""

import math
from collections.abc import Callable, Sequence

from numgeom_core.data.config import MIN_WINDOW_LENGTH
from numgeom_core.data.integers import (
    integer_cube_root,
    is_prime,
    next_prime,
    triangular_index,
)


def is_consecutive_primes(terms: Sequence[int]) -> bool:
    """Return whether every term is prime and each term is the next prime after its predecessor."""
    if len(terms) < MIN_WINDOW_LENGTH:
        return False
    if not all(is_prime(term) for term in terms):
        return False
    return all(next_prime(terms[i - 1]) == terms[i] for i in range(1, len(terms)))


def is_fibonacci_like(terms: Sequence[int]) -> bool:
    """Return whether every term after the first two is the sum of the two before it.

    The first two terms (the seeds) must be positive.
    """
    if len(terms) < MIN_WINDOW_LENGTH or terms[0] <= 0 or terms[1] <= 0:
        return False
    return all(terms[i] == terms[i - 1] + terms[i - 2] for i in range(2, len(terms)))


def _has_consecutive_indices(terms: Sequence[int], index_of: Callable[[int], int | None]) -> bool:
    """Return whether index_of gives k, k+1, k+2, ... for the terms, with no term missing one."""
    if len(terms) < MIN_WINDOW_LENGTH:
        return False
    previous = index_of(terms[0])
    if previous is None:
        return False
    for term in terms[1:]:
        index = index_of(term)
        if index is None or index != previous + 1:
            return False
        previous = index
    return True


def _square_index(n: int) -> int | None:
    if n < 0:
        return None
    root = math.isqrt(n)
    return root if root * root == n else None


def _cube_index(n: int) -> int | None:
    root = integer_cube_root(n)
    return root if root**3 == n else None


def is_consecutive_squares(terms: Sequence[int]) -> bool:
    """Return whether the terms are k², (k+1)², ... for some integer k ≥ 0."""
    return _has_consecutive_indices(terms, _square_index)


def is_consecutive_cubes(terms: Sequence[int]) -> bool:
    """Return whether the terms are k³, (k+1)³, ... for some integer k (negative k allowed)."""
    return _has_consecutive_indices(terms, _cube_index)


def is_consecutive_triangular(terms: Sequence[int]) -> bool:
    """Return whether the terms are T(k), T(k+1), ... with T(k) = k(k+1)/2 and k ≥ 0."""
    return _has_consecutive_indices(terms, triangular_index)


def is_arithmetic(terms: Sequence[int]) -> bool:
    """Return whether consecutive differences are all equal to one d ≥ 1."""
    if len(terms) < MIN_WINDOW_LENGTH:
        return False
    difference = terms[1] - terms[0]
    if difference < 1:
        return False
    return all(terms[i] - terms[i - 1] == difference for i in range(2, len(terms)))


def is_geometric(terms: Sequence[int]) -> bool:
    """Return whether a(n) = r·a(n-1) throughout for one integer ratio r ≥ 2 and a(0) ≠ 0."""
    if len(terms) < MIN_WINDOW_LENGTH or terms[0] == 0 or terms[1] % terms[0] != 0:
        return False
    ratio = terms[1] // terms[0]
    if ratio < 2:
        return False
    return all(terms[i] == terms[i - 1] * ratio for i in range(2, len(terms)))


# Order matters only for speed: cheap tests first, primes (which needs primality tests) last.
STRUCTURED_FAMILY_TESTS: dict[str, Callable[[Sequence[int]], bool]] = {
    "arithmetic": is_arithmetic,
    "geometric": is_geometric,
    "fibonacci_like": is_fibonacci_like,
    "squares": is_consecutive_squares,
    "cubes": is_consecutive_cubes,
    "triangular": is_consecutive_triangular,
    "primes": is_consecutive_primes,
}


def is_control(terms: Sequence[int]) -> bool:
    """Return whether the terms strictly increase and pass none of the seven other family tests.

    The other tests are all seven structured families, whether or not a dataset selects them,
    so a control window never follows a known rule.
    """
    if len(terms) < MIN_WINDOW_LENGTH:
        return False
    if any(terms[i] <= terms[i - 1] for i in range(1, len(terms))):
        return False
    return not any(test(terms) for test in STRUCTURED_FAMILY_TESTS.values())
