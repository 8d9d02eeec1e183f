"""Resources shared by the assets."""

from pathlib import Path

import dagster as dg

from numgeom_core.naming import validate_name


class NumgeomStorage(dg.ConfigurableResource):
    """Root folder of numgeom's files besides the IO manager's tables: checkpoints and plots."""

    root: str

    def folder(self, *parts: str) -> Path:
        """Return (and create) `<root>/<parts...>`, each part checked as a safe name."""
        folder = Path(self.root).joinpath(*(validate_name(p, "storage folder") for p in parts))
        folder.mkdir(parents=True, exist_ok=True)
        return folder
