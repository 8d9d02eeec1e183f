"""Asset storage: polars tables as Parquet and small records as JSON, written atomically.

Files live under `<root>/<asset key>/`, one file per partition; a multi-dimensional
partition becomes nested folders `<dimension>=<value>`. Every partition value is checked
with `validate_name` before it becomes part of a path.
"""

import json
from pathlib import Path
from typing import Any

import dagster as dg
import polars as pl

from numgeom_core.atomic import atomic_path, write_bytes_atomic
from numgeom_core.naming import validate_name


class NumgeomIOManager(dg.ConfigurableIOManager):
    """Stores polars DataFrames as Parquet and dicts as JSON under `root`."""

    root: str

    def handle_output(self, context: dg.OutputContext, obj: Any) -> None:
        key = context.asset_partition_key if context.has_asset_partitions else None
        if isinstance(obj, pl.DataFrame):
            path = self._path(context.asset_key, key, ".parquet")
            with atomic_path(path) as tmp:
                obj.write_parquet(tmp)
        elif isinstance(obj, dict):
            path = self._path(context.asset_key, key, ".json")
            write_bytes_atomic(path, json.dumps(obj, indent=2, default=str).encode())
        else:
            raise TypeError(
                f"Asset {context.asset_key.to_user_string()} returned {type(obj).__name__}; "
                "this IO manager stores only polars.DataFrame and dict outputs."
            )
        context.add_output_metadata({"path": dg.MetadataValue.path(str(path))})

    def load_input(self, context: dg.InputContext) -> Any:
        if not context.has_asset_partitions:
            return self._read(context.asset_key, None)
        keys = context.asset_partition_keys
        if context.has_partition_key and len(keys) == 1:
            # A partitioned run reads the one upstream partition it maps to.
            return self._read(context.asset_key, keys[0])
        # An unpartitioned run (the summary) reads every partition.
        return self._read_many(context, keys)

    def _read_many(self, context: dg.InputContext, keys: list[str]) -> dict[str, Any]:
        """Load several partitions as {partition key: value}, skipping unmaterialised ones."""
        loaded = {}
        for key in keys:
            try:
                loaded[str(key)] = self._read(context.asset_key, key)
            except FileNotFoundError:
                context.log.warning(
                    f"Partition {key} of {context.asset_key.to_user_string()} is not "
                    "materialised yet; it is left out."
                )
        return loaded

    def _read(self, asset_key: dg.AssetKey, partition_key: str | None) -> Any:
        parquet = self._path(asset_key, partition_key, ".parquet")
        if parquet.is_file():
            return pl.read_parquet(parquet)
        record = self._path(asset_key, partition_key, ".json")
        if record.is_file():
            return json.loads(record.read_text())
        raise FileNotFoundError(
            f"No stored value for {asset_key.to_user_string()} partition {partition_key!r} "
            f"(looked for {parquet} and {record}). Materialise it first."
        )

    def _path(self, asset_key: dg.AssetKey, partition_key: str | None, suffix: str) -> Path:
        folder = Path(self.root, *asset_key.path)
        if partition_key is None:
            return folder / f"data{suffix}"
        return folder.joinpath(*partition_parts(partition_key)).with_suffix(suffix)


def read_stored(root: Path, asset: str, partition_key: str | None = None) -> Any:
    """Read a stored asset value outside a Dagster run (CLI and tests)."""
    return NumgeomIOManager(root=str(root))._read(dg.AssetKey(asset), partition_key)


def partition_parts(partition_key: str) -> list[str]:
    """Path components of a partition key, each validated as a safe single folder name."""
    if not isinstance(partition_key, dg.MultiPartitionKey) and "|" in partition_key:
        from numgeom_assets.partitions import cell_partitions

        partition_key = cell_partitions.get_partition_key_from_str(partition_key)
    if isinstance(partition_key, dg.MultiPartitionKey):
        items = sorted(partition_key.keys_by_dimension.items())
        return [f"{dim}={validate_name(value, 'partition value')}" for dim, value in items]
    return [validate_name(str(partition_key), "partition key")]
