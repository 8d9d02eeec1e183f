"""Pooling on small hand-worked tensors, with left and right padding."""

import math
from collections.abc import Callable

import pytest
import torch
from torch import Tensor

from numgeom_core.errors import EmbeddingError
from numgeom_core.models import cls_pool, last_token_pool, mean_pool

NAN = math.nan


def test_mean_pool_averages_real_tokens_only() -> None:
    hidden = torch.tensor(
        [
            [[1.0, 2.0], [3.0, 4.0], [5.0, 6.0]],
            [[10.0, 20.0], [30.0, 40.0], [NAN, NAN]],
        ]
    )
    mask = torch.tensor([[1, 1, 1], [1, 1, 0]])

    pooled = mean_pool(hidden, mask)

    # Row 0: (1+3+5)/3 = 3, (2+4+6)/3 = 4. Row 1: (10+30)/2 = 20, (20+40)/2 = 30; the NaN at
    # the padding position must not leak in.
    assert torch.equal(pooled, torch.tensor([[3.0, 4.0], [20.0, 30.0]]))


def test_mean_pool_ignores_left_padding() -> None:
    hidden = torch.tensor([[[100.0, -100.0], [2.0, 2.0], [4.0, 8.0]]])
    mask = torch.tensor([[0, 1, 1]])

    assert torch.equal(mean_pool(hidden, mask), torch.tensor([[3.0, 5.0]]))


def test_last_token_pool_with_right_padding() -> None:
    hidden = torch.arange(12, dtype=torch.float32).reshape(2, 3, 2)
    mask = torch.tensor([[1, 1, 0], [1, 1, 1]])

    pooled = last_token_pool(hidden, mask)

    # Row 0's last real token is position 1 -> [2, 3]; row 1's is position 2 -> [10, 11].
    assert torch.equal(pooled, torch.tensor([[2.0, 3.0], [10.0, 11.0]]))


def test_last_token_pool_with_left_padding() -> None:
    hidden = torch.arange(12, dtype=torch.float32).reshape(2, 3, 2)
    mask = torch.tensor([[0, 1, 1], [0, 0, 1]])

    pooled = last_token_pool(hidden, mask)

    assert torch.equal(pooled, torch.tensor([[4.0, 5.0], [10.0, 11.0]]))


def test_cls_pool_takes_first_real_token() -> None:
    hidden = torch.arange(12, dtype=torch.float32).reshape(2, 3, 2)
    right_padded = torch.tensor([[1, 1, 0], [1, 1, 1]])
    left_padded = torch.tensor([[0, 1, 1], [0, 0, 1]])

    assert torch.equal(cls_pool(hidden, right_padded), torch.tensor([[0.0, 1.0], [6.0, 7.0]]))
    assert torch.equal(cls_pool(hidden, left_padded), torch.tensor([[2.0, 3.0], [10.0, 11.0]]))


@pytest.mark.parametrize("pool", [mean_pool, cls_pool, last_token_pool])
def test_pooling_rejects_row_without_tokens(pool: Callable[[Tensor, Tensor], Tensor]) -> None:
    hidden = torch.ones(2, 3, 4)
    mask = torch.tensor([[1, 1, 0], [0, 0, 0]])

    with pytest.raises(EmbeddingError, match=r"Rows \[1\]"):
        pool(hidden, mask)


def test_pooling_rejects_mismatched_shapes() -> None:
    with pytest.raises(EmbeddingError, match=r"got hidden \(2, 3, 4\) and mask \(2, 4\)"):
        mean_pool(torch.ones(2, 3, 4), torch.ones(2, 4))
