"""Detection of model folders that only load by running the model's own Python code."""

from __future__ import annotations

import json
from pathlib import Path

from numgeom_core.errors import ModelUnavailableError
from numgeom_core.models.registry import BackboneSpec


def needs_remote_code(folder: Path) -> bool:
    """Return True when config.json maps to custom classes for a model type transformers lacks.

    Such a folder has an "auto_map" entry, and transformers refuses to load it unless
    trust_remote_code=True. A folder whose model type transformers implements itself loads
    with transformers' own classes even when it also carries an "auto_map".
    """
    from transformers.models.auto.configuration_auto import CONFIG_MAPPING

    config_path = Path(folder) / "config.json"
    if not config_path.is_file():
        return False
    config = json.loads(config_path.read_text(encoding="utf-8"))
    return "auto_map" in config and config.get("model_type") not in CONFIG_MAPPING


def check_remote_code(spec: BackboneSpec, folder: Path) -> None:
    """Raise ModelUnavailableError when `folder` needs remote code that `spec` does not allow."""
    if spec.trust_remote_code or not needs_remote_code(folder):
        return
    raise ModelUnavailableError(
        f"Backbone {spec.name!r}: the model in {folder} defines its own Python classes "
        "(config.json has an 'auto_map' for a model type transformers does not implement), "
        "and trust_remote_code is off for this backbone. Read that code first; to run it, "
        "register the backbone with trust_remote_code=True, for example "
        f"dataclasses.replace(get_backbone({spec.name!r}), trust_remote_code=True)."
    )
