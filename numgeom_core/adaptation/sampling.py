"""Class-balanced batches for contrastive training: P families with K samples of each."""

from __future__ import annotations

import random
from collections.abc import Sequence

from numgeom_core.errors import DatasetError


def encode_labels(labels: Sequence[str]) -> tuple[list[int], list[str]]:
    """Return integer label ids and the sorted family names they index."""
    families = sorted(set(labels))
    index = {family: position for position, family in enumerate(families)}
    return [index[label] for label in labels], families


def check_families(labels: Sequence[str]) -> None:
    """Raise DatasetError unless there are >= 2 families, each with >= 2 samples.

    A supervised contrastive loss needs a positive (another sample of the same family) for
    every anchor and a negative (a sample of another family).
    """
    counts: dict[str, int] = {}
    for label in labels:
        counts[label] = counts.get(label, 0) + 1
    if len(counts) < 2:
        raise DatasetError(
            f"LoRA training needs at least 2 families in the labels, got {len(counts)} "
            f"({', '.join(sorted(counts)) or 'no samples'}); contrastive training has no "
            "negatives otherwise. Train on a split with several families."
        )
    single = sorted(family for family, count in counts.items() if count < 2)
    if single:
        raise DatasetError(
            f"LoRA training needs at least 2 samples of each family; {', '.join(single)} "
            "have only 1, so they have no positive pair. Add samples or drop those families."
        )


def balanced_batches(
    label_ids: Sequence[int],
    families_per_batch: int,
    samples_per_family: int,
    steps: int,
    seed: int,
) -> list[list[int]]:
    """Return `steps` batches of sample indices, each P families x K samples.

    P = min(families_per_batch, number of families) and K = samples_per_family, or all of a
    family's samples when it has fewer. Families and samples are drawn without replacement
    from shuffled orders that are reshuffled when too few remain for the next draw, so every
    sample recurs at a similar rate and a batch never repeats a sample. The same arguments
    always give the same batches.
    """
    rng = random.Random(seed)
    members: dict[int, list[int]] = {}
    for index, label in enumerate(label_ids):
        members.setdefault(label, []).append(index)
    families = sorted(members)
    n_families = min(families_per_batch, len(families))

    family_order: list[int] = []
    sample_orders: dict[int, list[int]] = {family: [] for family in families}
    batches = []
    for _ in range(steps):
        family_order = _refill(rng, family_order, families, n_families)
        chosen, family_order = family_order[:n_families], family_order[n_families:]
        batch = []
        for family in chosen:
            k = min(samples_per_family, len(members[family]))
            order = _refill(rng, sample_orders[family], members[family], k)
            batch.extend(order[:k])
            sample_orders[family] = order[k:]
        batches.append(batch)
    return batches


def _refill(rng: random.Random, order: list[int], items: list[int], needed: int) -> list[int]:
    """Return `order`, or a fresh shuffle of `items` when `order` has fewer than `needed` left."""
    if len(order) >= needed:
        return order
    fresh = list(items)
    rng.shuffle(fresh)
    return fresh
