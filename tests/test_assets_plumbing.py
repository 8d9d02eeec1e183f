"""Partition keys, storage paths and MLflow run status, without loading any model."""

from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from mlflow.tracking import MlflowClient

from numgeom_assets.definitions import build_definitions, build_resources, defs
from numgeom_assets.io_manager import partition_parts, read_stored
from numgeom_assets.partitions import cell_key, parse_cell
from numgeom_assets.tracking import MlflowTracking
from numgeom_core.errors import BackboneError, ConfigError
from numgeom_core.naming import validate_name


def test_definitions_load_with_every_asset() -> None:
    keys = {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}

    assert keys == {
        "sequence_dataset",
        "backbone_checkpoint",
        "lora_adapter",
        "merged_checkpoint",
        "embeddings",
        "geometry_metrics",
        "embedding_map",
        "evaluation_metrics",
        "slerp_sweep",
        "metrics_summary",
        "geometry_report",
    }
    for job in (
        "dataset_job",
        "checkpoint_job",
        "adapter_job",
        "cell_job",
        "evaluation_job",
        "sweep_job",
        "summary_job",
        "report_job",
    ):
        assert defs.resolve_job_def(job) is not None


@pytest.mark.parametrize(
    "name", ["../x", "a/b", "a\\b", "a|b", "a,b", "", ".hidden", "a..b", "x" * 65, "a b"]
)
def test_validate_name_rejects_unsafe(name: str) -> None:
    with pytest.raises(BackboneError, match="Invalid backbone name"):
        validate_name(name)


@pytest.mark.parametrize("name", ["minilm-l6", "smollm2-135m", "gte_large.v2", "A1"])
def test_validate_name_accepts_safe(name: str) -> None:
    assert validate_name(name) == name


def test_cell_key_round_trips_through_its_string() -> None:
    key = cell_key("minilm-l6", "base")

    assert str(key) == "minilm-l6|base"
    assert parse_cell(str(key)).backbone == "minilm-l6"
    assert parse_cell(key).merge_method == "base"


def test_cell_key_rejects_unknown_method() -> None:
    with pytest.raises(ConfigError, match="Unknown merge method 'median'"):
        cell_key("minilm-l6", "median")


def test_partition_parts_are_named_folders() -> None:
    assert partition_parts(cell_key("minilm-l6", "base")) == [
        "backbone=minilm-l6",
        "merge_method=base",
    ]
    assert partition_parts("minilm-l6|base") == ["backbone=minilm-l6", "merge_method=base"]
    with pytest.raises(BackboneError):
        partition_parts("../../etc")


def test_io_manager_round_trips_tables_per_partition(tmp_path: Path) -> None:
    @dg.asset(partitions_def=dg.StaticPartitionsDefinition(["p1", "p2"]))
    def numbers(context: dg.AssetExecutionContext) -> pl.DataFrame:
        return pl.DataFrame({"partition": [context.partition_key]})

    resources = {"io_manager": build_resources(storage_root=str(tmp_path))["io_manager"]}
    for key in ("p1", "p2"):
        assert dg.materialize([numbers], partition_key=key, resources=resources).success

    assert read_stored(tmp_path, "numbers", "p2")["partition"].to_list() == ["p2"]
    assert (tmp_path / "numbers" / "p1.parquet").is_file()
    with pytest.raises(FileNotFoundError, match="Materialise it first"):
        read_stored(tmp_path, "numbers", "p3")


def test_failed_asset_marks_its_mlflow_run_failed(tmp_path: Path) -> None:
    tracking_uri = f"sqlite:///{tmp_path / 'mlflow.db'}"

    @dg.asset(code_version="7")
    def broken(context: dg.AssetExecutionContext, mlflow: MlflowTracking) -> None:
        with mlflow.start_run(context, params={"p": 1}):
            raise ValueError("boom")

    tracking = MlflowTracking(tracking_uri=tracking_uri, artifact_root=str(tmp_path / "art"))
    result = dg.materialize([broken], resources={"mlflow": tracking}, raise_on_error=False)

    assert not result.success
    client = MlflowClient(tracking_uri=tracking_uri)
    experiment = client.get_experiment_by_name("numgeom")
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FAILED"
    assert run.data.tags["numgeom.status"] == "failed"
    assert run.data.tags["dagster.asset_key"] == "broken"
    assert run.data.tags["numgeom.code_version"] == "7"
    assert run.data.params["p"] == "1"


def test_build_definitions_uses_given_storage(tmp_path: Path) -> None:
    custom = build_definitions(build_resources(storage_root=str(tmp_path)))

    assert custom.resources["storage"].root == str(tmp_path)
