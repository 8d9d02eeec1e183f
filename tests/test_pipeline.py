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
    "lora_adapter",
    "merged_checkpoint",
    "embeddings",
    "geometry_metrics",
    "embedding_map",
    "evaluation_metrics",
    "slerp_sweep",
    "metrics_summary",
    "geometry_report",
)
METHODS = ("base", "lora", "soup", "slerp", "task_arithmetic", "ties", "dare_ties")


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
    partition = event.dagster_event.partition
    assert run.data.tags["dagster.partition_key"] == partition
    table = read_stored(pipeline["storage"], "geometry_metrics", partition)
    silhouette = table.filter((pl.col("metric") == "silhouette") & (pl.col("split") == "eval"))
    assert run.data.metrics["eval/silhouette"] == pytest.approx(silhouette["value"][0])


def test_every_merge_method_is_scored(pipeline) -> None:
    summary = read_stored(pipeline["storage"], "metrics_summary")

    assert set(summary["merge_method"]) == set(METHODS)
    for method in METHODS:
        table = read_stored(pipeline["storage"], "geometry_metrics", cell_key("minilm-l6", method))
        assert table.height == 3 * 8, method
        assert table["value"].null_count() == 0, method


def test_merged_checkpoints_record_their_inputs(pipeline) -> None:
    storage = pipeline["storage"]
    base = read_stored(storage, "backbone_checkpoint", "minilm-l6")
    lora = read_stored(storage, "lora_adapter", "minilm-l6")
    merged = {
        m: read_stored(storage, "merged_checkpoint", cell_key("minilm-l6", m)) for m in METHODS
    }

    assert merged["base"]["path"] == base["path"]
    assert merged["lora"]["path"] == lora["merged_stages"][-1]
    assert merged["soup"]["inputs"] == [base["path"], *lora["merged_stages"]]
    assert merged["slerp"]["inputs"] == [base["path"], lora["merged_stages"][-1]]
    assert merged["slerp"]["settings"]["t"] == 0.5
    assert merged["ties"]["settings"]["density"] == 0.5
    assert merged["task_arithmetic"]["settings"]["scaling"] == 0.5
    assert len({record["sha256"] for record in merged.values()}) == len(METHODS)


def test_slerp_sweep_endpoints_equal_base_and_lora(pipeline) -> None:
    storage = pipeline["storage"]
    sweep = read_stored(storage, "slerp_sweep", "minilm-l6")
    silhouette = sweep.filter(pl.col("metric") == "silhouette").sort("t")

    assert silhouette["t"].to_list() == [0.0, 0.5, 1.0]
    for t, method in ((0.0, "base"), (1.0, "lora")):
        cell = read_stored(storage, "geometry_metrics", cell_key("minilm-l6", method))
        expected = cell.filter((pl.col("metric") == "silhouette") & (pl.col("split") == "eval"))
        actual = silhouette.filter(pl.col("t") == t)["value"][0]
        assert actual == pytest.approx(expected["value"][0], abs=1e-5), method


def test_report_states_every_claim(pipeline) -> None:
    record = read_stored(pipeline["storage"], "geometry_report")
    page = Path(record["path"]).read_text()

    assert sorted(record["verdicts"]) == ["1", "2", "3"]
    for verdict in record["verdicts"].values():
        assert verdict in ("holds", "does not hold", "mixed", "undetermined")
        assert verdict in page
    for name, figure in record["figures"].items():
        assert Path(figure).is_file(), name
        assert Path(figure).name in page, name


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

    small = profiles.PROFILES["small"]["sequence_dataset"]
    too_many = {"train": {**small["train"], "samples_per_family": 10_000}}
    monkeypatch.setitem(profiles.PROFILES, "impossible", {"sequence_dataset": too_many})
    defs = build_definitions(build_resources(storage_root=str(tmp_path)))
    with dg.instance_for_test() as instance:
        with pytest.raises(DatasetError, match="10000"):
            run_main_job(defs, instance, ["minilm-l6"], profile="impossible")
        assert instance.get_runs() == []


@pytest.fixture(scope="module")
def backfilled(pipeline, tmp_path_factory: pytest.TempPathFactory):
    """Register a local copy of MiniLM as a new backbone and backfill only its partitions."""
    import os
    import shutil

    from numgeom_assets.cli import main
    from numgeom_core.models import DEFAULT_BACKBONES
    from numgeom_core.models.checkpoints import package_model_folder

    copy = tmp_path_factory.mktemp("copy") / "minilm"
    shutil.copytree(package_model_folder(DEFAULT_BACKBONES["minilm-l6"]), copy)
    registry = pipeline["root"] / "backbones.json"
    os.environ["NUMGEOM_REGISTRY_FILE"] = str(registry)
    try:
        assert main(["backbone", "add", "minilm-copy", "--source", str(copy)]) == 0
        pipeline["instance"].add_dynamic_partitions("backbone", ["minilm-copy"])
        defs = build_definitions(_resources(pipeline["root"]))
        report = run_main_job(defs, pipeline["instance"], ["minilm-copy"], "small", True)
        yield {**pipeline, "registry": registry, "backfill_report": report, "copy": copy}
    finally:
        os.environ.pop("NUMGEOM_REGISTRY_FILE", None)


def _resources(root: Path) -> dict:
    resources = build_resources(storage_root=str(root / "storage"))
    resources["mlflow"] = MlflowTracking(
        tracking_uri=f"sqlite:///{root / 'mlflow.db'}", artifact_root=str(root / "artifacts")
    )
    return resources


def test_backfill_adds_rows_without_recomputing(backfilled) -> None:
    report = backfilled["backfill_report"]
    summary = read_stored(backfilled["storage"], "metrics_summary")

    assert "dataset_job" in report.skipped
    assert set(summary["backbone"]) == {"minilm-l6", "minilm-copy"}
    assert "cell_job [minilm-l6|base]" not in report.skipped  # not even considered
    runs = backfilled["client"].search_runs(
        [backfilled["client"].get_experiment_by_name("numgeom").experiment_id],
        filter_string="tags.`numgeom.backbone` = 'minilm-copy'",
    )
    assert {run.data.tags["dagster.asset_key"] for run in runs} >= {
        "embeddings",
        "geometry_metrics",
    }


def test_local_copy_scores_like_the_original(backfilled) -> None:
    summary = read_stored(backfilled["storage"], "metrics_summary")
    silhouettes = summary.filter((pl.col("metric") == "silhouette") & (pl.col("split") == "eval"))
    by_backbone = dict(zip(silhouettes["backbone"], silhouettes["value"], strict=True))

    assert by_backbone["minilm-copy"] == pytest.approx(by_backbone["minilm-l6"], abs=1e-6)


def test_registration_records_architecture_defaults(backfilled) -> None:
    (entry,) = json.loads(backfilled["registry"].read_text())

    assert entry["name"] == "minilm-copy"
    assert entry["kind"] == "encoder"
    assert entry["pooling"] == "mean"
    assert entry["lora_targets"] == ["query", "key", "value"]
    assert entry["source_type"] == "directory"


def test_compare_prints_every_cell(backfilled, capsys, monkeypatch) -> None:
    from numgeom_assets.cli import main

    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{backfilled['root'] / 'mlflow.db'}")
    assert main(["compare", "--format", "json", "--split", "eval"]) == 0
    rows = json.loads(capsys.readouterr().out)

    assert {row["backbone"] for row in rows} == {"minilm-l6", "minilm-copy"}
    assert all(row["split"] == "eval" for row in rows)
    assert all(-1 <= row["silhouette"] <= 1 for row in rows)

    assert main(["compare", "--format", "csv", "--backbone", "minilm-copy"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("backbone,merge_method,split,silhouette")
    assert len(lines) == 1 + 3 * len(METHODS)


def test_sensor_requests_only_missing_partitions(backfilled, monkeypatch) -> None:
    from numgeom_assets.automation import new_backbone_sensor

    instance = backfilled["instance"]
    monkeypatch.setenv("NUMGEOM_REGISTRY_FILE", str(backfilled["registry"]))
    result = new_backbone_sensor(dg.build_sensor_context(instance=instance))
    assert result.run_requests == []

    from numgeom_assets.registry import add_backbone
    from numgeom_core.models.architectures import spec_from_source

    add_backbone(spec_from_source("minilm-third", "directory", str(backfilled["copy"])))
    result = new_backbone_sensor(dg.build_sensor_context(instance=instance))
    (request,) = result.run_requests
    assert request.job_name == "checkpoint_job"
    assert request.partition_key == "minilm-third"
    (partitions,) = result.dynamic_partitions_requests
    assert list(partitions.partition_keys) == ["minilm-third"]


def test_schedule_requests_every_cell(backfilled) -> None:
    import datetime as dt

    from numgeom_assets.automation import reevaluation_schedule

    context = dg.build_schedule_context(
        instance=backfilled["instance"],
        scheduled_execution_time=dt.datetime(2026, 12, 7, 3, tzinfo=dt.UTC),
    )
    requests = reevaluation_schedule(context)

    expected = sorted(f"{b}|{m}" for b in ("minilm-copy", "minilm-l6") for m in METHODS)
    assert sorted(str(r.partition_key) for r in requests) == expected
    assert all(r.run_key.startswith("2026-12-07T03:00:00") for r in requests)


def test_unchanged_reevaluation_reuses_embeddings(backfilled) -> None:
    instance = backfilled["instance"]
    defs = build_definitions(_resources(backfilled["root"]))
    key = cell_key("minilm-copy", "soup")
    before = read_stored(backfilled["storage"], "embeddings", key)

    result = defs.resolve_job_def("evaluation_job").execute_in_process(
        instance=instance, partition_key=key
    )

    assert result.success
    event = instance.get_latest_materialization_event(dg.AssetKey("embeddings"))
    metadata = event.asset_materialization.metadata
    assert event.run_id == result.run_id
    assert metadata["recomputed"].value is False
    after = read_stored(backfilled["storage"], "embeddings", key)
    assert after.equals(before)
