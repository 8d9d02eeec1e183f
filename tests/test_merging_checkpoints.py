"""Checkpoint-folder merges on small hand-made safetensors checkpoints."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import pytest
import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from numgeom_core.atomic import sha256_file, sha256_tree
from numgeom_core.errors import ConfigError, NumgeomError
from numgeom_core.merging import (
    MERGE_RECORD,
    LinearSettings,
    SlerpSettings,
    TaskVectorSettings,
    check_compatible,
    merge_checkpoints,
)
from numgeom_core.merging import merge as merge_module
from numgeom_core.merging.dare import dare_drop, tensor_generator


def save_checkpoint(
    folder: Path, tensors: dict[str, torch.Tensor], config: dict | None = None
) -> Path:
    """Write `tensors` as model.safetensors with a config.json and a tokenizer file."""
    folder.mkdir(parents=True)
    save_file(tensors, str(folder / "model.safetensors"), metadata={"format": "pt"})
    (folder / "config.json").write_text(json.dumps(config or {"model_type": "test"}))
    (folder / "tokenizer.json").write_text(json.dumps({"source": folder.name}))
    return folder


def two_layer_tensors(seed: int) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(seed)
    return {
        "embed_tokens.weight": torch.randn(6, 4, generator=generator),
        "layers.0.proj.weight": torch.randn(4, 4, generator=generator),
        "layers.0.proj.bias": torch.zeros(4),
        "layers.1.proj.weight": torch.randn(4, 4, generator=generator),
        "layers.1.proj.bias": torch.zeros(4),
        "norm.weight": torch.ones(4),
        "half.weight": torch.randn(3, 2, generator=generator).to(torch.bfloat16),
    }


def merged_tensors(folder: Path) -> dict[str, torch.Tensor]:
    return load_file(str(folder / "model.safetensors"))


@pytest.fixture
def pair(tmp_path: Path) -> tuple[Path, Path]:
    """Two checkpoints with the same layout and different random weights."""
    return (
        save_checkpoint(tmp_path / "a", two_layer_tensors(0)),
        save_checkpoint(tmp_path / "b", two_layer_tensors(1)),
    )


# Method results


def test_slerp_at_t0_and_t1_gives_inputs_bitwise(pair: tuple[Path, Path], tmp_path: Path) -> None:
    a, b = pair
    merge_checkpoints("slerp", [a, b], tmp_path / "t0", SlerpSettings(t=0.0))
    merge_checkpoints("slerp", [a, b], tmp_path / "t1", SlerpSettings(t=1.0))

    for name, tensor in load_file(str(a / "model.safetensors")).items():
        merged = merged_tensors(tmp_path / "t0")[name]
        assert merged.dtype == tensor.dtype, name
        assert torch.equal(merged, tensor), name
    for name, tensor in load_file(str(b / "model.safetensors")).items():
        assert torch.equal(merged_tensors(tmp_path / "t1")[name], tensor), name


def test_slerp_counts_lerp_fallbacks(pair: tuple[Path, Path], tmp_path: Path) -> None:
    report = merge_checkpoints("slerp", list(pair), tmp_path / "out")

    # The two zero biases and the all-ones norm (parallel in both inputs) fall back.
    assert report.lerp_fallbacks == 3
    assert torch.equal(merged_tensors(tmp_path / "out")["layers.0.proj.bias"], torch.zeros(4))
    assert torch.equal(merged_tensors(tmp_path / "out")["norm.weight"], torch.ones(4))


def test_slerp_of_orthogonal_checkpoints_at_half(tmp_path: Path) -> None:
    a = save_checkpoint(tmp_path / "a", {"w": torch.tensor([[1.0, 0.0]])})
    b = save_checkpoint(tmp_path / "b", {"w": torch.tensor([[0.0, 1.0]])})

    merge_checkpoints("slerp", [a, b], tmp_path / "out")

    expected = [[1 / math.sqrt(2), 1 / math.sqrt(2)]]
    assert merged_tensors(tmp_path / "out")["w"].tolist() == [pytest.approx(expected[0])]


def test_layer_schedule_separates_first_and_last_layer(
    pair: tuple[Path, Path], tmp_path: Path
) -> None:
    a, b = pair
    merge_checkpoints("slerp", [a, b], tmp_path / "out", SlerpSettings(t=0.5, layer_t=(0.0, 1.0)))

    merged = merged_tensors(tmp_path / "out")
    first, second = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    assert torch.equal(merged["layers.0.proj.weight"], first["layers.0.proj.weight"])  # t = 0
    assert torch.equal(merged["layers.1.proj.weight"], second["layers.1.proj.weight"])  # t = 1
    assert not torch.equal(merged["embed_tokens.weight"], first["embed_tokens.weight"])  # t = 0.5
    assert not torch.equal(merged["embed_tokens.weight"], second["embed_tokens.weight"])


def test_along_path_half_is_middle_input(tmp_path: Path) -> None:
    paths = [save_checkpoint(tmp_path / str(i), two_layer_tensors(i)) for i in range(3)]

    merge_checkpoints("slerp", paths, tmp_path / "out", SlerpSettings(t=0.5, along_path=True))

    middle = load_file(str(paths[1] / "model.safetensors"))
    for name, tensor in merged_tensors(tmp_path / "out").items():
        assert torch.equal(tensor, middle[name]), name


def test_along_path_three_quarters_is_last_segment(tmp_path: Path) -> None:
    paths = [save_checkpoint(tmp_path / str(i), two_layer_tensors(i)) for i in range(3)]
    merge_checkpoints("slerp", paths, tmp_path / "path", SlerpSettings(t=0.75, along_path=True))
    merge_checkpoints("slerp", paths[1:], tmp_path / "pair", SlerpSettings(t=0.5))

    assert merged_tensors(tmp_path / "path").keys() == merged_tensors(tmp_path / "pair").keys()
    for name, tensor in merged_tensors(tmp_path / "path").items():
        assert torch.equal(tensor, merged_tensors(tmp_path / "pair")[name]), name


def test_soup_of_one_checkpoint_is_itself(pair: tuple[Path, Path], tmp_path: Path) -> None:
    a, _ = pair
    merge_checkpoints("linear", [a], tmp_path / "out")

    for name, tensor in load_file(str(a / "model.safetensors")).items():
        assert torch.equal(merged_tensors(tmp_path / "out")[name], tensor), name


def test_soup_of_two_is_their_mean(pair: tuple[Path, Path], tmp_path: Path) -> None:
    a, b = pair
    merge_checkpoints("linear", [a, b], tmp_path / "out")

    first, second = load_file(str(a / "model.safetensors")), load_file(str(b / "model.safetensors"))
    for name, tensor in merged_tensors(tmp_path / "out").items():
        expected = ((first[name].float() + second[name].float()) / 2).to(tensor.dtype)
        assert torch.equal(tensor, expected), name


def test_weighted_soup(tmp_path: Path) -> None:
    a = save_checkpoint(tmp_path / "a", {"w": torch.tensor([2.0, 4.0])})
    b = save_checkpoint(tmp_path / "b", {"w": torch.tensor([0.0, 8.0])})

    merge_checkpoints("linear", [a, b], tmp_path / "out", LinearSettings(weights=(3.0, 1.0)))

    assert merged_tensors(tmp_path / "out")["w"].tolist() == [1.5, 5.0]  # 0.75 a + 0.25 b


def test_task_arithmetic_checkpoint_with_scaling(tmp_path: Path) -> None:
    base = save_checkpoint(tmp_path / "base", {"w": torch.tensor([1.0, 2.0])})
    one = save_checkpoint(tmp_path / "one", {"w": torch.tensor([2.0, 2.0])})
    two = save_checkpoint(tmp_path / "two", {"w": torch.tensor([1.0, 5.0])})

    merge_checkpoints(
        "task_arithmetic", [one, two], tmp_path / "out", TaskVectorSettings(scaling=0.5), base
    )

    assert merged_tensors(tmp_path / "out")["w"].tolist() == [1.5, 3.5]


def test_ties_checkpoint_matches_worked_example(tmp_path: Path) -> None:
    # Same task vectors as the tensor-level worked example, around a base of 10:
    # density 1 gives the merged task vector [2, -2.5, -5, 0.5].
    base = save_checkpoint(tmp_path / "base", {"w": torch.full((4,), 10.0)})
    taus = [(3.0, -1.0, 2.0, 0.5), (-2.0, -4.0, 1.0, 0.25), (1.0, 2.0, -5.0, 0.75)]
    inputs = [
        save_checkpoint(tmp_path / f"ft{i}", {"w": 10.0 + torch.tensor(tau)})
        for i, tau in enumerate(taus)
    ]

    merge_checkpoints("ties", inputs, tmp_path / "out", base=base)

    assert merged_tensors(tmp_path / "out")["w"].tolist() == [12.0, 7.5, 5.0, 10.5]


def test_dare_ties_is_seeded(pair: tuple[Path, Path], tmp_path: Path) -> None:
    base, tuned = pair
    tuned_two = save_checkpoint(tmp_path / "c", two_layer_tensors(2))

    def merge(seed: int, name: str) -> str:
        settings = TaskVectorSettings(density=0.5, seed=seed)
        return merge_checkpoints(
            "dare_ties", [tuned, tuned_two], tmp_path / name, settings, base
        ).sha256

    assert merge(0, "first") == merge(0, "again")
    assert merge(0, "first") != merge(1, "other")


def test_dare_ties_ignores_tensor_order(tmp_path: Path) -> None:
    # "0" sorts before "w" and "z" after it, so "w" is merged second in one file and first
    # in the other. Its drops must be the same in both.
    w_base, w_tuned = torch.zeros(50), torch.arange(1.0, 51.0)
    folders = {}
    for other in ("0", "z"):
        base = save_checkpoint(tmp_path / f"base{other}", {"w": w_base, other: torch.zeros(3)})
        tuned = save_checkpoint(tmp_path / f"ft{other}", {"w": w_tuned, other: torch.ones(3)})
        settings = TaskVectorSettings(density=0.5, seed=3)
        merge_checkpoints("dare_ties", [tuned], tmp_path / f"out{other}", settings, base)
        folders[other] = tmp_path / f"out{other}"

    expected = dare_drop(w_tuned, 0.5, tensor_generator(3, "w"))
    assert torch.equal(merged_tensors(folders["0"])["w"], expected)
    assert torch.equal(merged_tensors(folders["z"])["w"], expected)


# Checks before merging


def test_mismatched_shapes_fail_naming_tensor(pair: tuple[Path, Path], tmp_path: Path) -> None:
    a, _ = pair
    tensors = two_layer_tensors(1)
    tensors["layers.1.proj.weight"] = torch.zeros(4, 5)
    other = save_checkpoint(tmp_path / "other", tensors)

    with pytest.raises(ConfigError) as raised:
        merge_checkpoints("linear", [a, other], tmp_path / "out")

    message = str(raised.value)
    assert "'layers.1.proj.weight'" in message
    assert "[4, 4]" in message
    assert "[4, 5]" in message
    assert str(a) in message
    assert str(other) in message
    assert not (tmp_path / "out").exists()


def test_mismatched_dtypes_fail_naming_tensor(pair: tuple[Path, Path], tmp_path: Path) -> None:
    a, _ = pair
    tensors = two_layer_tensors(1)
    tensors["norm.weight"] = tensors["norm.weight"].to(torch.float16)
    other = save_checkpoint(tmp_path / "other", tensors)

    with pytest.raises(ConfigError, match=r"'norm.weight' has dtype F32 in .* but F16 in"):
        check_compatible([a, other])


def test_missing_and_extra_names_fail_naming_them(pair: tuple[Path, Path], tmp_path: Path) -> None:
    a, _ = pair
    tensors = two_layer_tensors(1)
    del tensors["norm.weight"]
    tensors["lm_head.weight"] = torch.zeros(6, 4)
    other = save_checkpoint(tmp_path / "other", tensors)

    with pytest.raises(ConfigError) as raised:
        merge_checkpoints("slerp", [a, other], tmp_path / "out")

    message = str(raised.value)
    assert "1 missing from" in message
    assert "'norm.weight'" in message
    assert "1 only in" in message
    assert "'lm_head.weight'" in message


def test_base_is_checked_with_inputs(pair: tuple[Path, Path], tmp_path: Path) -> None:
    a, b = pair
    tensors = two_layer_tensors(2)
    tensors["norm.weight"] = torch.ones(5)
    base = save_checkpoint(tmp_path / "base", tensors)

    with pytest.raises(ConfigError, match="'norm.weight' has shape"):
        merge_checkpoints("ties", [a, b], tmp_path / "out", base=base)


def test_equal_integer_buffers_are_copied(tmp_path: Path) -> None:
    ids = torch.arange(8).unsqueeze(0)
    mask = torch.tensor([True, False])
    a = save_checkpoint(tmp_path / "a", {"w": torch.ones(2), "position_ids": ids, "m": mask})
    b = save_checkpoint(tmp_path / "b", {"w": torch.zeros(2), "position_ids": ids, "m": mask})

    report = merge_checkpoints("linear", [a, b], tmp_path / "out")

    merged = merged_tensors(tmp_path / "out")
    assert report.copied_buffers == 2
    assert merged["position_ids"].dtype == torch.int64
    assert torch.equal(merged["position_ids"], ids)
    assert torch.equal(merged["m"], mask)
    assert merged["w"].tolist() == [0.5, 0.5]


def test_unequal_integer_buffers_fail(tmp_path: Path) -> None:
    a = save_checkpoint(tmp_path / "a", {"w": torch.ones(2), "position_ids": torch.arange(8)})
    b = save_checkpoint(tmp_path / "b", {"w": torch.ones(2), "position_ids": torch.arange(1, 9)})

    message = r"Integer tensor 'position_ids' differs .*\(8 of 8 entries\)"
    with pytest.raises(ConfigError, match=message):
        merge_checkpoints("slerp", [a, b], tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_non_finite_result_fails(tmp_path: Path) -> None:
    # The task vector, 60000, fits float16 (max 65504). Scaled by 3 the result, 180000, is
    # finite in float32 but overflows to inf when cast back to float16.
    base = save_checkpoint(tmp_path / "base", {"w": torch.zeros(2, dtype=torch.float16)})
    tuned = save_checkpoint(tmp_path / "ft", {"w": torch.full((2,), 6e4, dtype=torch.float16)})

    with pytest.raises(NumgeomError, match="'w' with task_arithmetic gave 2 non-finite"):
        merge_checkpoints(
            "task_arithmetic", [tuned], tmp_path / "out", TaskVectorSettings(scaling=3.0), base
        )
    assert not (tmp_path / "out").exists()


def test_non_finite_input_fails(tmp_path: Path) -> None:
    a = save_checkpoint(tmp_path / "a", {"w": torch.tensor([1.0, float("nan")])})
    b = save_checkpoint(tmp_path / "b", {"w": torch.tensor([1.0, 2.0])})

    with pytest.raises(NumgeomError, match="'w' with linear gave 1 non-finite"):
        merge_checkpoints("linear", [a, b], tmp_path / "out")


@pytest.mark.parametrize(
    ("method", "inputs", "settings", "with_base", "message"),
    [
        ("median", 2, None, False, "Unknown merge method 'median'"),
        ("slerp", 2, LinearSettings(), False, "takes SlerpSettings, got LinearSettings"),
        ("slerp", 1, None, False, "at least 2 input checkpoints"),
        ("slerp", 3, None, False, "along_path is False"),
        ("linear", 2, LinearSettings(weights=(1.0,)), False, "1 values for 2 input"),
        ("linear", 2, None, True, "takes no base"),
        ("ties", 2, None, False, "pass the base checkpoint"),
        ("task_arithmetic", 2, TaskVectorSettings(density=0.5), True, "use method 'ties'"),
    ],
)
def test_invalid_requests_fail_before_writing(
    tmp_path: Path,
    method: str,
    inputs: int,
    settings: object,
    with_base: bool,
    message: str,
) -> None:
    paths = [save_checkpoint(tmp_path / str(i), two_layer_tensors(i)) for i in range(inputs)]
    base = save_checkpoint(tmp_path / "base", two_layer_tensors(9)) if with_base else None

    with pytest.raises(ConfigError, match=message):
        merge_checkpoints(method, paths, tmp_path / "out", settings, base)
    assert not (tmp_path / "out").exists()


def test_output_equal_to_input_fails(pair: tuple[Path, Path]) -> None:
    a, b = pair

    with pytest.raises(ConfigError, match="is also an input checkpoint"):
        merge_checkpoints("linear", [a, b], b)


def test_missing_checkpoint_folder_fails(pair: tuple[Path, Path], tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        merge_checkpoints("linear", [pair[0], tmp_path / "nowhere"], tmp_path / "out")


def test_folder_without_safetensors_fails(pair: tuple[Path, Path], tmp_path: Path) -> None:
    empty = tmp_path / "bin-only"
    empty.mkdir()
    (empty / "pytorch_model.bin").write_bytes(b"")

    with pytest.raises(ConfigError, match="neither model.safetensors nor"):
        merge_checkpoints("linear", [pair[0], empty], tmp_path / "out")


# Output folder


def test_failure_mid_merge_leaves_no_output(
    pair: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    merge_tensor = merge_module._merge_tensor
    calls = []

    def fail_on_third(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 3:
            raise RuntimeError("simulated crash")
        return merge_tensor(*args, **kwargs)

    monkeypatch.setattr(merge_module, "_merge_tensor", fail_on_third)

    with pytest.raises(RuntimeError, match="simulated crash"):
        merge_checkpoints("linear", list(pair), tmp_path / "out")

    assert len(calls) == 3
    assert not (tmp_path / "out").exists()
    assert not [path for path in tmp_path.iterdir() if path.name.startswith(".")]


def test_failure_mid_merge_keeps_previous_output(
    pair: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = merge_checkpoints("linear", list(pair), tmp_path / "out")

    def crash(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise RuntimeError("simulated crash")

    monkeypatch.setattr(merge_module, "_merge_tensor", crash)
    with pytest.raises(RuntimeError):
        merge_checkpoints("slerp", list(pair), tmp_path / "out")

    assert sha256_file(tmp_path / "out" / "model.safetensors") == first.sha256
    assert json.loads((tmp_path / "out" / MERGE_RECORD).read_text())["method"] == "linear"


def test_output_folder_holds_weights_support_files_and_record(
    pair: tuple[Path, Path], tmp_path: Path
) -> None:
    a, b = pair
    (a / "numgeom_source.json").write_text("{}")  # a record of how `a` was made
    (a / "special_tokens_map.json").write_text("{}")
    settings = SlerpSettings(t=0.25)

    report = merge_checkpoints("slerp", [a, b], tmp_path / "out", settings)

    out = tmp_path / "out"
    names = sorted(path.name for path in out.iterdir())
    assert names == [
        "config.json",
        "model.safetensors",
        MERGE_RECORD,
        "special_tokens_map.json",
        "tokenizer.json",
    ]
    assert json.loads((out / "tokenizer.json").read_text()) == {"source": "a"}
    record = json.loads((out / MERGE_RECORD).read_text())
    assert record["method"] == "slerp"
    assert "Shoemake 1985" in record["reference"]
    assert record["settings"] == {"t": 0.25, "layer_t": None, "along_path": False}
    assert record["base"] is None
    assert [entry["path"] for entry in record["inputs"]] == [str(a.resolve()), str(b.resolve())]
    assert record["inputs"][1]["sha256"] == sha256_tree(b)
    assert record["report"]["sha256"] == report.sha256 == sha256_file(out / "model.safetensors")
    assert record["report"]["n_tensors"] == 7


def test_task_vector_merge_copies_files_from_base(pair: tuple[Path, Path], tmp_path: Path) -> None:
    a, b = pair
    base = save_checkpoint(tmp_path / "base", two_layer_tensors(5))

    merge_checkpoints("task_arithmetic", [a, b], tmp_path / "out", base=base)

    out = tmp_path / "out"
    assert json.loads((out / "tokenizer.json").read_text()) == {"source": "base"}
    record = json.loads((out / MERGE_RECORD).read_text())
    assert record["base"] == {"path": str(base.resolve()), "sha256": sha256_tree(base)}
    assert len(record["inputs"]) == 2


def test_report_counts_bytes_and_tensors(pair: tuple[Path, Path], tmp_path: Path) -> None:
    report = merge_checkpoints("linear", list(pair), tmp_path / "out")

    # 4 x (24 + 16 + 4 + 16 + 4 + 4) float32 values and 6 bfloat16 values per checkpoint.
    per_checkpoint = 4 * 68 + 2 * 6
    assert report.n_tensors == 7
    assert report.bytes_read == 2 * per_checkpoint
    assert report.bytes_written == (tmp_path / "out" / "model.safetensors").stat().st_size
    assert report.copied_buffers == 0
    assert report.seconds > 0


def test_progress_is_reported_per_tensor(pair: tuple[Path, Path], tmp_path: Path) -> None:
    calls: list[tuple[int, int]] = []

    merge_checkpoints("linear", list(pair), tmp_path / "out", progress=lambda *c: calls.append(c))

    assert calls == [(done, 7) for done in range(1, 8)]


def test_phases_are_logged(
    pair: tuple[Path, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="numgeom_core.merging"):
        merge_checkpoints("linear", list(pair), tmp_path / "out")

    messages = [record.getMessage() for record in caplog.records]
    assert messages[0].startswith("Merging 2 checkpoints with linear")
    assert any(message.startswith("Merged 7 of 7 tensors (100%)") for message in messages)
    assert messages[-1].startswith("Merged linear into")
    assert "wrote" in messages[-1]


def test_sharded_input_is_read_and_single_file_written(tmp_path: Path) -> None:
    tensors = two_layer_tensors(0)
    sharded = tmp_path / "sharded"
    sharded.mkdir()
    names = sorted(tensors)
    weight_map = {}
    for index, chunk in enumerate((names[:3], names[3:]), start=1):
        file = f"model-0000{index}-of-00002.safetensors"
        save_file({name: tensors[name] for name in chunk}, str(sharded / file))
        weight_map.update(dict.fromkeys(chunk, file))
    (sharded / "model.safetensors.index.json").write_text(json.dumps({"weight_map": weight_map}))
    (sharded / "config.json").write_text("{}")
    single = save_checkpoint(tmp_path / "single", tensors)

    merge_checkpoints("linear", [sharded, single], tmp_path / "out")

    out = tmp_path / "out"
    assert sorted(path.name for path in out.iterdir()) == [
        "config.json",
        "model.safetensors",
        MERGE_RECORD,
    ]
    merged = merged_tensors(out)
    assert merged.keys() == tensors.keys()
    for name, tensor in tensors.items():
        assert torch.equal(merged[name], tensor), name


def test_written_file_is_aligned_safetensors(pair: tuple[Path, Path], tmp_path: Path) -> None:
    merge_checkpoints("linear", list(pair), tmp_path / "out")

    path = tmp_path / "out" / "model.safetensors"
    header_size = int.from_bytes(path.read_bytes()[:8], "little")
    with safe_open(str(path), framework="pt") as handle:
        assert handle.metadata() == {"format": "pt"}
    header = json.loads(path.read_bytes()[8 : 8 + header_size])
    assert header_size % 8 == 0
    # 4-byte tensors first, then the bfloat16 one, each starting on its element size.
    assert header["half.weight"]["data_offsets"][0] == 4 * 68
    for name, entry in header.items():
        if name != "__metadata__":
            assert entry["data_offsets"][0] % (2 if entry["dtype"] == "BF16" else 4) == 0
