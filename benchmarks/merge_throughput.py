"""Merge throughput and peak memory on SmolLM2-135M, against a plain copy of the same bytes.

The bundled SmolLM2-135M GGUF is resolved into a float32 folder (first run converts it,
about 25-60 s), and a perturbed copy is written once next to it: each floating tensor plus
Gaussian noise of 5% of the tensor's standard deviation. Weight matrices of mean near 0
then have cos(theta) near 0.9988 and SLERP does not fall back to linear interpolation, while
norm weights, whose mean is large against their spread, stay nearly parallel and fall back.

Each method then merges the two checkpoints in its own subprocess, so peak memory is
measured per method. The figures printed per method:
- wall seconds of `merge_checkpoints`, which include hashing the inputs with sha256_tree
  in a background thread, and throughput as (bytes read + bytes written) / seconds;
- peak RSS of the subprocess (ru_maxrss), which also counts the pages of the memory-mapped
  input files that the merge has touched;
- peak anonymous RSS, sampled every 5 ms from /proc/self/status: the memory the merge
  itself allocates. Both are printed next to the RSS after imports and the checkpoint size.
Two baselines run in the same process: a file copy (read both safetensors files, write one
of the same size, fsync, as the merge does) and a numpy in-memory copy of the same number of
bytes. Run it twice if the first run converted the GGUF, so the page cache is warm for all.
The load average is printed with the figures: on a busy machine torch's intra-op threads
wait on each other at every operation, and `--threads 1` can then be several times faster.

Usage: python benchmarks/merge_throughput.py [--cache .cache/benchmarks] [--methods linear slerp]
       [--threads N]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402

GB = 1e9
MB = 1e6
CHUNK = 64 << 20
NOISE_FRACTION = 0.05


def perturbed_copy(source: Path, target: Path) -> Path:
    """Write `source` + noise to `target` once, tensor by tensor; reuse it when present."""
    import torch

    from numgeom_core.atomic import atomic_dir
    from numgeom_core.merging.checkpoint_io import (
        SINGLE_FILE,
        CheckpointReader,
        SafetensorsWriter,
        copy_support_files,
    )

    if (target / SINGLE_FILE).is_file():
        return target
    generator = torch.Generator().manual_seed(0)
    with CheckpointReader(source) as reader, atomic_dir(target) as folder:
        with SafetensorsWriter(folder / SINGLE_FILE, list(reader.entries.values())) as writer:
            for name in writer.names:
                tensor = reader.read(name)
                if tensor.is_floating_point() and tensor.numel() > 1:
                    noise = torch.randn(tensor.shape, generator=generator)
                    scale = NOISE_FRACTION * tensor.float().std().item()
                    tensor = (tensor.float() + scale * noise).to(tensor.dtype)
                writer.write(name, tensor)
            writer.finish()
        copy_support_files(source, folder)
    return target


def file_copy_rate(inputs: list[Path], output: Path) -> tuple[int, float]:
    """Read every input file and write the first one's bytes to `output`; return bytes, s."""
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    moved = 0
    started = time.perf_counter()
    with open(output, "wb") as sink:
        for index, path in enumerate(inputs):
            with open(path, "rb", buffering=0) as source:
                while count := source.readinto(buffer):
                    moved += count
                    if index == 0:
                        sink.write(view[:count])
                        moved += count
        sink.flush()
        os.fsync(sink.fileno())
    seconds = time.perf_counter() - started
    output.unlink()
    return moved, seconds


def memory_copy_rate(n_bytes: int) -> float:
    """Return the seconds numpy takes to copy `n_bytes` (best of three)."""
    source = np.ones(n_bytes, dtype=np.uint8)
    target = np.empty_like(source)
    best = float("inf")
    for _ in range(3):
        started = time.perf_counter()
        np.copyto(target, source)
        best = min(best, time.perf_counter() - started)
    return best


def rss_field(field: str) -> int:
    """Return a /proc/self/status memory field (e.g. 'RssAnon') in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise KeyError(field)


def child(method: str, inputs: list[str], output: str, threads: int | None) -> None:
    """Run one merge and print its report and memory figures as JSON (subprocess side)."""
    import torch

    from numgeom_core.merging import merge_checkpoints

    if threads is not None:
        torch.set_num_threads(threads)

    after_imports = rss_field("VmRSS")
    anon_after_imports = rss_field("RssAnon")
    peak_anon = anon_after_imports
    done = threading.Event()

    def sample() -> None:
        nonlocal peak_anon
        while not done.wait(0.005):
            peak_anon = max(peak_anon, rss_field("RssAnon"))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    report = merge_checkpoints(method, [Path(path) for path in inputs], Path(output))
    done.set()
    sampler.join()
    figures = {
        "seconds": report.seconds,
        "bytes_read": report.bytes_read,
        "bytes_written": report.bytes_written,
        "lerp_fallbacks": report.lerp_fallbacks,
        "n_tensors": report.n_tensors,
        "rss_after_imports": after_imports,
        "peak_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        "peak_anon_rss": peak_anon,
        "anon_rss_after_imports": anon_after_imports,
    }
    print(json.dumps(figures))


def run_method(
    method: str, inputs: list[Path], output: Path, threads: int | None
) -> dict[str, float]:
    command = [sys.executable, __file__, "--child", method, "--output", str(output)]
    command += ["--inputs", *map(str, inputs)]
    if threads is not None:
        command += ["--threads", str(threads)]
    completed = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(completed.stdout.strip().splitlines()[-1])


def load_average() -> str:
    return " ".join(f"{value:.1f}" for value in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", type=Path, default=Path(".cache/benchmarks"))
    parser.add_argument("--methods", nargs="+", default=["linear", "slerp"])
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--inputs", nargs="+", help=argparse.SUPPRESS)
    parser.add_argument("--output", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child, args.inputs, args.output, args.threads)
        return

    from numgeom_core.atomic import sha256_tree
    from numgeom_core.models import DEFAULT_BACKBONES, resolve_checkpoint

    base = resolve_checkpoint(DEFAULT_BACKBONES["smollm2-135m"], args.cache).path
    noisy = perturbed_copy(base, args.cache / "smollm2-135m-perturbed")
    inputs = [base, noisy]
    weights = [path / "model.safetensors" for path in inputs]
    size = weights[0].stat().st_size
    started = time.perf_counter()
    for path in inputs:
        sha256_tree(path)
    hashing = time.perf_counter() - started
    print(f"checkpoint: {base} and {noisy}, model.safetensors {size / MB:.0f} MB each")
    print(f"sha256_tree of both inputs (overlaps each merge in a thread): {hashing:.2f} s")
    print(f"torch threads: {args.threads or 'default'}, load average {load_average()}")

    for method in args.methods:
        output = args.cache / f"merged-{method}"
        figures = run_method(method, inputs, output, args.threads)
        shutil.rmtree(output, ignore_errors=True)
        moved = figures["bytes_read"] + figures["bytes_written"]
        print(
            f"{method:>7}: {figures['seconds']:.2f} s, {moved / GB / figures['seconds']:.2f} GB/s "
            f"(read {figures['bytes_read'] / MB:.0f} MB + wrote {figures['bytes_written'] / MB:.0f}"
            f" MB), {figures['lerp_fallbacks']} of {figures['n_tensors']} tensors fell back to "
            f"lerp; peak RSS {figures['peak_rss'] / MB:.0f} MB (mapped input pages included), "
            f"peak anonymous RSS {figures['peak_anon_rss'] / MB:.0f} MB "
            f"({figures['anon_rss_after_imports'] / MB:.0f} MB after imports), "
            f"RSS after imports {figures['rss_after_imports'] / MB:.0f} MB, "
            f"checkpoint {size / MB:.0f} MB; load average {load_average()}"
        )

    args.cache.mkdir(parents=True, exist_ok=True)
    moved, seconds = file_copy_rate(weights, args.cache / "copy-baseline.bin")
    print(
        f"file copy baseline: read 2 files + wrote 1 ({moved / MB:.0f} MB) in {seconds:.2f} s, "
        f"{moved / GB / seconds:.2f} GB/s"
    )
    memory_seconds = memory_copy_rate(moved // 2)
    print(
        f"numpy memory copy of {moved // 2 / MB:.0f} MB (read + write = {moved / MB:.0f} MB): "
        f"{memory_seconds:.3f} s, {moved / GB / memory_seconds:.2f} GB/s; "
        f"load average {load_average()}"
    )


if __name__ == "__main__":
    main()
