"""Named run sizes: asset run config from a quick plumbing check to a GPU-sized run.

A profile maps asset names to their run config; assets it does not name use their
defaults. `numgeom run --profile NAME` applies one to every job of the main job.
"""

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


PROFILES: dict[str, dict[str, dict[str, Any]]] = {
    # The defaults of every asset: about 50 samples per family and split, first terms
    # below 10^4, LoRA in 2 stages of 20 steps.
    "default": {},
    # For plumbing checks and tests: a few samples per family and a few LoRA steps.
    "small": {
        "sequence_dataset": {
            "train": _split(8, 4, 8, 1, 9_999),
            "eval": _split(8, 4, 8, 1, 9_999),
            "ood": _split(8, 9, 12, 10_000, 999_999),
        },
        "lora_adapter": {"steps_per_stage": 3, "batch_size": 16},
        "slerp_sweep": {"t_values": [0.0, 0.5, 1.0]},
        "evaluation_metrics": {"resamples": 20},
    },
    # For a bigger machine or a GPU: four times the default sizes over wider ranges.
    "large": {
        "sequence_dataset": {
            "train": _split(200, 4, 12, 1, 99_999),
            "eval": _split(200, 4, 12, 1, 99_999),
            "ood": _split(200, 13, 16, 100_000, 9_999_999),
        },
        "lora_adapter": {"steps_per_stage": 100, "stages": 3},
    },
}


def profile_config(profile: str) -> dict[str, dict[str, Any]]:
    """Return the profile's run config per asset name; ConfigError names the known profiles."""
    if profile not in PROFILES:
        raise ConfigError(
            f"Unknown profile {profile!r}: expected one of {', '.join(PROFILES)}. "
            "Pass --profile default, or small for a quick check."
        )
    return PROFILES[profile]


def run_config_for(profile: str, assets: set[str]) -> dict[str, Any]:
    """Run config that applies the profile to those of `assets` it names."""
    ops = {name: {"config": config} for name, config in profile_config(profile).items()}
    selected = {name: entry for name, entry in ops.items() if name in assets}
    return {"ops": selected} if selected else {}
