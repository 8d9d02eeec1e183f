"""Two-dimensional UMAP maps of embeddings, for looking at cluster structure."""

import logging
from dataclasses import dataclass

import numpy as np

from numgeom_core.errors import ConfigError

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProjectionConfig:
    """UMAP settings (McInnes, Healy and Melville, 2018, arXiv:1802.03426).

    n_neighbors: size of the local neighbourhood UMAP preserves (2 or more); capped at
        n_samples − 1 for small inputs.
    min_dist: minimum distance between embedded points, in [0, 1).
    metric: distance in the embedding space; "cosine" matches the silhouette metric.
    seed: random state; a fixed seed makes UMAP deterministic (and single-threaded).
    """

    n_neighbors: int = 15
    min_dist: float = 0.1
    metric: str = "cosine"
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_neighbors < 2:
            raise ConfigError(
                f"Invalid n_neighbors {self.n_neighbors}: UMAP needs at least 2. "
                "Set n_neighbors to 2 or more (15 is the usual default)."
            )
        if not 0.0 <= self.min_dist < 1.0:
            raise ConfigError(
                f"Invalid min_dist {self.min_dist}: expected a value in [0, 1), for example 0.1."
            )
        if self.metric not in ("cosine", "euclidean"):
            raise ConfigError(f"Invalid metric {self.metric!r}: expected 'cosine' or 'euclidean'.")


def umap_2d(vectors: np.ndarray, config: ProjectionConfig) -> np.ndarray:
    """Project `vectors` [n, d] to UMAP coordinates [n, 2] (float32).

    Raises ConfigError when there are fewer than 4 rows, since UMAP's spectral
    initialisation needs more points than output dimensions plus one.
    """
    n_samples = vectors.shape[0]
    if n_samples < 4:
        raise ConfigError(
            f"Cannot draw a UMAP map of {n_samples} points: at least 4 are needed. "
            "Increase the number of samples in the split that is mapped."
        )

    n_neighbors = min(config.n_neighbors, n_samples - 1)
    if n_neighbors < config.n_neighbors:
        logger.warning(
            "UMAP n_neighbors lowered from %d to %d because there are only %d points",
            config.n_neighbors,
            n_neighbors,
            n_samples,
        )

    import umap  # imported here: the first import compiles numba code (about 15 s)

    reducer = umap.UMAP(
        n_components=2,
        n_neighbors=n_neighbors,
        min_dist=config.min_dist,
        metric=config.metric,
        random_state=config.seed,
        n_jobs=1,
    )
    coords = reducer.fit_transform(np.asarray(vectors, dtype=np.float32))  # [n, 2]
    return np.asarray(coords, dtype=np.float32)
