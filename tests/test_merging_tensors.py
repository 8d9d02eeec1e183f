"""Tensor-level merge functions and settings, checked against hand-worked values."""

from __future__ import annotations

import math
import re

import pytest
import torch

from numgeom_core.errors import ConfigError
from numgeom_core.merging import (
    MERGE_METHODS,
    LinearSettings,
    SlerpSettings,
    TaskVectorSettings,
    TensorInputs,
    dare_drop,
    linear_merge,
    slerp,
    task_arithmetic,
    ties_merge,
)
from numgeom_core.merging.dare import merge_dare_ties, tensor_generator
from numgeom_core.merging.linear import normalised_weights
from numgeom_core.merging.slerp import layer_t, path_segment
from numgeom_core.merging.ties import elect_and_average, merge_ties, trim_to_density


def vector(*values: float) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float32)


# SLERP


def test_slerp_returns_inputs_bitwise_at_endpoints() -> None:
    generator = torch.Generator().manual_seed(0)
    a = torch.randn(7, 5, generator=generator)
    b = torch.randn(7, 5, generator=generator)

    start, start_fell_back = slerp(0.0, a, b)
    end, end_fell_back = slerp(1.0, a, b)

    assert torch.equal(start, a)
    assert torch.equal(end, b)
    assert not start_fell_back
    assert not end_fell_back


def test_slerp_of_orthogonal_unit_vectors_at_half() -> None:
    # theta = pi/2, sin(theta) = 1, both weights sin(pi/4) = 1/sqrt(2).
    merged, fell_back = slerp(0.5, vector(1, 0), vector(0, 1))

    assert not fell_back
    assert merged.tolist() == pytest.approx([1 / math.sqrt(2), 1 / math.sqrt(2)], abs=1e-7)


def test_slerp_at_sixty_degrees_lands_halfway_on_circle() -> None:
    # a at 0 degrees, b at 60 degrees: t = 0.5 gives the unit vector at 30 degrees,
    # [sqrt(3)/2, 1/2], where linear interpolation would give [0.75, 0.433] (norm 0.866).
    merged, fell_back = slerp(0.5, vector(1, 0), vector(0.5, math.sqrt(3) / 2))

    assert not fell_back
    assert merged.tolist() == pytest.approx([math.sqrt(3) / 2, 0.5], abs=1e-6)


def test_slerp_interpolates_norms_of_unnormalised_tensors() -> None:
    # Orthogonal vectors of norms 2 and 4: weights 1/sqrt(2) each give [sqrt(2), 2 sqrt(2)].
    merged, _ = slerp(0.5, vector(2, 0), vector(0, 4))

    assert merged.tolist() == pytest.approx([math.sqrt(2), 2 * math.sqrt(2)], abs=1e-6)


def test_slerp_keeps_tensor_shape() -> None:
    a = torch.eye(2)  # flattened [1, 0, 0, 1]
    b = torch.tensor([[0.0, 1.0], [1.0, 0.0]])  # flattened [0, 1, 1, 0], orthogonal to a

    merged, _ = slerp(0.5, a, b)

    assert merged.shape == (2, 2)
    assert torch.allclose(merged, torch.full((2, 2), 1 / math.sqrt(2)))


def test_slerp_falls_back_to_lerp_for_parallel_tensors() -> None:
    merged, fell_back = slerp(0.25, vector(1, 2), vector(2, 4))

    assert fell_back
    assert merged.tolist() == [1.25, 2.5]  # 0.75 * [1, 2] + 0.25 * [2, 4]


def test_slerp_falls_back_to_lerp_for_antiparallel_tensors() -> None:
    merged, fell_back = slerp(0.25, vector(1, 2), vector(-1, -2))

    assert fell_back
    assert merged.tolist() == [0.5, 1.0]  # 0.75 * [1, 2] - 0.25 * [1, 2]


def test_slerp_keeps_zero_bias_zero() -> None:
    zeros = torch.zeros(4)

    merged, fell_back = slerp(0.5, zeros, zeros)

    assert fell_back
    assert torch.equal(merged, zeros)


def test_slerp_with_one_zero_tensor_is_lerp() -> None:
    merged, fell_back = slerp(0.25, torch.zeros(2), vector(2, 4))

    assert fell_back
    assert merged.tolist() == [0.5, 1.0]


def test_slerp_fallback_follows_parallel_threshold() -> None:
    near = vector(0.9996, math.sqrt(1 - 0.9996**2))  # cos = 0.9996 > 0.9995
    apart = vector(0.999, math.sqrt(1 - 0.999**2))  # cos = 0.999 < 0.9995

    _, near_fell_back = slerp(0.5, vector(1, 0), near)
    _, apart_fell_back = slerp(0.5, vector(1, 0), apart)
    _, strict_fell_back = slerp(0.5, vector(1, 0), apart, parallel_threshold=0.99)

    assert near_fell_back
    assert not apart_fell_back
    assert strict_fell_back


def test_slerp_rejects_mismatched_shapes() -> None:
    with pytest.raises(ConfigError, match=r"shapes \(2,\) and \(3,\)"):
        slerp(0.5, torch.zeros(2), torch.zeros(3))


def test_slerp_rejects_t_outside_unit_interval() -> None:
    with pytest.raises(ConfigError, match="t = 1.5"):
        slerp(1.5, vector(1, 0), vector(0, 1))


def test_layer_t_spreads_schedule_over_depth() -> None:
    settings = SlerpSettings(t=0.3, layer_t=(0.0, 1.0))

    depths = [0.0, 0.25, 0.5, 0.75, 1.0]  # five layers

    assert [layer_t(settings, depth) for depth in depths] == [0.0, 0.25, 0.5, 0.75, 1.0]


def test_layer_t_interpolates_between_schedule_points() -> None:
    settings = SlerpSettings(layer_t=(0.2, 0.8, 0.2))  # points at depths 0, 0.5, 1

    assert layer_t(settings, 0.25) == pytest.approx(0.5)
    assert layer_t(settings, 0.5) == pytest.approx(0.8)
    assert layer_t(settings, 1.0) == pytest.approx(0.2)


def test_layer_t_defaults_to_t() -> None:
    assert layer_t(SlerpSettings(t=0.3, layer_t=(0.0, 1.0)), None) == 0.3
    assert layer_t(SlerpSettings(t=0.3), 0.9) == 0.3


def test_path_segment_splits_t_over_segments() -> None:
    assert path_segment(0.0, 3) == (0, 0.0)
    assert path_segment(0.5, 3) == (1, 0.0)  # end of segment 0 = start of segment 1: input 1
    assert path_segment(0.75, 3) == (1, 0.5)
    assert path_segment(1.0, 3) == (1, 1.0)
    segment, local_t = path_segment(0.3, 5)  # s = 1.2
    assert segment == 1
    assert local_t == pytest.approx(0.2)


def test_path_segment_with_two_points_is_plain_t() -> None:
    assert path_segment(0.4, 2) == (0, 0.4)


# Linear merge (model soup)


def test_linear_merge_of_one_tensor_is_itself() -> None:
    x = torch.randn(3, 4, generator=torch.Generator().manual_seed(1))

    assert torch.equal(linear_merge([x], [1.0]), x)


def test_linear_merge_of_two_is_their_mean() -> None:
    generator = torch.Generator().manual_seed(2)
    a = torch.randn(6, generator=generator)
    b = torch.randn(6, generator=generator)

    assert torch.equal(linear_merge([a, b], [0.5, 0.5]), (a + b) / 2)


def test_linear_merge_with_weights() -> None:
    merged = linear_merge([vector(2, 4), vector(0, 8)], [0.75, 0.25])

    assert merged.tolist() == [1.5, 5.0]


def test_linear_merge_rejects_weight_count_mismatch() -> None:
    with pytest.raises(ConfigError, match="2 tensors and 1 weights"):
        linear_merge([vector(1), vector(2)], [1.0])


def test_normalised_weights_divide_by_sum() -> None:
    assert normalised_weights(LinearSettings(weights=(3.0, 1.0)), 2) == (0.75, 0.25)
    assert normalised_weights(LinearSettings(), 4) == (0.25, 0.25, 0.25, 0.25)


# Task arithmetic


def test_task_arithmetic_with_scaling() -> None:
    # Task vectors [1, 0] and [0, 3]; base + 0.5 * [1, 3].
    merged = task_arithmetic(vector(1, 2), [vector(2, 2), vector(1, 5)], scaling=0.5)

    assert merged.tolist() == [1.5, 3.5]


def test_task_arithmetic_negative_scaling_subtracts_task() -> None:
    merged = task_arithmetic(vector(1, 2), [vector(2, 2)], scaling=-1.0)

    assert merged.tolist() == [0.0, 2.0]


def test_task_arithmetic_zero_scaling_gives_base() -> None:
    base = vector(1, 2)

    assert torch.equal(task_arithmetic(base, [vector(7, -3)], scaling=0.0), base)


# TIES


# Task vectors of the worked example, one row per fine-tuned model.
TAU_1 = (3.0, -1.0, 2.0, 0.5)
TAU_2 = (-2.0, -4.0, 1.0, 0.25)
TAU_3 = (1.0, 2.0, -5.0, 0.75)


def test_ties_elects_sign_and_averages_agreeing_values() -> None:
    # density 1, nothing trimmed. Sums per entry: [2, -3, -2, 1.5], elected signs [+, -, -, +].
    # entry 0: +3 and +1 agree -> 2;   entry 1: -1 and -4 agree -> -2.5
    # entry 2: only -5 agrees -> -5;   entry 3: all three agree -> (0.5+0.25+0.75)/3 = 0.5
    merged = ties_merge([vector(*TAU_1), vector(*TAU_2), vector(*TAU_3)], density=1.0)

    assert merged.tolist() == [2.0, -2.5, -5.0, 0.5]


def test_ties_trims_before_electing_sign() -> None:
    # density 0.5 keeps the 2 largest magnitudes of each task vector:
    #   tau_1 -> [3, 0, 2, 0], tau_2 -> [-2, -4, 0, 0], tau_3 -> [0, 2, -5, 0]
    # sums [1, -2, -3, 0] elect [+, -, -, 0]:
    #   entry 0: only 3 agrees -> 3;  entry 1: only -4 agrees -> -4;  entry 2: -5
    #   entry 3: sign 0, nothing agrees -> 0
    merged = ties_merge([vector(*TAU_1), vector(*TAU_2), vector(*TAU_3)], density=0.5)

    assert merged.tolist() == [3.0, -4.0, -5.0, 0.0]


def test_trim_to_density_keeps_largest_magnitudes() -> None:
    assert trim_to_density(vector(3, -1, 2, 0.5), 0.5).tolist() == [3.0, 0.0, 2.0, 0.0]
    assert trim_to_density(vector(3, -1, 2, 0.5), 0.25).tolist() == [3.0, 0.0, 0.0, 0.0]


def test_trim_to_density_keeps_at_least_one_entry() -> None:
    assert trim_to_density(vector(1, -4, 2), 0.01).tolist() == [0.0, -4.0, 0.0]


def test_elect_and_average_gives_zero_where_values_cancel() -> None:
    merged = elect_and_average(torch.stack([vector(1, 2), vector(-1, 2)]))

    assert merged.tolist() == [0.0, 2.0]


def test_ties_of_one_vector_is_itself() -> None:
    tau = vector(*TAU_1)

    assert torch.equal(ties_merge([tau], density=1.0), tau)


def test_merge_ties_adds_scaled_result_to_base() -> None:
    base = vector(10, 10, 10, 10)
    inputs = TensorInputs(
        name="w",
        models=[base + vector(*TAU_1), base + vector(*TAU_2), base + vector(*TAU_3)],
        base=base,
    )

    result = merge_ties(inputs, TaskVectorSettings(scaling=2.0))

    assert result.tensor.tolist() == [14.0, 5.0, 0.0, 11.0]  # 10 + 2 * [2, -2.5, -5, 0.5]


# DARE


def test_dare_drop_is_seeded() -> None:
    tau = torch.randn(200, generator=torch.Generator().manual_seed(3))

    first = dare_drop(tau, 0.5, torch.Generator().manual_seed(7))
    again = dare_drop(tau, 0.5, torch.Generator().manual_seed(7))
    other = dare_drop(tau, 0.5, torch.Generator().manual_seed(8))

    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_dare_drop_rescales_kept_entries_by_inverse_density() -> None:
    tau = torch.full((1000,), 2.0)

    dropped = dare_drop(tau, 0.25, torch.Generator().manual_seed(0))

    assert set(dropped.unique().tolist()) == {0.0, 8.0}
    kept_fraction = (dropped != 0).float().mean().item()
    assert kept_fraction == pytest.approx(0.25, abs=0.05)


def test_dare_drop_is_unbiased_in_expectation() -> None:
    # Each entry is tau * Bernoulli(0.3) / 0.3; over 4000 seeds the standard error of the mean
    # is |tau| * sqrt(0.7 / 0.3 / 4000) = 0.024 |tau|, so 0.12 |tau| is five standard errors.
    tau = vector(1.0, -2.0, 0.5, 3.0)
    total = torch.zeros(4)
    for seed in range(4000):
        total += dare_drop(tau, 0.3, torch.Generator().manual_seed(seed))

    mean = total / 4000

    assert (mean - tau).abs().div(tau.abs()).max().item() < 0.12


def test_dare_drop_at_full_density_keeps_everything() -> None:
    tau = vector(1, -2, 3)

    assert torch.equal(dare_drop(tau, 1.0, torch.Generator().manual_seed(0)), tau)


def test_dare_drop_rejects_density_outside_range() -> None:
    with pytest.raises(ConfigError, match="density 0"):
        dare_drop(vector(1), 0.0, torch.Generator())


def test_tensor_generator_depends_on_seed_and_name_only() -> None:
    def draws(seed: int, name: str) -> torch.Tensor:
        return torch.rand(5, generator=tensor_generator(seed, name))

    assert torch.equal(draws(0, "layers.0.q.weight"), draws(0, "layers.0.q.weight"))
    assert not torch.equal(draws(0, "layers.0.q.weight"), draws(0, "layers.1.q.weight"))
    assert not torch.equal(draws(0, "layers.0.q.weight"), draws(1, "layers.0.q.weight"))


def test_dare_ties_at_full_density_equals_ties() -> None:
    base = vector(10, 10, 10, 10)
    inputs = TensorInputs(
        name="w",
        models=[base + vector(*TAU_1), base + vector(*TAU_2), base + vector(*TAU_3)],
        base=base,
    )
    settings = TaskVectorSettings(scaling=0.5)

    dare = merge_dare_ties(inputs, settings).tensor
    ties = merge_ties(inputs, settings).tensor

    assert torch.equal(dare, ties)


def test_dare_ties_does_not_trim_beyond_drop() -> None:
    # One task vector, density 0.5: entries survive DARE's drop doubled, and nothing else is
    # removed, unlike TIES, which would keep exactly 2 of the 8 entries.
    base = torch.zeros(8)
    tau = torch.arange(1.0, 9.0)
    settings = TaskVectorSettings(density=0.5, seed=5)

    merged = merge_dare_ties(TensorInputs(name="w", models=[tau], base=base), settings).tensor

    expected = dare_drop(tau, 0.5, tensor_generator(5, "w"))
    assert torch.equal(merged, expected)


# Settings and registry


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: LinearSettings(weights=(1.0, -0.5)), r"weights\[1\] is -0.5"),
        (lambda: LinearSettings(weights=(0.0, 0.0)), "all zero"),
        (lambda: LinearSettings(weights=()), "empty"),
        (lambda: LinearSettings(weights=(1.0, float("nan"))), "finite number"),
        (lambda: SlerpSettings(t=1.2), "t is 1.2"),
        (lambda: SlerpSettings(layer_t=(0.0, -0.1)), r"layer_t\[1\] is -0.1"),
        (lambda: SlerpSettings(layer_t=()), "empty"),
        (lambda: SlerpSettings(along_path="yes"), "along_path"),  # type: ignore[arg-type]
        (lambda: TaskVectorSettings(density=0.0), "density is 0.0"),
        (lambda: TaskVectorSettings(density=1.5), "density is 1.5"),
        (lambda: TaskVectorSettings(scaling=float("inf")), "scaling"),
        (lambda: TaskVectorSettings(seed=1.5), "seed"),  # type: ignore[arg-type]
    ],
)
def test_settings_reject_invalid_values(make, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ConfigError, match=message):
        make()


def test_linear_settings_accept_list_of_weights_as_tuple() -> None:
    settings = LinearSettings(weights=[1.0, 3.0])  # type: ignore[arg-type]

    assert settings.weights == (1.0, 3.0)


def test_registry_names_every_method_with_its_paper() -> None:
    expected = {
        "linear": "arXiv:2203.05482",
        "slerp": "Shoemake 1985",
        "task_arithmetic": "arXiv:2212.04089",
        "ties": "arXiv:2306.01708",
        "dare_ties": "arXiv:2311.03099",
    }

    assert set(MERGE_METHODS) == set(expected)
    for name, citation in expected.items():
        method = MERGE_METHODS[name]
        assert method.name == name
        assert citation in method.reference
        assert re.search(r"\d{4}", method.reference)
        method.settings_class()  # the defaults are valid
