"""evaluation_metrics and geometry_report on a tiny synthetic world, without any model.

Upstream assets are parquet files written where the IO manager reads them: embeddings of
two backbones × (base, lora, slerp), the sequence dataset, the metrics summary and the
SLERP sweep. Families are Gaussian blobs, and lora separates them more than base.
"""

import os
import re
from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from numgeom_assets.assets.evaluation_metrics import (  # noqa: E402
    check_evaluation_ranges,
    evaluation_metrics,
)
from numgeom_assets.assets.geometry_report import geometry_report, referenced_images  # noqa: E402
from numgeom_assets.cli import report as report_cli  # noqa: E402
from numgeom_assets.definitions import build_resources  # noqa: E402
from numgeom_assets.io_manager import read_stored  # noqa: E402
from numgeom_assets.partitions import (  # noqa: E402
    BACKBONE,
    backbone_partitions,
    cell_key,
    cell_partitions,
)
from numgeom_assets.tracking import MlflowTracking  # noqa: E402

BACKBONES = {"enc-tiny": "encoder", "llm-tiny": "llm"}
METHODS = ("base", "lora", "slerp")
FAMILIES = ("arith", "geom", "fib")
PER_FAMILY = 8
WIDTH = 6
SPREAD = {"base": 1.0, "lora": 3.0, "slerp": 2.0}  # distance of family centres from 0
RUN_CONFIG = {"ops": {"evaluation_metrics": {"config": {"resamples": 20, "k": 3, "folds": 3}}}}


def write_world(root: Path) -> None:
    rows = []
    for split in ("train", "eval", "ood"):
        for family in FAMILIES:
            for i in range(PER_FAMILY):
                rows.append(
                    {
                        "sample_id": f"{split}-{family}-{i}",
                        "split": split,
                        "family": family,
                        "text": "1, 2, 3",
                        "terms": [1, 2, 3],
                        "length": 4 + i % 2,
                        "magnitude": i % 3,
                        "parity": "even" if i % 2 else "odd",
                    }
                )
    dataset = pl.DataFrame(rows)
    (root / "sequence_dataset").mkdir(parents=True)
    dataset.write_parquet(root / "sequence_dataset" / "data.parquet")

    rng = np.random.default_rng(0)
    centres = np.eye(WIDTH)[: len(FAMILIES)]  # [families, WIDTH]
    noise = rng.normal(size=(dataset.height, WIDTH))  # shared, so methods are related
    codes = np.array([FAMILIES.index(f) for f in dataset["family"]])
    for backbone in BACKBONES:
        for method in METHODS:
            vectors = SPREAD[method] * centres[codes] + noise
            vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
            folder = root / "embeddings" / f"backbone={backbone}"
            folder.mkdir(parents=True, exist_ok=True)
            pl.DataFrame(
                {"sample_id": dataset["sample_id"], "embedding": vectors.astype(np.float32)},
                schema={"sample_id": pl.Utf8, "embedding": pl.Array(pl.Float32, WIDTH)},
            ).write_parquet(folder / f"merge_method={method}.parquet")

    summary_rows = [
        {
            "backbone": backbone,
            "merge_method": method,
            "split": "eval",
            "metric": metric,
            "value": value,
            "reason": None,
            "n_samples": 24,
            "kind": kind,
            "weights": "original",
        }
        for backbone, kind in BACKBONES.items()
        for method in METHODS
        for metric, value in (("silhouette", SPREAD[method] / 10), ("davies_bouldin", 1.0))
    ]
    (root / "metrics_summary").mkdir()
    pl.DataFrame(summary_rows).write_parquet(root / "metrics_summary" / "data.parquet")

    (root / "slerp_sweep").mkdir()
    for backbone in BACKBONES:
        pl.DataFrame(
            {
                "backbone": [backbone] * 3,
                "t": [0.0, 0.5, 1.0],
                "split": ["eval"] * 3,
                "metric": ["silhouette"] * 3,
                "value": [0.1, 0.2, 0.3],
                "reason": [None, None, None],
            },
            schema_overrides={"reason": pl.Utf8},
        ).write_parquet(root / "slerp_sweep" / f"{backbone}.parquet")


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("storage")
    write_world(root)
    resources = build_resources(storage_root=str(root))
    resources["mlflow"] = MlflowTracking(
        tracking_uri=f"sqlite:///{root.parent / 'mlflow.db'}",
        artifact_root=str(root.parent / "artifacts"),
    )
    # The upstream assets as source assets: their values are the files written above.
    upstream = [
        dg.SourceAsset("sequence_dataset"),
        dg.SourceAsset("embeddings", partitions_def=cell_partitions),
        dg.SourceAsset("slerp_sweep", partitions_def=backbone_partitions),
        dg.SourceAsset("metrics_summary"),
    ]
    with dg.instance_for_test() as instance:
        instance.add_dynamic_partitions(BACKBONE, list(BACKBONES))
        for backbone in BACKBONES:
            for method in METHODS:
                result = dg.materialize(
                    [*upstream, evaluation_metrics],
                    partition_key=cell_key(backbone, method),
                    resources=resources,
                    instance=instance,
                    run_config=RUN_CONFIG,
                )
                assert result.success
        report = dg.materialize(
            [*upstream, evaluation_metrics, geometry_report],
            selection=["geometry_report"],
            resources=resources,
            instance=instance,
        )
        assert report.success
        yield root, report


def test_evaluation_table_has_every_metric_per_split(world) -> None:
    root, _ = world

    table = read_stored(root, "evaluation_metrics", cell_key("enc-tiny", "lora"))

    assert table["split"].unique().sort().to_list() == ["eval", "ood", "train"]
    eval_metrics = set(table.filter(pl.col("split") == "eval")["metric"].to_list())
    assert eval_metrics == {
        "knn_accuracy",
        "silhouette",
        "davies_bouldin",
        "knn_accuracy_loo",
        "linear_cka",
        "neighbour_overlap",
        "probe_accuracy",
        "kmeans_nmi_length",
        "kmeans_nmi_magnitude",
        "kmeans_nmi_parity",
    }
    assert check_evaluation_ranges(table).passed


def test_evaluation_intervals_and_replicates_match_the_config(world) -> None:
    root, _ = world
    table = read_stored(root, "evaluation_metrics", cell_key("enc-tiny", "lora"))

    silhouette = table.filter((pl.col("split") == "eval") & (pl.col("metric") == "silhouette"))

    assert len(silhouette["replicates"][0]) == 20
    assert silhouette["low"][0] <= silhouette["high"][0]
    assert silhouette["level"][0] == 0.95


def test_probe_row_of_train_split_is_undefined(world) -> None:
    root, _ = world
    table = read_stored(root, "evaluation_metrics", cell_key("enc-tiny", "lora"))

    probe = table.filter(pl.col("metric") == "probe_accuracy").sort("split")

    assert probe["value"][2] is None
    assert "trained on this split" in probe["reason"][2]
    assert 0.0 <= probe["value"][0] <= 1.0


def test_base_cell_has_cka_one_to_itself(world) -> None:
    root, _ = world
    table = read_stored(root, "evaluation_metrics", cell_key("llm-tiny", "base"))

    cka = table.filter((pl.col("split") == "eval") & (pl.col("metric") == "linear_cka"))
    overlap = table.filter((pl.col("split") == "eval") & (pl.col("metric") == "neighbour_overlap"))

    assert cka["value"][0] == pytest.approx(1.0)
    assert overlap["value"][0] == pytest.approx(1.0)


def test_lora_separates_more_than_base(world) -> None:
    root, _ = world

    def eval_silhouette(method: str) -> float:
        table = read_stored(root, "evaluation_metrics", cell_key("enc-tiny", method))
        rows = table.filter((pl.col("split") == "eval") & (pl.col("metric") == "silhouette"))
        return rows["value"][0]

    assert eval_silhouette("lora") > eval_silhouette("base")


def test_report_page_states_each_claim_verdict(world) -> None:
    root, _ = world
    record = read_stored(root, "geometry_report")
    page = Path(record["path"]).read_text()

    assert set(record["verdicts"]) == {"1", "2", "3"}
    for claim_id, verdict in record["verdicts"].items():
        assert f"### Claim {claim_id}: {verdict}" in page
    assert "| enc-tiny | encoder | original |" in page


def test_report_page_images_all_exist(world) -> None:
    root, _ = world
    record = read_stored(root, "geometry_report")
    page_path = Path(record["path"])

    images = referenced_images(page_path.read_text())

    assert {"tradeoff.png", "silhouette.png", "slerp_curves.png"} <= set(images)
    for name in images:
        assert (page_path.parent / name).is_file(), name


def test_report_metadata_inlines_images(world) -> None:
    _, result = world

    (materialization,) = result.get_asset_materialization_events()
    markdown = materialization.materialization.metadata["report"].value

    assert "data:image/png;base64," in markdown
    assert not re.search(r"\]\([a-z_]+\.png\)", markdown)


def test_report_command_prints_page(world, monkeypatch, capsys) -> None:
    root, _ = world
    monkeypatch.setenv("NUMGEOM_STORAGE_DIR", str(root))
    import argparse

    assert report_cli._report(argparse.Namespace(print_page=True)) == 0

    output = capsys.readouterr().out
    assert "report.md" in output
    assert "# numgeom geometry report" in output


def test_report_command_without_report_fails(tmp_path, monkeypatch) -> None:
    import argparse

    from numgeom_core.errors import NumgeomError

    monkeypatch.setenv("NUMGEOM_STORAGE_DIR", str(tmp_path))

    with pytest.raises(NumgeomError, match="No geometry report"):
        report_cli._report(argparse.Namespace(print_page=False))
