"""The backbone registry: the built-in backbones plus the ones users add, kept in a JSON file.

User registrations live in `<DAGSTER_HOME>/backbones.json` (or $NUMGEOM_REGISTRY_FILE), next
to the Dagster instance whose partitions they define. The file is rewritten atomically.
"""

import json
import os
from pathlib import Path

from numgeom_assets import paths
from numgeom_core.atomic import write_bytes_atomic
from numgeom_core.errors import BackboneError
from numgeom_core.models import DEFAULT_BACKBONES, BackboneSpec, get_backbone
from numgeom_core.naming import validate_name


def registry_path() -> Path:
    """Return the JSON file of user registrations."""
    configured = os.environ.get("NUMGEOM_REGISTRY_FILE")
    return Path(configured) if configured else paths.dagster_home() / "backbones.json"


def user_backbones() -> dict[str, BackboneSpec]:
    """Return the backbones users registered, by name (empty when none were)."""
    path = registry_path()
    if not path.is_file():
        return {}
    try:
        entries = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise BackboneError(
            f"The backbone registry {path} is not valid JSON ({error}); fix or delete it."
        ) from error
    return {entry["name"]: BackboneSpec.from_dict(entry) for entry in entries}


def registered_backbones() -> dict[str, BackboneSpec]:
    """Return every registered backbone: built-in ones first, then user registrations."""
    return {**DEFAULT_BACKBONES, **user_backbones()}


def backbone_spec(name: str) -> BackboneSpec:
    """Look up a registered backbone, validating the name first."""
    return get_backbone(validate_name(name), registered_backbones())


def add_backbone(spec: BackboneSpec) -> None:
    """Store a new registration; a name that is already registered raises BackboneError."""
    if spec.name in registered_backbones():
        raise BackboneError(
            f"Backbone {spec.name!r} is already registered; choose another name, or remove it "
            f"first with `numgeom backbone remove {spec.name}`."
        )
    entries = [s.to_dict() for s in user_backbones().values()] + [spec.to_dict()]
    write_bytes_atomic(registry_path(), json.dumps(entries, indent=2).encode())


def remove_backbone(name: str) -> BackboneSpec:
    """Delete a user registration and return it; built-in backbones cannot be removed."""
    validate_name(name)
    if name in DEFAULT_BACKBONES:
        raise BackboneError(
            f"Backbone {name!r} is built in and cannot be removed; only backbones added with "
            "`numgeom backbone add` can."
        )
    users = user_backbones()
    if name not in users:
        raise BackboneError(
            f"Backbone {name!r} is not registered; registered backbones are "
            f"{', '.join(registered_backbones())}."
        )
    removed = users.pop(name)
    entries = [s.to_dict() for s in users.values()]
    write_bytes_atomic(registry_path(), json.dumps(entries, indent=2).encode())
    return removed
