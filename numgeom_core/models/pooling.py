"""Pooling of token hidden states into one vector per sequence, respecting the attention mask.

Every function takes `hidden` of shape [B, T, H] (batch, tokens, hidden width) and `mask` of
shape [B, T] with 1 at real tokens and 0 at padding, and returns [B, H]. Padding positions
never contribute, so a row's vector does not depend on how much padding its batch needs or on
which side the padding is. A row without any real token raises EmbeddingError.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor

from numgeom_core.errors import EmbeddingError


def mean_pool(hidden: Tensor, mask: Tensor) -> Tensor:
    """Average the hidden states of the real tokens: sum_t mask[b,t] h[b,t] / sum_t mask[b,t].

    Padding positions are replaced by zeros before summing (not multiplied by the mask), so a
    non-finite value at a padding position cannot leak into the mean.
    """
    _check_shapes(hidden, mask)
    real = mask.to(torch.bool).unsqueeze(-1)  # [B, T, 1]
    summed = torch.where(real, hidden, torch.zeros((), dtype=hidden.dtype)).sum(dim=1)  # [B, H]
    counts = real.sum(dim=1).to(hidden.dtype)  # [B, 1]
    return summed / counts


def cls_pool(hidden: Tensor, mask: Tensor) -> Tensor:
    """Take the hidden state of the first real token (the [CLS] token of BERT-like encoders).

    The first real token is found from the mask, so left padding is handled too.
    """
    _check_shapes(hidden, mask)
    positions = torch.arange(mask.shape[1], device=mask.device)  # [T]
    # Padding gets position T so that the minimum over a row is its first real token.
    first = torch.where(mask.to(torch.bool), positions, mask.shape[1]).min(dim=1).values  # [B]
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), first]


def last_token_pool(hidden: Tensor, mask: Tensor) -> Tensor:
    """Take the hidden state of the last real token, the position max{t : mask[b,t] = 1}.

    Correct for right padding (the last real token is before the padding) and left padding
    (it is at position T-1). Decoder-only models see the whole sequence only at this token.
    """
    _check_shapes(hidden, mask)
    positions = torch.arange(mask.shape[1], device=mask.device)  # [T]
    # Padding gets position -1 so that the maximum over a row is its last real token.
    last = torch.where(mask.to(torch.bool), positions, -1).max(dim=1).values  # [B]
    return hidden[torch.arange(hidden.shape[0], device=hidden.device), last]


POOLING_FUNCTIONS: dict[str, Callable[[Tensor, Tensor], Tensor]] = {
    "mean": mean_pool,
    "cls": cls_pool,
    "last": last_token_pool,
}


def _check_shapes(hidden: Tensor, mask: Tensor) -> None:
    if hidden.dim() != 3 or mask.dim() != 2 or hidden.shape[:2] != mask.shape:
        raise EmbeddingError(
            f"Pooling expects hidden states [B, T, H] and a mask [B, T] with the same B and T; "
            f"got hidden {tuple(hidden.shape)} and mask {tuple(mask.shape)}."
        )
    empty_rows = torch.nonzero(mask.sum(dim=1) == 0).flatten().tolist()
    if empty_rows:
        raise EmbeddingError(
            f"Rows {empty_rows[:10]} of the batch have no real token in the attention mask, "
            "so there is nothing to pool; remove empty sequences before embedding."
        )
