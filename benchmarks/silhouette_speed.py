"""Time and peak memory of the exact blocked cosine silhouette against scikit-learn's.

Run: .venv/bin/python benchmarks/silhouette_speed.py [--n 20000 --dim 576 --labels 8]
Both functions get the same float64 unit rows. Each runs twice: once timed, and once under
tracemalloc for the peak memory, which counts numpy's arrays but not BLAS or OpenMP buffers.
"""

import argparse
import time
import tracemalloc
from collections.abc import Callable

import numpy as np
from sklearn.metrics import silhouette_score

from numgeom_core.metrics import cosine_silhouette


def make_embeddings(n: int, dim: int, n_labels: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Return unit rows [n, dim] scattered around n_labels random centres, and their labels."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(n_labels, dim))
    labels = rng.integers(0, n_labels, size=n)
    X = centres[labels] + 2.0 * rng.normal(size=(n, dim))
    return X / np.linalg.norm(X, axis=1, keepdims=True), labels


def measure(function: Callable[[], float]) -> tuple[float, float, float]:
    """Return (value, seconds, peak traced MB), timing a run without tracemalloc's overhead."""
    start = time.perf_counter()
    value = function()
    seconds = time.perf_counter() - start

    tracemalloc.start()
    function()
    peak = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()
    return value, seconds, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=20_000, help="number of embeddings")
    parser.add_argument("--dim", type=int, default=576, help="embedding dimension")
    parser.add_argument("--labels", type=int, default=8, help="number of distinct labels")
    parser.add_argument("--block-size", type=int, default=4096, help="rows per block")
    parser.add_argument("--seed", type=int, default=0, help="random seed of the data")
    args = parser.parse_args()

    X, labels = make_embeddings(args.n, args.dim, args.labels, args.seed)
    cosine_silhouette(X[:100], labels[:100])  # warm up BLAS threads outside the timing

    exact, exact_s, exact_mb = measure(lambda: cosine_silhouette(X, labels, args.block_size))
    reference, sklearn_s, sklearn_mb = measure(lambda: silhouette_score(X, labels, metric="cosine"))

    print(f"data: {args.n} x {args.dim} float64 unit rows, {args.labels} labels")
    print(f"input array: {X.nbytes / 2**20:.1f} MB")
    print(f"exact blocked : {exact_s:8.3f} s  peak {exact_mb:8.1f} MB  silhouette {exact:.12f}")
    print(
        f"scikit-learn  : {sklearn_s:8.3f} s  peak {sklearn_mb:8.1f} MB  "
        f"silhouette {reference:.12f}"
    )
    print(f"absolute difference: {abs(exact - reference):.2e}")
    print(f"speed-up: {sklearn_s / exact_s:.0f}x")


if __name__ == "__main__":
    main()
