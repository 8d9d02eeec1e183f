"""Inputs and result of a merge method for one tensor.

Every method is a function `(TensorInputs, settings) -> TensorResult` applied tensor by
tensor. The checkpoint loop in `merge.py` builds the inputs, casts the result back to the
checkpoints' dtype, checks it is finite and writes it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from torch import Tensor


@dataclass(frozen=True)
class TensorInputs:
    """One floating tensor's values across the checkpoints being merged.

    Fields:
        name: the tensor's name in the checkpoints, e.g. `layers.0.self_attn.q_proj.weight`.
        models: the tensor in each input checkpoint, in input order, as float32 tensors of
            one shape. The sequence may load lazily from disk: each item access reads the
            tensor again, so a method should index each input once. Float32 tensors are
            copy-on-write memory maps of the checkpoint files, so a method must not modify
            them in place: a later read of the same tensor would return the modified values.
        base: the tensor in the base checkpoint (float32, not to be modified either), for
            the task-vector methods; None for methods without a base.
        depth: position of the tensor's layer in the stack, 0.0 for the first numbered
            layer and 1.0 for the last; None for tensors outside the numbered layers.
    """

    name: str
    models: Sequence[Tensor]
    base: Tensor | None = None
    depth: float | None = None


@dataclass(frozen=True)
class TensorResult:
    """The merged float32 tensor, and whether SLERP fell back to linear interpolation."""

    tensor: Tensor
    lerp_fallback: bool = False
