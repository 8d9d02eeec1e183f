"""Reuse of a stored result whose inputs have not changed since it was materialised.

An asset computes a signature of everything its value depends on (input digests, settings
and its code version) and records it in the materialisation's metadata. The next
materialisation of the same partition with the same signature reads the stored value back
instead of recomputing it. The signature is read from Dagster's event log, which records a
materialisation only after the IO manager has written the value, so a killed run can
never leave a signature that points at a half-written or older file.
"""

import hashlib
import json
from typing import Any

import dagster as dg
import polars as pl

from numgeom_assets.io_manager import read_stored

SIGNATURE_KEY = "input_signature"


def input_signature(parts: dict[str, Any]) -> str:
    """Return the SHA-256 of `parts` serialised as canonical JSON."""
    return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()


def table_digest(table: pl.DataFrame, columns: list[str]) -> str:
    """Return the SHA-256 of the given columns of `table`, row by row, in order."""
    digest = hashlib.sha256()
    for row in table.select(columns).iter_rows():
        digest.update("\t".join(str(value) for value in row).encode())
        digest.update(b"\n")
    return digest.hexdigest()


def stored_if_unchanged(
    context: dg.AssetExecutionContext, signature: str, storage_root: str
) -> Any | None:
    """Return the stored value of this asset partition if it was made with `signature`."""
    partition = str(context.partition_key) if context.has_partition_key else None
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(
            asset_key=context.asset_key, asset_partitions=[partition] if partition else None
        ),
        limit=1,
    ).records
    if not records:
        return None
    metadata = records[0].asset_materialization.metadata
    previous = metadata.get(SIGNATURE_KEY)
    if previous is None or previous.value != signature:
        return None
    try:
        return read_stored(storage_root, context.asset_key.to_user_string(), partition)
    except FileNotFoundError:
        return None
