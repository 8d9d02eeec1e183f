"""Exact integer arithmetic behind the family tests: roots, primality and prime ranges.

Nothing here uses floating point, so results stay exact for any int64 value and beyond.
"""

import math
from functools import lru_cache

import numpy as np

from numgeom_core.errors import DatasetError

INT64_MAX = 2**63 - 1

# Miller-Rabin with the first k primes as bases is deterministic below A014233(k), the
# smallest strong pseudoprime to all of those bases (OEIS A014233). A014233(12) exceeds 2^64,
# so the twelve bases up to 37 cover every 64-bit integer. Each pair is (A014233(k), k).
_MILLER_RABIN_BASES = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37)
_BASE_COUNT_BELOW = (
    (2_047, 1),
    (1_373_653, 2),
    (25_326_001, 3),
    (3_215_031_751, 4),
    (2_152_302_898_747, 5),
    (3_474_749_660_383, 6),
    (341_550_071_728_321, 8),
    (3_825_123_056_546_413_051, 11),
)
DETERMINISTIC_PRIMALITY_LIMIT = 2**64

# The sieve in primes_between crosses off multiples of primes up to this bound and
# confirms larger survivors with Miller-Rabin.
_SIEVE_BASE_LIMIT = 2**16
_SIEVE_SEGMENT = 2**16


def is_square(n: int) -> bool:
    """Return whether n = k² for an integer k."""
    return n >= 0 and math.isqrt(n) ** 2 == n


def integer_cube_root(n: int) -> int:
    """Return the integer cube root of n rounded toward zero: sign(n)·floor(|n|^(1/3)).

    Integer Newton iteration x ← (2x + m // x²) // 3 from a start above the root; it
    decreases strictly until it reaches floor(m^(1/3)).
    """
    if n < 0:
        return -integer_cube_root(-n)
    if n < 2:
        return n

    x = 1 << -(-n.bit_length() // 3)  # 2^ceil(bits/3) > n^(1/3)
    while True:
        y = (2 * x + n // (x * x)) // 3
        if y >= x:
            return x
        x = y


def is_cube(n: int) -> bool:
    """Return whether n = k³ for an integer k (negative k included)."""
    return integer_cube_root(n) ** 3 == n


def triangular_index(n: int) -> int | None:
    """Return k ≥ 0 with n = k(k+1)/2, or None when n is not triangular.

    n = k(k+1)/2 exactly when 8n + 1 = (2k + 1)² is a perfect square.
    """
    if n < 0:
        return None
    discriminant = 8 * n + 1
    root = math.isqrt(discriminant)
    if root * root != discriminant:
        return None
    return (root - 1) // 2


def largest_triangular_index(n: int) -> int:
    """Return the largest k ≥ 0 with k(k+1)/2 ≤ n, for n ≥ 0."""
    return (math.isqrt(8 * n + 1) - 1) // 2


def is_prime(n: int) -> bool:
    """Return whether n is prime, by deterministic Miller-Rabin.

    Raises DatasetError for n at or above DETERMINISTIC_PRIMALITY_LIMIT, where the
    fixed bases no longer prove primality.
    """
    if n < 2:
        return False
    for p in _MILLER_RABIN_BASES:
        if n % p == 0:
            return n == p
    if n >= DETERMINISTIC_PRIMALITY_LIMIT:
        raise DatasetError(
            f"Cannot test {n} for primality: the deterministic test covers n < "
            f"{DETERMINISTIC_PRIMALITY_LIMIT}. Keep sequence terms within int64."
        )

    base_count = len(_MILLER_RABIN_BASES)
    for bound, count in _BASE_COUNT_BELOW:
        if n < bound:
            base_count = count
            break

    d, s = n - 1, 0
    while d % 2 == 0:
        d //= 2
        s += 1
    for base in _MILLER_RABIN_BASES[:base_count]:
        if not _passes_strong_probable_prime_test(n, d, s, base):
            return False
    return True


def _passes_strong_probable_prime_test(n: int, d: int, s: int, base: int) -> bool:
    """Return whether n is a strong probable prime to `base`, where n - 1 = d·2^s, d odd."""
    x = pow(base, d, n)
    if x == 1 or x == n - 1:
        return True
    for _ in range(s - 1):
        x = x * x % n
        if x == n - 1:
            return True
    return False


def next_prime(n: int) -> int:
    """Return the smallest prime strictly greater than n."""
    if n < 2:
        return 2
    candidate = n + 1 if n % 2 == 0 else n + 2
    while not is_prime(candidate):
        candidate += 2
    return candidate


def previous_prime(n: int) -> int | None:
    """Return the largest prime strictly less than n, or None when n ≤ 2."""
    if n <= 2:
        return None
    if n == 3:
        return 2
    candidate = n - 1 if n % 2 == 0 else n - 2
    while not is_prime(candidate):
        candidate -= 2
    return candidate


def primes_between(low: int, high: int, limit: int | None = None) -> list[int]:
    """Return the primes p with low ≤ p ≤ high in increasing order, at most `limit` of them.

    Segmented sieve of Eratosthenes over windows of 65,536 integers. When √high exceeds
    the sieving primes, the survivors are confirmed with is_prime.
    """
    low = max(low, 2)
    sieving_primes = _small_primes(min(math.isqrt(high), _SIEVE_BASE_LIMIT)) if high >= 4 else []
    survivors_are_prime = math.isqrt(high) <= _SIEVE_BASE_LIMIT

    found: list[int] = []
    start = low
    while start <= high and (limit is None or len(found) < limit):
        stop = min(high + 1, start + _SIEVE_SEGMENT)
        for offset in _sieve_segment(start, stop, sieving_primes):
            candidate = start + offset
            if survivors_are_prime or is_prime(candidate):
                found.append(candidate)
                if limit is not None and len(found) >= limit:
                    break
        start = stop
    return found


def _sieve_segment(start: int, stop: int, sieving_primes: list[int]) -> list[int]:
    """Return the offsets i in [0, stop - start) where start + i has no sieving-prime factor.

    A sieving prime p itself is kept; only its multiples from p² on are crossed off.
    """
    is_candidate = np.ones(stop - start, dtype=bool)
    for p in sieving_primes:
        if p * p >= stop:
            break
        first_multiple = max(p * p, -(-start // p) * p)
        is_candidate[first_multiple - start :: p] = False
    return np.flatnonzero(is_candidate).tolist()


@lru_cache(maxsize=8)
def _small_primes(bound: int) -> list[int]:
    """Return all primes ≤ bound by a plain sieve of Eratosthenes (bound ≤ 2^16 here)."""
    if bound < 2:
        return []
    is_candidate = np.ones(bound + 1, dtype=bool)
    is_candidate[:2] = False
    for p in range(2, math.isqrt(bound) + 1):
        if is_candidate[p]:
            is_candidate[p * p :: p] = False
    return np.flatnonzero(is_candidate).tolist()
