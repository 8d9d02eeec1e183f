"""Exact integer arithmetic and the membership test of every sequence family."""

import math
import random

import pytest

from numgeom_core.data import FAMILIES, FAMILY_NAMES, DatasetConfig, SplitSpec, validate_sample
from numgeom_core.data.integers import (
    _passes_strong_probable_prime_test,
    integer_cube_root,
    is_cube,
    is_prime,
    is_square,
    next_prime,
    previous_prime,
    primes_between,
    triangular_index,
)
from numgeom_core.errors import DatasetError

FIRST_TWELVE_PRIMES = (2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37)


def _primes_by_trial_division(limit: int) -> list[int]:
    return [n for n in range(2, limit + 1) if all(n % d for d in range(2, math.isqrt(n) + 1))]


def _is_strong_probable_prime(n: int, bases: tuple[int, ...]) -> bool:
    d, s = n - 1, 0
    while d % 2 == 0:
        d //= 2
        s += 1
    return all(_passes_strong_probable_prime_test(n, d, s, base) for base in bases)


# --- integer arithmetic ---------------------------------------------------------------------


def test_is_prime_matches_trial_division_below_20000() -> None:
    expected = _primes_by_trial_division(20_000)

    assert [n for n in range(20_001) if is_prime(n)] == expected


@pytest.mark.parametrize("carmichael", [561, 1105, 1729, 2465, 2821, 6601, 8911, 41041, 825265])
def test_is_prime_rejects_carmichael_number(carmichael: int) -> None:
    fermat_witness_free = all(
        pow(a, carmichael - 1, carmichael) == 1
        for a in range(2, 40)
        if math.gcd(a, carmichael) == 1
    )

    assert fermat_witness_free
    assert not is_prime(carmichael)


# Each number is a strong pseudoprime to the first `fooled` prime bases, so a Miller-Rabin
# test with fewer bases than ours would call it prime.
STRONG_PSEUDOPRIMES = [
    (2047, (23, 89), 1),
    (1373653, (829, 1657), 2),
    (25326001, (2251, 11251), 3),
    (3215031751, (151, 751, 28351), 4),
    (2152302898747, (6763, 10627, 29947), 5),
    (3474749660383, (1303, 16927, 157543), 6),
    (341550071728321, (10670053, 32010157), 8),
    (3825123056546413051, (149491, 747451, 34233211), 11),
]


@pytest.mark.parametrize(("n", "factors", "fooled"), STRONG_PSEUDOPRIMES)
def test_is_prime_rejects_strong_pseudoprime(n: int, factors: tuple[int, ...], fooled: int) -> None:
    assert math.prod(factors) == n
    assert _is_strong_probable_prime(n, FIRST_TWELVE_PRIMES[:fooled])
    assert not is_prime(n)


@pytest.mark.parametrize(
    "prime", [1_000_000_007, 1_000_000_000_039, 2**61 - 1, 2**63 - 25, 2**64 - 59]
)
def test_is_prime_accepts_large_prime(prime: int) -> None:
    assert is_prime(prime)


def test_is_prime_raises_beyond_deterministic_range() -> None:
    with pytest.raises(DatasetError, match=str(2**64 + 13)):
        is_prime(2**64 + 13)


def test_next_and_previous_prime_step_over_composites() -> None:
    assert next_prime(1_000_000_009) == 1_000_000_021
    assert next_prime(7) == 11
    assert next_prime(1) == 2
    assert previous_prime(11) == 7
    assert previous_prime(3) == 2
    assert previous_prime(2) is None
    assert [n for n in range(2**63 - 25, 2**63) if is_prime(n)] == [2**63 - 25]


def test_primes_between_matches_trial_division() -> None:
    expected = _primes_by_trial_division(150_000)

    assert primes_between(1, 150_000) == expected
    assert primes_between(1000, 1100) == [p for p in expected if 1000 <= p <= 1100]
    assert primes_between(1, 150_000, limit=7) == expected[:7]
    assert primes_between(24, 28) == []


def test_primes_between_confirms_survivors_above_sieve_bound() -> None:
    low = 10**12

    assert primes_between(low, low + 100) == [
        low + 39,
        low + 61,
        low + 63,
        low + 91,
    ]


def test_is_square_exact_beyond_float_precision() -> None:
    near_square = (10**8 + 1) ** 2 - 1
    big_square = (2**52 + 1) ** 2

    assert math.sqrt(near_square).is_integer()  # float rounding calls it a square
    assert not is_square(near_square)
    assert is_square(big_square)
    assert not is_square(big_square + 1)
    assert not is_square(-4)


def test_integer_cube_root_is_exact_for_large_values() -> None:
    assert round((10**18 - 1) ** (1 / 3)) == 10**6  # float rounding lands on the next root
    assert integer_cube_root(10**18 - 1) == 999_999
    assert integer_cube_root(10**18) == 10**6
    assert integer_cube_root(-27) == -3
    assert integer_cube_root(-26) == -2
    assert is_cube((2**21 + 1) ** 3)
    assert not is_cube((2**21 + 1) ** 3 - 1)
    assert not is_cube((2**21 + 1) ** 3 + 1)


def test_integer_cube_root_is_floor_for_small_values() -> None:
    for n in range(100_000):
        root = integer_cube_root(n)
        assert root**3 <= n < (root + 1) ** 3, n


def test_triangular_index_inverts_formula() -> None:
    assert triangular_index(0) == 0
    assert triangular_index(10) == 4
    assert triangular_index(11) is None
    k = 3 * 10**9
    assert triangular_index(k * (k + 1) // 2) == k
    assert triangular_index(k * (k + 1) // 2 + 1) is None


# --- family tests ---------------------------------------------------------------------------

MEMBERSHIP_CASES = [
    ("primes", [7, 11, 13], True),
    ("primes", [2, 3, 5, 7], True),
    ("primes", [1_000_000_007, 1_000_000_009, 1_000_000_021], True),
    ("primes", [7, 13, 17], False),  # 11 lies between 7 and 13
    ("primes", [1, 2, 3], False),  # 1 is not prime
    ("primes", [13, 11, 7], False),
    ("primes", [557, 561, 563], False),  # 561 is a Carmichael number
    ("primes", [7, 11], False),  # two terms decide nothing
    ("fibonacci_like", [1, 1, 2, 3, 5], True),
    ("fibonacci_like", [2, 1, 3, 4, 7], True),  # Lucas numbers: seeds need not increase
    ("fibonacci_like", [5, 10, 15], True),
    ("fibonacci_like", [0, 1, 1, 2], False),  # seeds must be positive
    ("fibonacci_like", [3, 5, 8, 14], False),
    ("squares", [1, 4, 9, 16], True),
    ("squares", [(2**52 + 1) ** 2, (2**52 + 2) ** 2, (2**52 + 3) ** 2], True),
    ("squares", [(10**8) ** 2, (10**8 + 1) ** 2 - 1, (10**8 + 2) ** 2], False),
    ("squares", [4, 9, 25], False),  # 16 skipped
    ("cubes", [1, 8, 27, 64], True),
    ("cubes", [-8, -1, 0, 1], True),
    ("cubes", [(10**6) ** 3, (10**6 + 1) ** 3, (10**6 + 2) ** 3], True),
    ("cubes", [(10**6) ** 3 - 1, (10**6 + 1) ** 3, (10**6 + 2) ** 3], False),
    ("cubes", [8, 27, 125], False),
    ("triangular", [1, 3, 6, 10], True),
    ("triangular", [0, 1, 3], True),
    ("triangular", [1, 3, 10], False),
    ("triangular", [3, 6, 9], False),
    ("arithmetic", [3, 7, 11, 15], True),
    ("arithmetic", [5, 5, 5], False),  # d must be at least 1
    ("arithmetic", [9, 7, 5], False),
    ("arithmetic", [1, 2, 4], False),
    ("geometric", [3, 6, 12, 24], True),
    ("geometric", [2, 6, 18], True),
    ("geometric", [1, 1, 1], False),  # r must be at least 2
    ("geometric", [4, 6, 9], False),  # ratio 3/2 is not an integer
    ("geometric", [0, 0, 0], False),
    ("control", [2, 5, 9, 20], True),
    ("control", [1, 2, 3], False),  # arithmetic
    ("control", [9, 16, 25], False),  # squares
    ("control", [5, 4, 8], False),  # not increasing
]


@pytest.mark.parametrize(("family", "terms", "expected"), MEMBERSHIP_CASES)
def test_family_membership(family: str, terms: list[int], expected: bool) -> None:
    assert FAMILIES[family].test(terms) is expected


def test_registry_lists_eight_families_in_order() -> None:
    assert tuple(FAMILIES) == FAMILY_NAMES
    assert FAMILY_NAMES == (
        "primes",
        "fibonacci_like",
        "squares",
        "cubes",
        "triangular",
        "arithmetic",
        "geometric",
        "control",
    )
    for name, family in FAMILIES.items():
        assert family.name == name
        assert family.rule


# --- exclusivity ----------------------------------------------------------------------------

# Windows that satisfy two family tests at once, and so belong to neither family's samples.
AMBIGUOUS_WINDOWS = [
    ([5, 10, 15], "arithmetic", "fibonacci_like"),  # d, 2d, 3d
    ([9, 16, 25], "squares", "fibonacci_like"),  # 9 + 16 = 25
    ([2, 3, 5], "primes", "fibonacci_like"),
    ([3, 5, 7], "primes", "arithmetic"),
    ([251, 257, 263, 269], "primes", "arithmetic"),  # four consecutive primes, d = 6
]


@pytest.mark.parametrize(("terms", "family", "other"), AMBIGUOUS_WINDOWS)
def test_validate_sample_rejects_window_of_two_families(
    terms: list[int], family: str, other: str
) -> None:
    with pytest.raises(DatasetError, match=other):
        validate_sample(terms, family, FAMILY_NAMES)


def test_validate_sample_accepts_single_family_windows() -> None:
    validate_sample([1, 4, 9, 16], "squares", FAMILY_NAMES)
    validate_sample([2, 5, 9, 20], "control", FAMILY_NAMES)
    validate_sample([7, 11, 13, 17], "primes", FAMILY_NAMES)


def test_validate_sample_rejects_structured_window_as_control() -> None:
    with pytest.raises(DatasetError, match="do not satisfy the control rule"):
        validate_sample([1, 4, 9, 16], "control", FAMILY_NAMES)


def test_validate_sample_ignores_families_not_selected() -> None:
    validate_sample([5, 10, 15], "arithmetic", ("arithmetic", "squares"))


def test_validate_sample_rejects_window_breaking_own_rule() -> None:
    with pytest.raises(DatasetError, match="do not satisfy the cubes rule"):
        validate_sample([1, 8, 28], "cubes", FAMILY_NAMES)


@pytest.mark.parametrize(
    ("terms", "family", "families", "message"),
    [
        ([1, 8, 27], "cube", FAMILY_NAMES, "Unknown families \\['cube'\\]"),
        ([1, 8, 27], "cubes", ("primes", "squares"), "not among"),
        ([1, 8], "cubes", FAMILY_NAMES, "at least 3 terms"),
        ([0, 1, 8], "cubes", FAMILY_NAMES, "Invalid term 0"),
        ([2**63, 2**64], "geometric", FAMILY_NAMES, "at least 3 terms"),
        ([2**62, 2**63, 2**64], "geometric", FAMILY_NAMES, f"Invalid term {2**63}"),
        ([1, 2.0, 4], "geometric", FAMILY_NAMES, "Invalid term 2.0"),
    ],
)
def test_validate_sample_rejects_invalid_input(
    terms: list, family: str, families: tuple[str, ...], message: str
) -> None:
    with pytest.raises(DatasetError, match=message):
        validate_sample(terms, family, families)


# --- drawing and counting windows -----------------------------------------------------------

SMALL_CONFIG = DatasetConfig(max_ratio=4, max_difference=3)
SMALL_SPEC = SplitSpec(1, 3, 4, 1, 6)
# Windows with first term in [1, 6] and 3 or 4 terms, counted by hand.
SMALL_SPEC_WINDOW_COUNTS = {
    "primes": 3 * 2,  # starts 2, 3, 5
    "fibonacci_like": (1 + 2 + 3 + 4 + 5 + 6) * 2,  # a choices of b for each a
    "squares": 2 * 2,  # k = 1, 2
    "cubes": 1 * 2,  # k = 1
    "triangular": 3 * 2,  # k = 1, 2, 3
    "arithmetic": 6 * 3 * 2,  # 6 first terms, d in 1..3
    "geometric": 6 * 3 * 2,  # 6 first terms, r in 2..4
    "control": 6 * (10**2 + 10**3),  # gaps in 1..10 when the first term is at most 10
}


@pytest.mark.parametrize("name", FAMILY_NAMES)
def test_windows_match_count_and_ranges(name: str) -> None:
    family = FAMILIES[name]

    windows = list(family.windows(SMALL_SPEC, SMALL_CONFIG))

    assert len(windows) == SMALL_SPEC_WINDOW_COUNTS[name]
    assert len(set(windows)) == len(windows)
    assert family.count_windows(SMALL_SPEC, SMALL_CONFIG, cap=10**9) == len(windows)
    assert family.count_windows(SMALL_SPEC, SMALL_CONFIG, cap=5) == min(5, len(windows))
    for window in windows:
        assert 1 <= window[0] <= 6
        assert len(window) in (3, 4)
        assert max(window) <= family.max_term(SMALL_SPEC, SMALL_CONFIG)
        if name != "control":  # the control count includes gap choices that follow a rule
            assert family.test(window), window


@pytest.mark.parametrize("name", FAMILY_NAMES)
def test_generate_stays_within_listed_windows(name: str) -> None:
    family = FAMILIES[name]
    listed = set(family.windows(SMALL_SPEC, SMALL_CONFIG))
    rng = random.Random(7)

    drawn = [family.generate(rng, SMALL_SPEC, SMALL_CONFIG) for _ in range(200)]

    assert {window for window in drawn if window is not None} <= listed
    assert sum(window is not None for window in drawn) > 100


def test_default_ranges_give_hand_counted_capacities() -> None:
    train = DatasetConfig().train

    assert FAMILIES["cubes"].count_windows(train, SMALL_CONFIG, cap=10**9) == 21 * 5
    assert FAMILIES["squares"].count_windows(train, SMALL_CONFIG, cap=10**9) == 99 * 5
    assert FAMILIES["triangular"].count_windows(train, SMALL_CONFIG, cap=10**9) == 140 * 5
    assert FAMILIES["primes"].count_windows(train, SMALL_CONFIG, cap=10**9) == 1229 * 5
