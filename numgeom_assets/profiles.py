"""Named dataset sizes: run config for `sequence_dataset`, from a quick check to a GPU run."""

from typing import Any

from numgeom_core.errors import ConfigError


def _split(n: int, min_length: int, max_length: int, low: int, high: int) -> dict[str, int]:
    return {
        "samples_per_family": n,
        "min_length": min_length,
        "max_length": max_length,
        "min_first_term": low,
        "max_first_term": high,
    }


PROFILES: dict[str, dict[str, Any]] = {
    # The dataset defaults: about 50 samples per family and split, first terms up to 10^4.
    "default": {},
    # For plumbing checks and tests: a few samples per family, seconds per backbone.
    "small": {
        "train": _split(8, 4, 8, 1, 9_999),
        "eval": _split(8, 4, 8, 1, 9_999),
        "ood": _split(8, 9, 12, 10_000, 999_999),
    },
    # For a bigger machine or a GPU: four times the default sizes over wider ranges.
    "large": {
        "train": _split(200, 4, 12, 1, 99_999),
        "eval": _split(200, 4, 12, 1, 99_999),
        "ood": _split(200, 13, 16, 100_000, 9_999_999),
    },
}


def dataset_run_config(profile: str) -> dict[str, Any]:
    """Run config that sets `sequence_dataset` to the named profile."""
    if profile not in PROFILES:
        raise ConfigError(
            f"Unknown profile {profile!r}: expected one of {', '.join(PROFILES)}. "
            "Pass --profile default, or small for a quick check."
        )
    settings = PROFILES[profile]
    if not settings:
        return {}
    return {"ops": {"sequence_dataset": {"config": settings}}}
