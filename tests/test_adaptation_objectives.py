"""The supervised contrastive loss (Khosla et al. 2020, L_out) on hand-worked batches."""

import math

import pytest
import torch

from numgeom_core.adaptation import OBJECTIVES, supervised_contrastive_loss
from numgeom_core.errors import ConfigError


def _reference_loss(z: torch.Tensor, y: torch.Tensor, tau: float) -> float:
    """L_out written term by term from its definition, averaged over anchors with positives."""
    losses = []
    for i in range(len(y)):
        others = [a for a in range(len(y)) if a != i]
        positives = [p for p in others if y[p] == y[i]]
        if not positives:
            continue
        denominator = sum(math.exp(float(z[i] @ z[a]) / tau) for a in others)
        terms = [math.log(math.exp(float(z[i] @ z[p]) / tau) / denominator) for p in positives]
        losses.append(-sum(terms) / len(positives))
    return sum(losses) / len(losses)


def test_supcon_of_two_tight_pairs_matches_hand_value() -> None:
    z = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]])
    y = torch.tensor([0, 0, 1, 1])

    loss = supervised_contrastive_loss(z, y, temperature=0.5)

    # Anchor 0: z0.z1 / tau = 2 (its positive), z0.z2 / tau = z0.z3 / tau = 0, so
    # l_0 = -log(e^2 / (e^2 + 1 + 1)) = log(e^2 + 2) - 2 = log(9.389056) - 2 = 0.2395448.
    # The other three anchors are the same by symmetry, so the mean is 0.2395448.
    assert loss.item() == pytest.approx(0.2395448, abs=1e-6)


def test_supcon_leaves_out_anchors_without_positive() -> None:
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0], [0.0, -1.0]], requires_grad=True)
    y = torch.tensor([0, 0, 1, 2])

    loss = supervised_contrastive_loss(z, y, temperature=1.0)
    loss.backward()

    # Only anchors 0 and 1 have a positive (each other). Anchor 0: z0.z1 = 0, z0.z2 = -1,
    # z0.z3 = 0, so l_0 = -log(e^0 / (e^0 + e^-1 + e^0)) = log(2 + e^-1) = log(2.3678794)
    # = 0.8619948. Anchor 1 has similarities 0, 0, -1 and the same loss. Anchors 2 and 3 (labels
    # 1 and 2, one sample each) would divide by |P| = 0 and are left out of the mean.
    assert loss.item() == pytest.approx(0.8619948, abs=1e-6)
    assert torch.isfinite(z.grad).all()


def test_supcon_without_positives_is_zero() -> None:
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]], requires_grad=True)
    y = torch.tensor([0, 1, 2])

    loss = supervised_contrastive_loss(z, y, temperature=0.1)
    loss.backward()

    assert loss.item() == 0.0
    assert torch.equal(z.grad, torch.zeros_like(z))


def test_supcon_matches_term_by_term_definition() -> None:
    generator = torch.Generator().manual_seed(3)
    z = torch.nn.functional.normalize(torch.randn(10, 5, generator=generator), dim=1)
    y = torch.tensor([0, 0, 0, 1, 1, 2, 2, 2, 2, 3])

    loss = supervised_contrastive_loss(z, y, temperature=0.3)

    assert loss.item() == pytest.approx(_reference_loss(z, y, 0.3), rel=1e-5)


def test_supcon_is_lower_for_clustered_than_mixed_embeddings() -> None:
    clustered = torch.tensor([[1.0, 0.0], [0.99, 0.141], [0.0, 1.0], [0.141, 0.99]])
    mixed = clustered[[0, 2, 1, 3]]
    y = torch.tensor([0, 0, 1, 1])

    assert supervised_contrastive_loss(clustered, y, 0.1) < supervised_contrastive_loss(
        mixed, y, 0.1
    )


def test_supcon_rejects_mismatched_shapes() -> None:
    with pytest.raises(ConfigError, match=r"embeddings \(4, 2\) and labels \(3,\)"):
        supervised_contrastive_loss(torch.zeros(4, 2), torch.zeros(3, dtype=torch.long), 0.1)


def test_supcon_rejects_non_positive_temperature() -> None:
    with pytest.raises(ConfigError, match="temperature 0.0"):
        supervised_contrastive_loss(torch.eye(2), torch.tensor([0, 0]), 0.0)


def test_supcon_is_registered_with_its_paper() -> None:
    assert OBJECTIVES["supcon"].loss is supervised_contrastive_loss
    assert "arXiv:2004.11362" in OBJECTIVES["supcon"].reference
