"""Embedding throughput of numgeom against a plain batched forward pass, per default backbone.

The baseline is what a user would write first: transformers' tokenizer with padding, the
model under torch.inference_mode, batches in input order, and the same pooling. numgeom's
`embed_texts` sorts by token length so batches carry little padding. Both run on the same
texts in the same process, and the ratio is what to compare across machines.

Optionally (`--main-job`) it then runs the main job on the default profile in a temporary
Dagster instance and MLflow store, and prints the wall time of each asset.

Usage: python benchmarks/embedding_throughput.py [--samples N] [--batch-size B] [--main-job]
"""

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")

import torch  # noqa: E402

from numgeom_core.data import DatasetConfig, build_dataset  # noqa: E402
from numgeom_core.models import (  # noqa: E402
    DEFAULT_BACKBONES,
    EmbeddingConfig,
    default_backbone_names,
    embed_texts,
    load_backbone,
    resolve_checkpoint,
)
from numgeom_core.models.pooling import POOLING_FUNCTIONS  # noqa: E402


def plain_forward(model, tokenizer, texts: list[str], spec, batch_size: int) -> float:
    """Embed `texts` in input order with padding per batch; return sequences per second."""
    pool = POOLING_FUNCTIONS[spec.pooling]
    started = time.perf_counter()
    with torch.inference_mode():
        for start in range(0, len(texts), batch_size):
            batch = texts[start : start + batch_size]
            if spec.kind == "llm":
                batch = [text + tokenizer.eos_token for text in batch]
            inputs = tokenizer(batch, padding=True, return_tensors="pt")
            hidden = model(**inputs).last_hidden_state  # [B, T, H]
            pool(hidden, inputs["attention_mask"])
    return len(texts) / (time.perf_counter() - started)


def benchmark_backbone(name: str, texts: list[str], batch_size: int, cache: Path) -> None:
    spec = DEFAULT_BACKBONES[name]
    checkpoint = resolve_checkpoint(spec, cache)
    model, tokenizer = load_backbone(checkpoint.path, spec)
    config = EmbeddingConfig(batch_size=batch_size)

    embed_texts(model, tokenizer, texts[:batch_size], spec, config)  # warm-up
    baseline = plain_forward(model, tokenizer, texts, spec, batch_size)
    result = embed_texts(model, tokenizer, texts, spec, config)
    print(
        f"{name:<14} {len(texts):>6} {baseline:>14.1f} {result.sequences_per_second:>14.1f} "
        f"{result.sequences_per_second / baseline:>7.2f}x"
    )


def main_job_wall_times() -> None:
    folder = Path(tempfile.mkdtemp(prefix="numgeom-bench-"))
    os.environ["DAGSTER_HOME"] = str(folder / "dagster")
    os.environ["NUMGEOM_STORAGE_DIR"] = str(folder / "storage")
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{folder / 'mlflow.db'}"
    os.environ["NUMGEOM_MLFLOW_ARTIFACTS"] = str(folder / "artifacts")
    Path(os.environ["DAGSTER_HOME"]).mkdir(parents=True)

    import dagster as dg

    from numgeom_assets.definitions import build_definitions
    from numgeom_assets.main_job import run_main_job

    with dg.DagsterInstance.ephemeral(tempdir=os.environ["DAGSTER_HOME"]) as instance:
        report = run_main_job(build_definitions(), instance)
    print("\nmain job, default profile, default backbones: wall time per asset")
    for step, seconds in report.asset_seconds.items():
        print(f"  {step:<22} {seconds:8.1f} s")
    print(f"  {'total':<22} {report.total_seconds:8.1f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=480, help="texts to embed per backbone")
    parser.add_argument("--batch-size", type=int, default=32, help="sequences per batch")
    parser.add_argument("--main-job", action="store_true", help="also time the main job")
    parser.add_argument(
        "--cache", type=Path, default=Path(".cache/benchmarks"), help="converted checkpoints"
    )
    args = parser.parse_args()

    dataset = build_dataset(DatasetConfig())
    step = max(dataset.height // args.samples, 1)
    texts = dataset["text"].to_list()[::step][: args.samples]  # every split and family
    print(f"torch threads: {torch.get_num_threads()}, batch size {args.batch_size}")
    print(f"{'backbone':<14} {'texts':>6} {'plain seq/s':>14} {'numgeom seq/s':>14} {'ratio':>8}")
    for name in default_backbone_names():
        benchmark_backbone(name, texts, args.batch_size, args.cache)

    if args.main_job:
        main_job_wall_times()
    return 0


if __name__ == "__main__":
    sys.exit(main())
