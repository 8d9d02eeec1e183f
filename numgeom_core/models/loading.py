"""Loading a resolved backbone folder as a float32 base model and its tokenizer."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from numgeom_core.errors import ModelUnavailableError
from numgeom_core.models.registry import BackboneSpec
from numgeom_core.models.remote_code import check_remote_code

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

logger = logging.getLogger(__name__)


def load_backbone(
    path: Path, spec: BackboneSpec
) -> tuple[torch.nn.Module, PreTrainedTokenizerBase]:
    """Load the base model (hidden states only, no task head) in float32 eval mode.

    The folder is the `path` of a ResolvedCheckpoint. The tokenizer gets a pad token: an LLM
    without one uses its EOS token, and an encoder without one raises ModelUnavailableError.
    A folder that needs remote code raises unless the backbone opted in.
    """
    from transformers import AutoModel, AutoTokenizer

    path = Path(path)
    check_remote_code(spec, path)
    start = time.perf_counter()
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=spec.trust_remote_code)
        model = AutoModel.from_pretrained(
            path, dtype=torch.float32, trust_remote_code=spec.trust_remote_code
        )
    except OSError as error:
        raise ModelUnavailableError(
            f"Backbone {spec.name!r}: loading the model folder {path} failed ({error}); "
            "resolve the backbone again with resolve_checkpoint to rebuild or re-check it."
        ) from error
    set_pad_token(tokenizer, spec)
    model.eval()

    logger.info(
        "Loaded backbone %s (%s, %.1fM parameters) from %s in %.1f s",
        spec.name,
        type(model).__name__,
        sum(parameter.numel() for parameter in model.parameters()) / 1e6,
        path,
        time.perf_counter() - start,
    )
    return model, tokenizer


def set_pad_token(tokenizer: PreTrainedTokenizerBase, spec: BackboneSpec) -> None:
    """Give an LLM tokenizer without a pad token its EOS token; reject a padless encoder.

    Padding positions are excluded from pooling by the attention mask, so which token pads
    does not change any embedding.
    """
    if tokenizer.pad_token is not None:
        return
    if spec.kind == "llm" and tokenizer.eos_token is not None:
        tokenizer.pad_token = tokenizer.eos_token
        logger.info(
            "Backbone %s: the tokenizer has no pad token; padding with the EOS token %r",
            spec.name,
            tokenizer.eos_token,
        )
        return
    raise ModelUnavailableError(
        f"Backbone {spec.name!r}: the {spec.kind} tokenizer has no pad token"
        f"{'' if spec.kind == 'encoder' else ' and no EOS token'}, so batches cannot be "
        "padded; add a pad token to the tokenizer files in the model folder."
    )
