"""Resources shared by the assets: where files go, and the backbone registry."""

from pathlib import Path

import dagster as dg

from numgeom_core.models import DEFAULT_BACKBONES, BackboneSpec, get_backbone
from numgeom_core.naming import validate_name


class NumgeomStorage(dg.ConfigurableResource):
    """Root folder of numgeom's files besides the IO manager's tables: checkpoints and plots."""

    root: str

    def folder(self, *parts: str) -> Path:
        """Return (and create) `<root>/<parts...>`, each part checked as a safe name."""
        folder = Path(self.root).joinpath(*(validate_name(p, "storage folder") for p in parts))
        folder.mkdir(parents=True, exist_ok=True)
        return folder


def registered_backbones() -> dict[str, BackboneSpec]:
    """Every backbone numgeom knows, by name."""
    return dict(DEFAULT_BACKBONES)


def backbone_spec(name: str) -> BackboneSpec:
    """Look up a registered backbone, validating the name first."""
    return get_backbone(validate_name(name), registered_backbones())
