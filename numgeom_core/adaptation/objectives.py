"""Training objectives for LoRA adaptation, each a loss on a batch of unit embeddings and labels.

torch is imported inside the loss functions, so that the settings can check an objective's
name without loading torch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from numgeom_core.errors import ConfigError

if TYPE_CHECKING:
    from torch import Tensor


def supervised_contrastive_loss(embeddings: Tensor, labels: Tensor, temperature: float) -> Tensor:
    """Return the supervised contrastive loss L_out of Khosla et al. 2020 (arXiv:2004.11362).

    With unit embeddings z [B, H], labels y [B] and temperature tau, every sample i is an
    anchor. Its other samples are A(i) = {a != i} and its positives are P(i) = {p in A(i) :
    y_p = y_i}. The anchor's loss is

        l_i = -(1 / |P(i)|) * sum_{p in P(i)} log( exp(z_i . z_p / tau)
                                                    / sum_{a in A(i)} exp(z_i . z_a / tau) )

    and the returned loss is the mean of l_i over the anchors that have at least one positive.
    The paper sums over anchors; the mean keeps the scale independent of the batch size. By
    Jensen's inequality l_i >= log |P(i)|, so the loss is >= 0, and it falls as samples of a
    label gather together and apart from the other labels.

    An anchor without a positive (the only sample of its label in the batch) is left out of
    the mean, because l_i would divide by |P(i)| = 0. It still counts as a negative in the
    other anchors' denominators. When no anchor has a positive the loss is a zero that is
    still connected to `embeddings`, so backward() gives zero gradients instead of failing.

    Args:
        embeddings: [B, H] L2-normalised rows (B >= 1); not renormalised here.
        labels: [B] integer labels.
        temperature: tau > 0.

    Returns:
        A scalar tensor with the dtype of `embeddings`.
    """
    import torch

    _check_inputs(embeddings, labels, temperature)
    batch = embeddings.shape[0]

    self_pairs = torch.eye(batch, dtype=torch.bool, device=embeddings.device)  # [B, B]
    logits = (embeddings @ embeddings.T) / temperature  # [B, B]
    logits = logits.masked_fill(self_pairs, float("-inf"))  # excludes a = i from A(i)
    log_prob = logits - torch.logsumexp(logits, dim=1, keepdim=True)  # [B, B]

    positives = (labels[:, None] == labels[None, :]) & ~self_pairs  # [B, B]
    n_positives = positives.sum(dim=1)  # [B]
    has_positive = n_positives > 0  # [B]
    if not bool(has_positive.any()):
        return embeddings.sum() * 0.0

    # torch.where, not a product with the mask: log_prob is -inf on the diagonal.
    zero = torch.zeros((), dtype=log_prob.dtype, device=log_prob.device)
    positive_log_prob = torch.where(positives, log_prob, zero).sum(dim=1)  # [B]
    per_anchor = -positive_log_prob[has_positive] / n_positives[has_positive]  # [B']
    return per_anchor.mean()


def _check_inputs(embeddings: Tensor, labels: Tensor, temperature: float) -> None:
    if embeddings.dim() != 2 or labels.dim() != 1 or embeddings.shape[0] != labels.shape[0]:
        raise ConfigError(
            f"The contrastive loss expects embeddings [B, H] and labels [B] with the same B; "
            f"got embeddings {tuple(embeddings.shape)} and labels {tuple(labels.shape)}."
        )
    if embeddings.shape[0] == 0:
        raise ConfigError("The contrastive loss got an empty batch; pass at least one sample.")
    if not temperature > 0:
        raise ConfigError(
            f"Invalid contrastive temperature {temperature!r}: expected a number > 0."
        )


@dataclass(frozen=True)
class Objective:
    """A registered training objective.

    Fields:
        loss: loss(embeddings [B, H] unit rows, labels [B] integers, temperature) -> scalar.
        reference: the paper that defines it.
    """

    loss: Callable[[Tensor, Tensor, float], Tensor]
    reference: str


OBJECTIVES: dict[str, Objective] = {
    "supcon": Objective(
        loss=supervised_contrastive_loss,
        reference="Khosla et al. 2020, Supervised Contrastive Learning, arXiv:2004.11362",
    ),
}
