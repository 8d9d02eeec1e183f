"""Partitions: one backbone per registered model, times the merge method."""

from dataclasses import dataclass

import dagster as dg

from numgeom_core.naming import validate_name

BACKBONE = "backbone"
MERGE_METHOD = "merge_method"
MERGE_METHODS = ("base", "lora", "soup", "slerp", "task_arithmetic", "ties", "dare_ties")

backbone_partitions = dg.DynamicPartitionsDefinition(name=BACKBONE)
merge_method_partitions = dg.StaticPartitionsDefinition(list(MERGE_METHODS))
cell_partitions = dg.MultiPartitionsDefinition(
    {BACKBONE: backbone_partitions, MERGE_METHOD: merge_method_partitions}
)


@dataclass(frozen=True)
class Cell:
    """One backbone × merge method cell of the experiment."""

    backbone: str
    merge_method: str

    def key(self) -> dg.MultiPartitionKey:
        return cell_key(self.backbone, self.merge_method)


def cell_key(backbone: str, merge_method: str) -> dg.MultiPartitionKey:
    """Build the partition key of a cell, validating both values."""
    return dg.MultiPartitionKey(
        {BACKBONE: validate_name(backbone), MERGE_METHOD: validate_merge_method(merge_method)}
    )


def validate_merge_method(merge_method: str) -> str:
    """Return `merge_method` if it is a known method, else raise naming the known ones."""
    from numgeom_core.errors import ConfigError

    if merge_method not in MERGE_METHODS:
        raise ConfigError(
            f"Unknown merge method {merge_method!r}: expected one of {', '.join(MERGE_METHODS)}."
        )
    return merge_method


def parse_cell(partition_key: str) -> Cell:
    """Parse a cell partition key (a MultiPartitionKey or its string form) and validate it."""
    if isinstance(partition_key, dg.MultiPartitionKey):
        by_dimension = partition_key.keys_by_dimension
    else:
        by_dimension = cell_partitions.get_partition_key_from_str(partition_key).keys_by_dimension
    backbone = validate_name(by_dimension[BACKBONE])
    return Cell(backbone, validate_merge_method(by_dimension[MERGE_METHOD]))


def all_cells(backbones: list[str]) -> list[Cell]:
    """Every cell of the given backbones, in backbone then method order."""
    return [Cell(backbone, method) for backbone in backbones for method in MERGE_METHODS]
