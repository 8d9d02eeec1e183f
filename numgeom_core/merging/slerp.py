"""Spherical linear interpolation (SLERP) between checkpoints, tensor by tensor.

Reference: Shoemake 1985, "Animating rotation with quaternion curves", SIGGRAPH '85,
Computer Graphics 19(3), 245-254. Applied to network weights as in mergekit: each tensor
is flattened and treated as one vector.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from numgeom_core.errors import ConfigError
from numgeom_core.merging.settings import SlerpSettings
from numgeom_core.merging.tensor_inputs import TensorInputs, TensorResult

_DOT_CHUNK = 1 << 20


def slerp(
    t: float,
    a: Tensor,
    b: Tensor,
    eps: float = 1e-8,
    parallel_threshold: float = 0.9995,
) -> tuple[Tensor, bool]:
    """Interpolate from `a` (t=0) to `b` (t=1) along the great circle; return (result, fell back).

    Both tensors are flattened. The angle theta between them is the angle of the normalised
    vectors, cos(theta) = <a, b> / (|a| |b|). The result is
    sin((1-t) theta)/sin(theta) * a + sin(t theta)/sin(theta) * b, computed on the
    unnormalised tensors, so the norm moves smoothly between |a| and |b|. When
    |cos(theta)| > `parallel_threshold` (near-parallel or near-anti-parallel, where
    sin(theta) is close to 0) or either norm is below `eps`, the result is the linear
    interpolation (1-t) a + t b and the flag is True; a zero bias thus stays zero.
    At t=0 and t=1 the function returns `a` and `b` themselves, bit for bit.

    Example: a = [1, 0], b = [0, 1], t = 0.5: theta = pi/2, both weights are
    sin(pi/4)/1 = 1/sqrt(2), so the result is [0.7071, 0.7071] (a unit vector, where linear
    interpolation would give [0.5, 0.5]).

    Shapes: a and b of one shape [*]; the result has that shape, in float32.
    """
    if a.shape != b.shape:
        raise ConfigError(
            f"slerp got tensors of shapes {tuple(a.shape)} and {tuple(b.shape)}: "
            "both must have one shape."
        )
    if not 0 <= t <= 1:
        raise ConfigError(f"slerp got t = {t}: expected a value in [0, 1].")
    if t == 0:
        return a, False
    if t == 1:
        return b, False

    a_flat = a.reshape(-1).float()  # [N]
    b_flat = b.reshape(-1).float()  # [N]
    norm_a = math.sqrt(_dot(a_flat, a_flat))
    norm_b = math.sqrt(_dot(b_flat, b_flat))
    if norm_a < eps or norm_b < eps:
        return _lerp(t, a_flat, b_flat).reshape(a.shape), True

    cos_theta = min(1.0, max(-1.0, _dot(a_flat, b_flat) / (norm_a * norm_b)))
    if abs(cos_theta) > parallel_threshold:
        return _lerp(t, a_flat, b_flat).reshape(a.shape), True

    theta = math.acos(cos_theta)
    sin_theta = math.sin(theta)
    weight_a = math.sin((1 - t) * theta) / sin_theta
    weight_b = math.sin(t * theta) / sin_theta
    merged = a_flat * weight_a  # [N]
    merged.add_(b_flat, alpha=weight_b)
    return merged.reshape(a.shape), False


def layer_t(settings: SlerpSettings, depth: float | None) -> float:
    """Return the t of a tensor at `depth` (0 first layer, 1 last, None outside the layers).

    The schedule values v_0..v_{m-1} sit at depths 0, 1/(m-1), ..., 1; a depth between two
    of them interpolates linearly. Example: layer_t = (0.0, 1.0) over 5 layers gives
    t = 0, 0.25, 0.5, 0.75, 1. Without a schedule, or outside the layers, t is settings.t.
    """
    if settings.layer_t is None or depth is None:
        return settings.t
    values = settings.layer_t
    position = depth * (len(values) - 1)
    lower = min(int(position), len(values) - 1)
    upper = min(lower + 1, len(values) - 1)
    fraction = position - lower
    if fraction == 0:
        return values[lower]
    return (1 - fraction) * values[lower] + fraction * values[upper]


def path_segment(t: float, n_points: int) -> tuple[int, float]:
    """Return (k, local t) for position `t` in [0, 1] on the path point 0 -> ... -> n_points-1.

    The path has N = n_points - 1 segments of equal share; s = t * N, segment k =
    min(floor(s), N - 1) from point k to point k+1, and local t = s - k. Example with three
    points: t = 0.5 gives (1, 0.0), point 1 exactly; t = 0.75 gives (1, 0.5).
    """
    segments = n_points - 1
    position = t * segments
    segment = min(int(position), segments - 1)
    return segment, position - segment


def check_slerp_inputs(settings: SlerpSettings, n_inputs: int) -> None:
    """Raise ConfigError unless there are two inputs, or more with `along_path`."""
    if n_inputs < 2:
        raise ConfigError(
            f"slerp needs at least 2 input checkpoints, got {n_inputs}: pass the checkpoint "
            "at t=0 and the one at t=1."
        )
    if n_inputs > 2 and not settings.along_path:
        raise ConfigError(
            f"slerp got {n_inputs} input checkpoints but SlerpSettings.along_path is False: "
            "pass exactly 2, or set along_path=True to interpolate along input0 -> input1 -> ..."
        )


def merge_slerp(inputs: TensorInputs, settings: SlerpSettings) -> TensorResult:
    """Merge one tensor by SLERP at its layer's t, on the path segment that t falls in."""
    t = layer_t(settings, inputs.depth)
    segment, local_t = path_segment(t, len(inputs.models))

    # At a segment's ends the result is one checkpoint's tensor unchanged, so the other
    # checkpoint is not read.
    if local_t == 0:
        return TensorResult(inputs.models[segment])
    if local_t == 1:
        return TensorResult(inputs.models[segment + 1])
    merged, fell_back = slerp(local_t, inputs.models[segment], inputs.models[segment + 1])
    return TensorResult(merged, lerp_fallback=fell_back)


def _dot(a: Tensor, b: Tensor) -> float:
    """Return <a, b> of flat float32 tensors, from float32 dots of 2^20-entry chunks.

    Summing the chunks' dots in float64 keeps the result accurate for tensors of tens of
    millions of entries without making a float64 copy of either tensor.
    """
    total = 0.0
    for start in range(0, a.numel(), _DOT_CHUNK):
        total += torch.dot(a[start : start + _DOT_CHUNK], b[start : start + _DOT_CHUNK]).item()
    return total


def _lerp(t: float, a: Tensor, b: Tensor) -> Tensor:
    merged = a * (1 - t)
    merged.add_(b, alpha=t)
    return merged
