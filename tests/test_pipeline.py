"""The whole Dagster graph on the real MiniLM backbone, in a test instance, offline."""

import json
from pathlib import Path

import dagster as dg
import polars as pl
import pytest
from mlflow.tracking import MlflowClient

from numgeom_assets.definitions import build_definitions, build_resources
from numgeom_assets.io_manager import read_stored
from numgeom_assets.main_job import run_main_job
from numgeom_assets.partitions import cell_key
from numgeom_assets.tracking import MlflowTracking
from numgeom_core.errors import BackboneError, DatasetError, ModelUnavailableError

pytestmark = pytest.mark.slow

ASSETS = (
    "sequence_dataset",
    "backbone_checkpoint",
    "embeddings",
    "geometry_metrics",
    "embedding_map",
    "metrics_summary",
)


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory: pytest.TempPathFactory):
    """Run the main job once for minilm-l6 on the small profile; yield what it left."""
    root = tmp_path_factory.mktemp("pipeline")
    tracking_uri = f"sqlite:///{root / 'mlflow.db'}"
    resources = build_resources(storage_root=str(root / "storage"))
    resources["mlflow"] = MlflowTracking(
        tracking_uri=tracking_uri, artifact_root=str(root / "artifacts")
    )
    defs = build_definitions(resources)
    (root / "dagster").mkdir()
    with dg.instance_for_test(temp_dir=str(root / "dagster")) as instance:
        report = run_main_job(defs, instance, ["minilm-l6"], profile="small")
        yield {
            "root": root,
            "storage": root / "storage",
            "client": MlflowClient(tracking_uri=tracking_uri),
            "instance": instance,
            "report": report,
        }


def test_main_job_materialises_every_asset(pipeline) -> None:
    instance = pipeline["instance"]
    for asset in ASSETS:
        event = instance.get_latest_materialization_event(dg.AssetKey(asset))
        assert event is not None, f"{asset} was not materialised"
    assert set(pipeline["report"].asset_seconds) == set(ASSETS)


def test_metrics_table_has_every_split_and_metric(pipeline) -> None:
    table = read_stored(pipeline["storage"], "geometry_metrics", cell_key("minilm-l6", "base"))

    assert set(table["split"]) == {"train", "eval", "ood"}
    assert table.height == 3 * 8
    silhouette = table.filter((pl.col("metric") == "silhouette") & (pl.col("split") == "eval"))
    assert -1.0 <= silhouette["value"][0] <= 1.0
    assert table.filter(pl.col("value").is_null())["reason"].null_count() == 0


def test_summary_holds_the_cell_and_its_plots(pipeline) -> None:
    summary = read_stored(pipeline["storage"], "metrics_summary")
    plots = pipeline["storage"] / "metrics_summary" / "plots"

    assert set(summary["backbone"]) == {"minilm-l6"}
    assert set(summary["weights"]) == {"original"}
    for name in ("silhouette.png", "davies_bouldin.png", "umap_grid.png"):
        assert (plots / name).read_bytes().startswith(b"\x89PNG"), name


def test_asset_checks_pass(pipeline) -> None:
    instance = pipeline["instance"]
    for asset, check in (
        ("embeddings", "embeddings_are_finite_and_shaped"),
        ("geometry_metrics", "metric_values_are_in_valid_ranges"),
    ):
        records = instance.event_log_storage.get_asset_check_execution_history(
            dg.AssetCheckKey(dg.AssetKey(asset), check), limit=1
        )
        assert records, f"{check} did not run"
        evaluation = records[0].event.dagster_event.event_specific_data
        assert evaluation.passed, f"{check} failed: {evaluation.metadata}"


def test_mlflow_run_per_asset_links_back(pipeline) -> None:
    client = pipeline["client"]
    instance = pipeline["instance"]
    experiment = client.get_experiment_by_name("numgeom")
    runs = client.search_runs([experiment.experiment_id])

    assert {run.data.tags["dagster.asset_key"] for run in runs} == set(ASSETS)
    for run in runs:
        assert run.info.status == "FINISHED"
        assert run.data.tags["numgeom.status"] == "complete"

    event = instance.get_latest_materialization_event(dg.AssetKey("geometry_metrics"))
    metadata = event.asset_materialization.metadata
    run = client.get_run(metadata["mlflow_run_id"].value)
    assert run.data.tags["dagster.run_id"] == event.run_id
    assert run.data.tags["numgeom.backbone"] == "minilm-l6"
    table = read_stored(pipeline["storage"], "geometry_metrics", cell_key("minilm-l6", "base"))
    silhouette = table.filter((pl.col("metric") == "silhouette") & (pl.col("split") == "eval"))
    assert run.data.metrics["eval/silhouette"] == pytest.approx(silhouette["value"][0])


def test_checkpoint_record_names_source_and_digest(pipeline) -> None:
    record = read_stored(pipeline["storage"], "backbone_checkpoint", "minilm-l6")

    assert len(record["sha256"]) == 64
    assert Path(record["path"], "config.json").is_file()
    assert json.loads(json.dumps(record["spec"]))["kind"] == "encoder"


def test_unknown_backbone_fails_before_any_run(tmp_path: Path) -> None:
    defs = build_definitions(build_resources(storage_root=str(tmp_path)))
    with dg.instance_for_test() as instance:
        with pytest.raises(BackboneError, match="no-such-model"):
            run_main_job(defs, instance, ["no-such-model"])
        with pytest.raises(BackboneError, match=r"\.\./etc"):
            run_main_job(defs, instance, ["../etc"])
        assert instance.get_runs() == []


def test_hub_backbone_offline_fails_before_any_run(tmp_path: Path) -> None:
    defs = build_definitions(build_resources(storage_root=str(tmp_path)))
    with dg.instance_for_test() as instance:
        with pytest.raises(ModelUnavailableError, match="gte-large"):
            run_main_job(defs, instance, ["gte-large"])
        assert instance.get_runs() == []


def test_impossible_profile_fails_before_any_run(tmp_path: Path, monkeypatch) -> None:
    from numgeom_assets import profiles

    too_many = {"train": {**profiles.PROFILES["small"]["train"], "samples_per_family": 10_000}}
    monkeypatch.setitem(profiles.PROFILES, "impossible", too_many)
    defs = build_definitions(build_resources(storage_root=str(tmp_path)))
    with dg.instance_for_test() as instance:
        with pytest.raises(DatasetError, match="10000"):
            run_main_job(defs, instance, ["minilm-l6"], profile="impossible")
        assert instance.get_runs() == []
