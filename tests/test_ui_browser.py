"""The Dagster and MLflow UIs, driven in headless Chromium as a user would, on real runs.

A temporary Dagster instance, asset storage and MLflow store get the upstream assets of
one cell (minilm-l6 × base, small profile). Then `dg dev` serves them: the test opens the
asset graph, materialises one geometry_metrics partition from the asset page through the
run queue, and checks the metadata and plots the pages show. Last, `mlflow ui` must list
the MLflow run of that materialisation. Screenshots of every step go to test-output/ui/,
server and preparation logs to test-output/ui/logs/.

Needs Debian's `chromium` package (/usr/bin/chromium): Playwright's own browser download
needs a network. Takes about 3.5 minutes on 2 cores.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from servers import Server, free_port, log_tail, post_json, processes_with_env, running_server

from numgeom_assets.partitions import cell_key

playwright_api = pytest.importorskip(
    "playwright.sync_api",
    reason="Playwright is missing: install the dev extra with `pip install -e '.[dev]'`",
)

CHROMIUM = Path("/usr/bin/chromium")

pytestmark = [
    pytest.mark.slow,
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists(),
        reason=f"{CHROMIUM} not found: install Debian's `chromium` package "
        "(`apt-get install chromium`, which scripts/setup.sh does as root)",
    ),
]

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "test-output" / "ui"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1400, "height": 900}

BACKBONE = "minilm-l6"
MERGE_METHOD = "base"
PARTITION = str(cell_key(BACKBONE, MERGE_METHOD))  # "minilm-l6|base"
MLFLOW_RUN_NAME = f"geometry_metrics {BACKBONE} {MERGE_METHOD}"
SUMMARY_PLOTS = ("plot_silhouette", "plot_davies_bouldin", "plot_umap")

PREPARE_TIMEOUT = 600
DAGSTER_READY_TIMEOUT = 180
MLFLOW_READY_TIMEOUT = 120
RUN_TIMEOUT = 300
PAGE_TIMEOUT_MS = 60_000

# Materialises what the UI steps need, in this order: the dataset, the checkpoint, the
# one cell and the summary. The main job for minilm-l6 on the small profile also runs six
# more merge-method cells, LoRA training and the SLERP sweep, which the UI steps do not
# use. Its cells alone took over four minutes on 2 cores.
PREPARE_SCRIPT = """
import sys

import dagster as dg

from numgeom_assets.definitions import build_definitions
from numgeom_assets.partitions import BACKBONE, cell_key
from numgeom_assets.profiles import run_config_for

backbone, merge_method = sys.argv[1:3]
defs = build_definitions()
steps = [
    ("dataset_job", None),
    ("checkpoint_job", backbone),
    ("cell_job", cell_key(backbone, merge_method)),
    ("summary_job", None),
]
with dg.DagsterInstance.get() as instance:
    instance.add_dynamic_partitions(BACKBONE, [backbone])
    for job_name, partition_key in steps:
        job = defs.resolve_job_def(job_name)
        assets = {key.to_user_string() for key in job.asset_layer.selected_asset_keys}
        result = job.execute_in_process(
            instance=instance,
            partition_key=partition_key,
            run_config=run_config_for("small", assets),
            raise_on_error=False,
        )
        if not result.success:
            sys.exit(f"{job_name} [{partition_key}] failed in Dagster run {result.run_id}")
        print(f"{job_name} [{partition_key}] succeeded in Dagster run {result.run_id}")
"""

LOCATIONS_QUERY = """
query {
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError { __typename ... on PythonError { message } }
      }
    }
  }
}
"""

RUNS_QUERY = """
query Runs($partition: String!) {
  runsOrError(filter: {tags: [{key: "dagster/partition", value: $partition}]}) {
    __typename
    ... on Runs { results { runId status } }
  }
}
"""

RUN_QUERY = """
query Run($runId: ID!) {
  runOrError(runId: $runId) { __typename ... on Run { runId status } }
}
"""

MATERIALIZATION_QUERY = """
query Materialization($partition: String!) {
  assetOrError(assetKey: {path: ["geometry_metrics"]}) {
    __typename
    ... on Asset {
      assetMaterializations(partitions: [$partition], limit: 1) {
        runId
        partition
        metadataEntries {
          label
          ... on TextMetadataEntry { text }
          ... on UrlMetadataEntry { url }
          ... on FloatMetadataEntry { floatValue }
        }
      }
    }
  }
}
"""


@dataclass
class LaunchedRun:
    """The run launched from the UI: its id, final status and wall seconds until then."""

    run_id: str
    status: str
    seconds: float


class Screenshots:
    """Saves screenshots under test-output/ui/ and remembers the last one for messages."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.last: Path | None = None

    def take(self, page: Any, name: str, full_page: bool = False) -> Path:
        path = self.folder / f"{name}.png"
        page.screenshot(path=str(path), full_page=full_page)
        self.last = path
        return path

    def fail(self, page: Any, name: str, message: str) -> None:
        """Save a screenshot of the failure and fail the test with its path."""
        path = self.take(page, f"failed-{name}", full_page=True)
        pytest.fail(f"{message} (screenshot: {path})")

    def wait_visible(
        self, page: Any, locator: Any, name: str, description: str, timeout_ms: int
    ) -> None:
        """Wait for `locator` to be visible, else fail with a screenshot and `description`."""
        try:
            locator.first.wait_for(state="visible", timeout=timeout_ms)
        except playwright_api.TimeoutError:
            self.fail(page, name, f"{description} did not appear within {timeout_ms / 1000:.0f} s")


def graphql(server: Server, query: str, variables: dict | None = None) -> dict:
    """Run a GraphQL query against the Dagster webserver and fail on GraphQL errors."""
    response = post_json(f"{server.url}/graphql", {"query": query, "variables": variables or {}})
    if response.get("errors"):
        pytest.fail(f"Dagster GraphQL query failed: {response['errors']}")
    return response["data"]


def partition_runs(server: Server) -> dict[str, str]:
    """Return {run id: status} of every run tagged with the test's partition."""
    data = graphql(server, RUNS_QUERY, {"partition": PARTITION})["runsOrError"]
    assert data["__typename"] == "Runs", f"Listing runs failed: {data}"
    return {run["runId"]: run["status"] for run in data["results"]}


def latest_materialization(server: Server) -> dict:
    """Return the latest geometry_metrics materialisation of the test's partition."""
    data = graphql(server, MATERIALIZATION_QUERY, {"partition": PARTITION})["assetOrError"]
    assert data["__typename"] == "Asset", f"geometry_metrics is not a known asset: {data}"
    events = data["assetMaterializations"]
    assert events, f"geometry_metrics has no materialisation of partition {PARTITION}"
    return events[0]


def metadata_value(event: dict, label: str) -> Any:
    """Return the text, URL or float of the metadata entry `label` of a materialisation."""
    entries = {entry["label"]: entry for entry in event["metadataEntries"]}
    assert label in entries, f"Materialisation metadata lacks {label!r}: {sorted(entries)}"
    for field in ("text", "url", "floatValue"):
        if field in entries[label]:
            return entries[label][field]
    pytest.fail(f"Metadata entry {label!r} has no text, URL or float value: {entries[label]}")


def wait_for_location(server: Server, timeout: float) -> None:
    """Wait until the `numgeom` code location is loaded, or fail with its load error."""
    deadline = time.monotonic() + timeout
    entries: list = []
    while time.monotonic() < deadline:
        workspace = graphql(server, LOCATIONS_QUERY)["workspaceOrError"]
        entries = workspace.get("locationEntries", [])
        numgeom = [entry for entry in entries if entry["name"] == "numgeom"]
        if numgeom and numgeom[0]["loadStatus"] == "LOADED":
            loaded = numgeom[0]["locationOrLoadError"]
            assert loaded["__typename"] == "RepositoryLocation", (
                f"The numgeom code location failed to load: {loaded.get('message')} "
                f"(dg dev log: {server.log_path})"
            )
            return
        time.sleep(1)
    pytest.fail(
        f"The numgeom code location did not load within {timeout:.0f} s: {entries}. "
        f"Log tail ({server.log_path}):\n{log_tail(server.log_path)}"
    )


@pytest.fixture(scope="module")
def screenshots() -> Screenshots:
    """An emptied test-output/ui/ folder, so no screenshot is left from an earlier run."""
    shutil.rmtree(OUTPUT, ignore_errors=True)
    (OUTPUT / "logs").mkdir(parents=True)
    return Screenshots(OUTPUT)


@pytest.fixture(scope="module")
def timings(screenshots: Screenshots) -> Iterator[dict[str, Any]]:
    """Seconds each phase took, written to test-output/ui/logs/timings.json at the end."""
    record: dict[str, Any] = {}
    yield record
    (screenshots.folder / "logs" / "timings.json").write_text(json.dumps(record, indent=2))


def record_server(timings: dict[str, Any], server: Server) -> None:
    """Store how long the server took to respond and to stop, and which signal stopped it."""
    timings[server.name] = {
        "ready_seconds": server.ready_seconds,
        "stop_signal": server.stop_signal,
        "stop_seconds": server.stop_seconds,
    }


@pytest.fixture(scope="module")
def environment(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Environment variables that point Dagster, numgeom and MLflow at temporary stores."""
    root = tmp_path_factory.mktemp("ui")
    home = root / "dagster_home"
    home.mkdir()
    shutil.copy(ROOT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    venv = Path(sys.prefix)
    return {
        **os.environ,
        "DAGSTER_HOME": str(home),
        "NUMGEOM_STORAGE_DIR": str(root / "storage"),
        "NUMGEOM_REGISTRY_FILE": str(root / "backbones.json"),
        "MLFLOW_TRACKING_URI": f"sqlite:///{root / 'mlflow.db'}",
        "NUMGEOM_MLFLOW_ARTIFACTS": str(root / "artifacts"),
        "MLFLOW_DISABLE_TELEMETRY": "true",
        # MLflow 3.17's job runner (for GenAI scorers) starts seven extra processes, and
        # nothing here uses it.
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "HF_HUB_OFFLINE": "1",
        "TRANSFORMERS_OFFLINE": "1",
        "PYTHONUNBUFFERED": "1",
        "VIRTUAL_ENV": str(venv),
        "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
    }


@pytest.fixture(scope="module")
def prepared(
    environment: dict[str, str], screenshots: Screenshots, timings: dict[str, Any]
) -> dict[str, str]:
    """Materialise the dataset, the checkpoint, the minilm-l6 × base cell and the summary."""
    log_path = screenshots.folder / "logs" / "prepare.log"
    command = [sys.executable, "-c", PREPARE_SCRIPT, BACKBONE, MERGE_METHOD]
    started = time.monotonic()
    with open(log_path, "wb") as log:
        try:
            result = subprocess.run(
                command,
                cwd=ROOT,
                env=environment,
                stdout=log,
                stderr=subprocess.STDOUT,
                timeout=PREPARE_TIMEOUT,
            )
        except subprocess.TimeoutExpired:
            pytest.fail(
                f"Preparing the stores timed out after {PREPARE_TIMEOUT} s. Log: {log_path}"
            )
    assert result.returncode == 0, (
        f"Preparing the stores failed with status {result.returncode}. "
        f"Log tail ({log_path}):\n{log_tail(log_path)}"
    )
    timings["prepare_seconds"] = time.monotonic() - started
    return environment


@pytest.fixture(scope="module")
def dagster_ui(
    prepared: dict[str, str], screenshots: Screenshots, timings: dict[str, Any]
) -> Iterator[Server]:
    """`dg dev` on a free port, with its code location loaded; stopped with its whole group."""
    port = free_port()
    with running_server(
        "dg dev",
        ["dg", "dev", "--host", "127.0.0.1", "--port", str(port)],
        f"http://127.0.0.1:{port}",
        "/server_info",
        prepared,
        ROOT,
        screenshots.folder / "logs" / "dg-dev.log",
        DAGSTER_READY_TIMEOUT,
    ) as server:
        wait_for_location(server, DAGSTER_READY_TIMEOUT)
        yield server
    record_server(timings, server)
    left = processes_with_env("DAGSTER_HOME", prepared["DAGSTER_HOME"])
    assert not left, f"Processes of dg dev outlived it: {left}"


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    """Headless Debian Chromium, driven by Playwright."""
    with playwright_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(scope="module")
def dagster_page(browser: Any, dagster_ui: Server, screenshots: Screenshots) -> Iterator[Any]:
    """A page of the Dagster UI on the asset graph, with the community sign-up dismissed."""
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    page = context.new_page()
    skip = page.get_by_role("dialog").filter(has_text="Join the Dagster community")
    skip = skip.get_by_role("button", name="Skip")
    # The sign-up dialog opens on a fresh browser profile. Should it open over a later
    # step, Playwright clicks Skip before that step's next action.
    page.add_locator_handler(skip, lambda button: button.click())

    page.goto(f"{dagster_ui.url}/asset-groups")
    try:
        skip.wait_for(state="visible", timeout=15_000)
        skip.click()
    except playwright_api.TimeoutError:
        pass  # no sign-up dialog opened, so there is nothing to dismiss
    yield page
    context.close()


@pytest.fixture(scope="module")
def launched_run(
    dagster_page: Any, dagster_ui: Server, screenshots: Screenshots, timings: dict[str, Any]
) -> LaunchedRun:
    """Materialise geometry_metrics for minilm-l6|base from its asset page; wait for the end."""
    page = dagster_page
    page.goto(f"{dagster_ui.url}/assets/geometry_metrics")
    materialize = page.get_by_role("button", name="Materialize…")
    screenshots.wait_visible(page, materialize, "asset-page", "The Materialize… button", 60_000)
    scores = page.get_by_role("row").filter(has=page.get_by_text("scores", exact=True))
    screenshots.wait_visible(page, scores, "asset-page", "The metadata row scores", 60_000)
    screenshots.take(page, "02-geometry-metrics-before")
    runs_before = set(partition_runs(dagster_ui))

    materialize.click()
    dialog = page.get_by_role("dialog").filter(has_text="Launch runs to materialize")
    for dimension, value in (("backbone", BACKBONE), ("merge_method", MERGE_METHOD)):
        _select_partition(page, dialog, dimension, value, screenshots)
    launch = dialog.get_by_role("button", name="Launch 1 run")
    screenshots.wait_visible(page, launch, "launch-dialog", "The 'Launch 1 run' button", 10_000)
    screenshots.take(page, "03-launch-dialog")

    started = time.monotonic()
    launch.click()
    toast = page.get_by_text(re.compile(r"Launched run [0-9a-f]{8}"))
    screenshots.wait_visible(page, toast, "launched", "The 'Launched run' message", 30_000)
    screenshots.take(page, "04-run-launched")
    prefix = re.search(r"[0-9a-f]{8}", toast.first.inner_text()).group()

    run_id = _new_run(dagster_ui, runs_before, page, screenshots)
    assert run_id.startswith(prefix), f"The UI launched run {prefix}, the new run is {run_id}"
    page.goto(f"{dagster_ui.url}/runs/{run_id}")
    status = _wait_for_run_end(dagster_ui, run_id, page, screenshots)
    seconds = time.monotonic() - started
    status_label = page.get_by_text(status.capitalize(), exact=True)
    screenshots.wait_visible(page, status_label, "run-page", f"The run status {status}", 30_000)
    screenshots.take(page, "05-run-page")

    page.goto(f"{dagster_ui.url}/runs")
    screenshots.wait_visible(page, page.get_by_text(run_id[:8]), "runs", "The run's row", 60_000)
    screenshots.take(page, "06-runs-list")
    timings["ui_run_seconds"] = seconds
    return LaunchedRun(run_id, status, seconds)


def _select_partition(
    page: Any, dialog: Any, dimension: str, value: str, screenshots: Screenshots
) -> None:
    """Pick `value` in the partition selector of `dimension` in the launch dialog."""
    # The innermost block that contains both the dimension's name and a selector.
    section = dialog.locator("div", has=page.get_by_text(dimension, exact=True)).filter(
        has=page.locator('[aria-haspopup="dialog"]')
    )
    section.last.locator('[aria-haspopup="dialog"]').click()
    popover = page.locator("[data-radix-popper-content-wrapper]").last
    option = popover.get_by_role("menuitem").filter(has=page.get_by_text(value, exact=True))
    screenshots.wait_visible(page, option, f"select-{dimension}", f"Partition {value!r}", 30_000)
    option.first.click()
    page.keyboard.press("Escape")
    chip = section.last.get_by_text(value, exact=True)
    screenshots.wait_visible(page, chip, f"chosen-{dimension}", f"Chosen {value!r}", 10_000)


def _new_run(dagster_ui: Server, runs_before: set[str], page: Any, screenshots: Screenshots) -> str:
    """Return the one run of the partition that did not exist before the launch."""
    deadline = time.monotonic() + 30
    new: set[str] = set()
    while time.monotonic() < deadline:
        new = set(partition_runs(dagster_ui)) - runs_before
        if new:
            break
        time.sleep(1)
    if len(new) != 1:
        screenshots.fail(page, "new-run", f"Expected one new run of {PARTITION}, found {new}")
    return new.pop()


def _wait_for_run_end(dagster_ui: Server, run_id: str, page: Any, screenshots: Screenshots) -> str:
    """Poll the run's status until it ends and return it: SUCCESS, FAILURE or CANCELED."""
    deadline = time.monotonic() + RUN_TIMEOUT
    status = "unknown"
    while time.monotonic() < deadline:
        run = graphql(dagster_ui, RUN_QUERY, {"runId": run_id})["runOrError"]
        status = run.get("status", run["__typename"])
        if status in ("SUCCESS", "FAILURE", "CANCELED"):
            return status
        time.sleep(3)
    screenshots.fail(
        page,
        "run-timeout",
        f"Run {run_id} timed out: still {status} after {RUN_TIMEOUT} s "
        f"(dg dev log: {dagster_ui.log_path})",
    )
    return status


def test_asset_graph_shows_every_group(
    dagster_page: Any, dagster_ui: Server, screenshots: Screenshots
) -> None:
    page = dagster_page
    page.goto(f"{dagster_ui.url}/asset-groups")
    graph_node = page.locator("foreignObject")
    screenshots.wait_visible(page, graph_node, "asset-graph", "The asset graph", 60_000)

    page.locator("#zoom-slider-container button").filter(
        has=page.locator('[aria-label="settings"]')
    ).click()
    page.get_by_role("menuitem", name="Expand all groups").click()
    page.keyboard.press("Escape")
    for asset in ("sequence_dataset", "embeddings", "geometry_metrics", "metrics_summary"):
        node = graph_node.filter(has_text=asset)
        screenshots.wait_visible(page, node, "asset-graph", f"Asset node {asset}", 30_000)
    # Only for the picture: let the status colours load and the edges finish moving.
    page.wait_for_load_state("networkidle")
    page.wait_for_timeout(2000)
    screenshots.take(page, "01-asset-graph")


def test_partition_materialised_from_ui_shows_scores(
    launched_run: LaunchedRun, dagster_page: Any, dagster_ui: Server, screenshots: Screenshots
) -> None:
    assert launched_run.status == "SUCCESS", (
        f"Run {launched_run.run_id} ended {launched_run.status} "
        f"(screenshot: {screenshots.folder / '05-run-page.png'}, log: {dagster_ui.log_path})"
    )
    event = latest_materialization(dagster_ui)
    assert event["runId"] == launched_run.run_id
    assert event["partition"] == PARTITION
    mlflow_run_id = metadata_value(event, "mlflow_run_id")

    page = dagster_page
    page.goto(f"{dagster_ui.url}/assets/geometry_metrics")
    latest = page.get_by_text(PARTITION, exact=True)
    screenshots.wait_visible(page, latest, "asset-after", "The latest partition", 60_000)
    for label in ("scores", "mlflow_run_id", "mlflow_run_url", "eval_silhouette"):
        row = page.get_by_role("row").filter(has=page.get_by_text(label, exact=True))
        screenshots.wait_visible(page, row, "asset-after", f"Metadata row {label}", 30_000)
    screenshots.take(page, "07-geometry-metrics-after")

    run_id_row = page.get_by_role("row").filter(has=page.get_by_text("mlflow_run_id", exact=True))
    assert mlflow_run_id in run_id_row.first.inner_text(), screenshots.last
    scores_row = page.get_by_role("row").filter(has=page.get_by_text("scores", exact=True))
    scores = scores_row.first.inner_text()
    for word in ("silhouette", "davies_bouldin", "train", "eval", "ood"):
        assert word in scores, f"{word!r} missing from the scores table (see {screenshots.last})"


def test_summary_page_shows_plot_images(
    dagster_page: Any, dagster_ui: Server, screenshots: Screenshots
) -> None:
    page = dagster_page
    page.goto(f"{dagster_ui.url}/assets/metrics_summary")
    rows = {
        name: page.get_by_role("row").filter(has=page.get_by_text(name, exact=True))
        for name in SUMMARY_PLOTS
    }
    for name, row in rows.items():
        screenshots.wait_visible(page, row, "summary", f"Metadata row {name}", 60_000)
    screenshots.take(page, "08-metrics-summary")

    for number, (name, row) in enumerate(rows.items(), start=9):
        row.first.get_by_text("[Show Markdown]").click()
        dialog = page.get_by_role("dialog").filter(has_text=name)
        image = dialog.locator("img")
        screenshots.wait_visible(page, image, f"plot-{name}", f"The image of {name}", 30_000)
        source = image.first.get_attribute("src") or ""
        width = image.first.evaluate("img => img.complete ? img.naturalWidth : 0")
        screenshots.take(page, f"{number:02d}-{name.replace('_', '-')}")
        dialog.get_by_role("button", name="Close").click()

        assert source.startswith("data:image/png;base64,"), f"{name}: src {source[:40]!r}"
        assert width > 0, f"{name}: the PNG did not decode (see {screenshots.last})"


@pytest.fixture
def mlflow_ui(
    prepared: dict[str, str], screenshots: Screenshots, timings: dict[str, Any]
) -> Iterator[Server]:
    """`mlflow ui` on the test's SQLite store and a free port; stopped with its whole group."""
    port = free_port()
    with running_server(
        "mlflow ui",
        [
            "mlflow",
            "ui",
            "--backend-store-uri",
            prepared["MLFLOW_TRACKING_URI"],
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        f"http://127.0.0.1:{port}",
        "/health",
        prepared,
        Path(prepared["NUMGEOM_STORAGE_DIR"]).parent,
        screenshots.folder / "logs" / "mlflow-ui.log",
        MLFLOW_READY_TIMEOUT,
    ) as server:
        yield server
    record_server(timings, server)


def test_mlflow_ui_lists_the_ui_run(
    launched_run: LaunchedRun,
    dagster_ui: Server,
    mlflow_ui: Server,
    browser: Any,
    screenshots: Screenshots,
) -> None:
    assert launched_run.status == "SUCCESS", (
        f"Run {launched_run.run_id} ended {launched_run.status}"
    )
    event = latest_materialization(dagster_ui)
    mlflow_run_id = metadata_value(event, "mlflow_run_id")
    eval_silhouette = metadata_value(event, "eval_silhouette")  # rounded to 4 decimals
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(PAGE_TIMEOUT_MS)
    page = context.new_page()
    try:
        _find_mlflow_run(page, mlflow_ui, mlflow_run_id, screenshots)
        shown_silhouette = _check_mlflow_run_page(page, launched_run.run_id, screenshots)
    finally:
        context.close()

    assert shown_silhouette == pytest.approx(eval_silhouette, abs=5e-5), (
        f"MLflow shows eval/silhouette {shown_silhouette}, Dagster {eval_silhouette} "
        f"(see {screenshots.last})"
    )


def _find_mlflow_run(page: Any, mlflow_ui: Server, mlflow_run_id: str, shots: Screenshots) -> None:
    """Open experiment numgeom in the model-training view and search the run by name."""
    page.goto(mlflow_ui.url)
    experiment = page.get_by_role("link", name="numgeom", exact=True)
    shots.wait_visible(page, experiment, "mlflow-home", "Experiment numgeom", 60_000)
    _close_mlflow_assistant(page)
    shots.take(page, "12-mlflow-home")

    page.get_by_text("Model training", exact=True).click()
    experiment.first.click()
    search = page.get_by_placeholder(re.compile("metrics"))
    shots.wait_visible(page, search, "mlflow-runs", "The run search box", 60_000)
    search.first.fill(f"attributes.run_name = '{MLFLOW_RUN_NAME}'")
    search.first.press("Enter")
    link = page.locator(f'a[href*="{mlflow_run_id}"]')
    shots.wait_visible(page, link, "mlflow-runs", f"Run {MLFLOW_RUN_NAME} {mlflow_run_id}", 60_000)
    shots.take(page, "13-mlflow-runs")
    link.first.click()


def _close_mlflow_assistant(page: Any) -> None:
    """Close the chat panel that MLflow 3.17 opens on a fresh profile, if it opens.

    It only hides part of the screenshots, and no check depends on it.
    """
    close = page.locator('[data-component-id="mlflow.assistant.chat_panel.close"]')
    try:
        close.wait_for(state="visible", timeout=10_000)
    except playwright_api.TimeoutError:
        return
    close.click()
    close.wait_for(state="hidden", timeout=10_000)


def _check_mlflow_run_page(page: Any, dagster_run_id: str, shots: Screenshots) -> float:
    """Check the run page's name and Dagster tag, and return the eval/silhouette it shows."""
    heading = page.get_by_text(MLFLOW_RUN_NAME, exact=True)
    shots.wait_visible(page, heading, "mlflow-run", "The run's name", 60_000)
    tag = page.get_by_text(dagster_run_id)
    shots.wait_visible(page, tag, "mlflow-run", f"Tag dagster.run_id {dagster_run_id}", 30_000)
    shots.take(page, "14-mlflow-run")

    metric = page.get_by_role("row").filter(has=page.get_by_text("eval/silhouette", exact=True))
    shots.wait_visible(page, metric, "mlflow-metric", "Metric eval/silhouette", 30_000)
    metric.first.scroll_into_view_if_needed()
    shots.take(page, "15-mlflow-run-metrics")
    text = metric.first.inner_text()
    number = re.search(r"-?\d+\.\d+(?:e-?\d+)?", text)
    assert number, f"No number in the eval/silhouette row {text!r} (see {shots.last})"
    return float(number.group())
