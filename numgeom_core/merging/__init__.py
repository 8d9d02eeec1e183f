"""Weight merging of checkpoints: model soup, SLERP, task arithmetic, TIES and DARE-TIES.

`merge_checkpoints` merges checkpoint folders tensor by tensor into a new folder that
`AutoModel.from_pretrained` loads; `MERGE_METHODS` names each method with its settings class
and paper. The tensor functions (`slerp`, `ties_merge`, `dare_drop`) work on float32 tensors.
"""

from numgeom_core.merging.compatibility import check_compatible
from numgeom_core.merging.dare import dare_drop
from numgeom_core.merging.linear import linear_merge
from numgeom_core.merging.merge import MERGE_RECORD, MergeReport, merge_checkpoints
from numgeom_core.merging.registry import MERGE_METHODS, MergeMethod, get_merge_method
from numgeom_core.merging.settings import LinearSettings, SlerpSettings, TaskVectorSettings
from numgeom_core.merging.slerp import slerp
from numgeom_core.merging.task_arithmetic import task_arithmetic
from numgeom_core.merging.tensor_inputs import TensorInputs, TensorResult
from numgeom_core.merging.ties import ties_merge

__all__ = [
    "MERGE_METHODS",
    "MERGE_RECORD",
    "LinearSettings",
    "MergeMethod",
    "MergeReport",
    "SlerpSettings",
    "TaskVectorSettings",
    "TensorInputs",
    "TensorResult",
    "check_compatible",
    "dare_drop",
    "get_merge_method",
    "linear_merge",
    "merge_checkpoints",
    "slerp",
    "task_arithmetic",
    "ties_merge",
]
