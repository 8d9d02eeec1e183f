"""The merge methods by name, each with its tensor function, settings class and paper."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from numgeom_core.errors import ConfigError
from numgeom_core.merging.dare import merge_dare_ties
from numgeom_core.merging.linear import check_linear_inputs, merge_linear
from numgeom_core.merging.settings import LinearSettings, SlerpSettings, TaskVectorSettings
from numgeom_core.merging.slerp import check_slerp_inputs, merge_slerp
from numgeom_core.merging.task_arithmetic import (
    check_task_arithmetic_inputs,
    check_task_vector_inputs,
    merge_task_arithmetic,
)
from numgeom_core.merging.tensor_inputs import TensorInputs, TensorResult
from numgeom_core.merging.ties import merge_ties


@dataclass(frozen=True)
class MergeMethod:
    """A registered merge method.

    Fields:
        name: the registry key, e.g. "slerp".
        function: merges one tensor, `(TensorInputs, settings) -> TensorResult`.
        settings_class: the dataclass of its settings; `settings_class()` gives the defaults.
        reference: the paper the method follows, with its arXiv id where it has one.
        uses_base: True when the method takes a base checkpoint and merges task vectors
            tau_i = input_i - base; False when it combines the inputs directly.
        check_inputs: raises ConfigError when the settings do not fit the number of input
            checkpoints (the base not counted).
    """

    name: str
    function: Callable[[TensorInputs, Any], TensorResult]
    settings_class: type
    reference: str
    uses_base: bool
    check_inputs: Callable[[Any, int], None]


MERGE_METHODS: dict[str, MergeMethod] = {
    "linear": MergeMethod(
        name="linear",
        function=merge_linear,
        settings_class=LinearSettings,
        reference=(
            "Wortsman et al. 2022, Model soups: averaging weights of multiple fine-tuned "
            "models improves accuracy without increasing inference time, arXiv:2203.05482"
        ),
        uses_base=False,
        check_inputs=check_linear_inputs,
    ),
    "slerp": MergeMethod(
        name="slerp",
        function=merge_slerp,
        settings_class=SlerpSettings,
        reference=(
            "Shoemake 1985, Animating rotation with quaternion curves, SIGGRAPH '85 "
            "(Computer Graphics 19(3)), no arXiv id"
        ),
        uses_base=False,
        check_inputs=check_slerp_inputs,
    ),
    "task_arithmetic": MergeMethod(
        name="task_arithmetic",
        function=merge_task_arithmetic,
        settings_class=TaskVectorSettings,
        reference=("Ilharco et al. 2023, Editing models with task arithmetic, arXiv:2212.04089"),
        uses_base=True,
        check_inputs=check_task_arithmetic_inputs,
    ),
    "ties": MergeMethod(
        name="ties",
        function=merge_ties,
        settings_class=TaskVectorSettings,
        reference=(
            "Yadav et al. 2023, TIES-Merging: resolving interference when merging models, "
            "arXiv:2306.01708"
        ),
        uses_base=True,
        check_inputs=check_task_vector_inputs,
    ),
    "dare_ties": MergeMethod(
        name="dare_ties",
        function=merge_dare_ties,
        settings_class=TaskVectorSettings,
        reference=(
            "Yu et al. 2024, Language models are Super Mario: absorbing abilities from "
            "homologous models as a free lunch, arXiv:2311.03099; sign election and disjoint "
            "mean from Yadav et al. 2023, arXiv:2306.01708"
        ),
        uses_base=True,
        check_inputs=check_task_vector_inputs,
    ),
}


def get_merge_method(name: str) -> MergeMethod:
    """Return the registered method `name`, or raise ConfigError naming the known ones."""
    method = MERGE_METHODS.get(name)
    if method is None:
        raise ConfigError(
            f"Unknown merge method {name!r}: expected one of {', '.join(MERGE_METHODS)}."
        )
    return method
