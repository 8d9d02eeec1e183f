"""`numgeom backbone add` rejects bad registrations with a message naming the problem."""

import json
from pathlib import Path

import pytest

from numgeom_assets.cli import main


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("DAGSTER_HOME", str(tmp_path / "dagster"))
    monkeypatch.setenv("NUMGEOM_REGISTRY_FILE", str(tmp_path / "backbones.json"))
    (tmp_path / "dagster").mkdir()
    return tmp_path


def _model_folder(root: Path, model_type: str, weights: bool = True) -> Path:
    folder = root / f"model-{model_type}"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": model_type}))
    if weights:
        (folder / "model.safetensors").write_bytes(b"")
    return folder


@pytest.mark.parametrize(
    ("make_source", "message"),
    [
        (lambda root: root / "missing", "not found"),
        (lambda root: _file(root), "not a Hugging Face model folder"),
        (lambda root: _model_folder(root, "bert", weights=False), "no weights"),
        (lambda root: _model_folder(root, "t5"), "Architecture 't5' has no known LoRA targets"),
    ],
)
def test_add_rejects_bad_source(home: Path, capsys, make_source, message: str) -> None:
    source = make_source(home)

    assert main(["backbone", "add", "new-model", "--source", str(source)]) == 2
    assert message in capsys.readouterr().err
    assert not (home / "backbones.json").exists()


def test_add_rejects_duplicate_and_unsafe_names(home: Path, capsys) -> None:
    source = _model_folder(home, "bert")

    assert main(["backbone", "add", "minilm-l6", "--source", str(source)]) == 2
    assert "already registered" in capsys.readouterr().err
    assert main(["backbone", "add", "../escape", "--source", str(source)]) == 2
    assert "Invalid backbone name '../escape'" in capsys.readouterr().err


def test_add_then_remove_round_trips(home: Path, capsys) -> None:
    source = _model_folder(home, "mpnet")

    assert main(["backbone", "add", "mpnet-local", "--source", str(source)]) == 0
    (entry,) = json.loads((home / "backbones.json").read_text())
    assert entry["lora_targets"] == ["q", "k", "v", "o"]
    assert main(["backbone", "add", "mpnet-local", "--source", str(source)]) == 2

    assert main(["backbone", "remove", "mpnet-local"]) == 0
    assert "stored results are kept" in capsys.readouterr().out
    assert json.loads((home / "backbones.json").read_text()) == []


def test_remove_rejects_built_in_backbone(home: Path, capsys) -> None:
    assert main(["backbone", "remove", "minilm-l6"]) == 2
    assert "built in" in capsys.readouterr().err


def _file(root: Path) -> Path:
    path = root / "notes.txt"
    path.write_text("not a model")
    return path
