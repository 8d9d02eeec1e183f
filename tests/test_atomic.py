"""Atomic writes leave either the previous result or the complete new one."""

from pathlib import Path

import pytest

from numgeom_core.atomic import atomic_dir, atomic_path, sha256_tree, write_bytes_atomic


class Interrupted(Exception):
    pass


def test_atomic_path_keeps_previous_file_on_error(tmp_path: Path) -> None:
    target = tmp_path / "table.parquet"
    target.write_bytes(b"previous")

    with pytest.raises(Interrupted):
        with atomic_path(target) as tmp:
            tmp.write_bytes(b"half")
            raise Interrupted

    assert target.read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["table.parquet"]


def test_atomic_path_replaces_file_on_success(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "plot.png"
    write_bytes_atomic(target, b"first")
    write_bytes_atomic(target, b"second")

    assert target.read_bytes() == b"second"
    assert sorted(p.name for p in target.parent.iterdir()) == ["plot.png"]


def test_atomic_dir_keeps_previous_folder_on_error(tmp_path: Path) -> None:
    target = tmp_path / "checkpoint"
    target.mkdir()
    (target / "model.safetensors").write_bytes(b"previous")

    with pytest.raises(Interrupted):
        with atomic_dir(target) as tmp:
            (tmp / "model.safetensors").write_bytes(b"half")
            raise Interrupted

    assert (target / "model.safetensors").read_bytes() == b"previous"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint"]


def test_atomic_dir_swaps_in_new_folder(tmp_path: Path) -> None:
    target = tmp_path / "checkpoint"
    target.mkdir()
    (target / "stale.bin").write_bytes(b"old")

    with atomic_dir(target) as tmp:
        (tmp / "model.safetensors").write_bytes(b"new")

    assert sorted(p.name for p in target.iterdir()) == ["model.safetensors"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["checkpoint"]


def test_sha256_tree_depends_on_names_and_contents(tmp_path: Path) -> None:
    first = tmp_path / "a"
    first.mkdir()
    (first / "x.bin").write_bytes(b"1")
    digest = sha256_tree(first)

    (first / ".x.bin.tmp").write_bytes(b"ignored")
    assert sha256_tree(first) == digest

    (first / "x.bin").write_bytes(b"2")
    assert sha256_tree(first) != digest

    (first / "x.bin").write_bytes(b"1")
    (first / "x.bin").rename(first / "y.bin")
    assert sha256_tree(first) != digest


def test_atomic_writes_get_umask_permissions(tmp_path: Path) -> None:
    import os

    previous = os.umask(0o022)
    try:
        write_bytes_atomic(tmp_path / "file.bin", b"x")
        with atomic_dir(tmp_path / "folder") as tmp:
            (tmp / "inner.bin").write_bytes(b"y")
    finally:
        os.umask(previous)

    assert (tmp_path / "file.bin").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "folder").stat().st_mode & 0o777 == 0o755
    assert (tmp_path / "folder" / "inner.bin").stat().st_mode & 0o777 == 0o644
