"""Embedding texts with a loaded backbone: tokenise, batch by length, pool, check, normalise."""

from __future__ import annotations

import contextlib
import inspect
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from numgeom_core.errors import ConfigError, EmbeddingError
from numgeom_core.models.pooling import POOLING_FUNCTIONS
from numgeom_core.models.registry import BackboneSpec

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class EmbeddingConfig:
    """Settings of one embedding pass.

    Fields:
        batch_size: sequences per forward pass.
        max_tokens: maximum tokens of one sequence, special tokens included; a longer text
            raises EmbeddingError naming it, and is never truncated.
        sort_by_length: batch sequences of similar token length together, which means less
            padding (1.3 to 2 times as fast on short number lists on a 2-core CPU). The output
            stays in input order either way.
        num_threads: torch intra-op threads during the call; None keeps torch's setting.
    """

    batch_size: int = 32
    max_tokens: int = 512
    sort_by_length: bool = True
    num_threads: int | None = None

    def __post_init__(self) -> None:
        for name, minimum in (("batch_size", 1), ("max_tokens", 1)):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
                raise ConfigError(
                    f"Invalid embedding {name} {value!r}: expected an integer >= {minimum}."
                )
        if not isinstance(self.sort_by_length, bool):
            raise ConfigError(
                f"Invalid embedding sort_by_length {self.sort_by_length!r}: expected True or False."
            )
        threads = self.num_threads
        if threads is not None and (
            isinstance(threads, bool) or not isinstance(threads, int) or threads < 1
        ):
            raise ConfigError(
                f"Invalid embedding num_threads {threads!r}: expected None (keep torch's "
                "setting) or an integer >= 1."
            )


@dataclass(frozen=True)
class EmbeddingResult:
    """Embeddings of a list of texts and the cost of computing them.

    Fields:
        vectors: float32 array [N, H], one L2-normalised row per text, in input order.
        seconds: wall-clock time of the call, tokenisation included.
        sequences_per_second: N / seconds.
        n_tokens: real tokens embedded (special and appended EOS tokens included, padding not).
    """

    vectors: np.ndarray
    seconds: float
    sequences_per_second: float
    n_tokens: int


def embed_texts(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    texts: Sequence[str],
    spec: BackboneSpec,
    config: EmbeddingConfig,
    progress: Callable[[int, int], None] | None = None,
) -> EmbeddingResult:
    """Embed `texts` as unit vectors, one row per text in input order.

    An LLM gets its EOS token appended to every sequence and is pooled at that last real
    token ("last") or over all real tokens ("mean"). An encoder is pooled over the attention
    mask ("mean") or at its first token ("cls"). Pooling uses only real tokens, so a row does
    not depend on the other texts in its batch. The model runs in eval mode (no dropout) and
    gets its previous mode back afterwards. `progress(done, total)` is called after every
    batch with the number of texts embedded so far.

    Raises EmbeddingError for an empty input, a text longer than the token limit, or a row
    that comes out non-finite or of zero norm.
    """
    start = time.perf_counter()
    texts = _check_texts(texts)
    token_ids = tokenize(tokenizer, texts, spec)
    _check_lengths(model, token_ids, config)
    order = batch_order([len(ids) for ids in token_ids], config.sort_by_length)
    padding_side = tokenizer.padding_side if spec.kind == "llm" else "right"
    pad_id = _pad_token_id(tokenizer, spec)
    forward_options = _forward_options(model, spec)

    rows: list[np.ndarray | None] = [None] * len(texts)
    with _torch_threads(config.num_threads), _eval_mode(model), torch.inference_mode():
        for batch_start in range(0, len(order), config.batch_size):
            batch = order[batch_start : batch_start + config.batch_size]
            input_ids, mask = pad_batch([token_ids[i] for i in batch], pad_id, padding_side)
            hidden = _last_hidden_state(model, input_ids, mask, forward_options)  # [B, T, H]
            pooled = POOLING_FUNCTIONS[spec.pooling](hidden, mask)  # [B, H]
            for row, index in zip(pooled.float().cpu().numpy(), batch, strict=True):
                rows[index] = row
            if progress is not None:
                progress(min(batch_start + config.batch_size, len(order)), len(order))

    vectors = normalize_rows(np.stack(rows).astype(np.float32, copy=False))
    seconds = time.perf_counter() - start
    n_tokens = sum(len(ids) for ids in token_ids)
    logger.info(
        "Embedded %d texts (%d tokens) with %s in %.1f s (%.1f sequences/s)",
        len(texts),
        n_tokens,
        spec.name,
        seconds,
        len(texts) / seconds,
    )
    return EmbeddingResult(
        vectors=vectors,
        seconds=seconds,
        sequences_per_second=len(texts) / seconds,
        n_tokens=n_tokens,
    )


def tokenize(
    tokenizer: PreTrainedTokenizerBase, texts: Sequence[str], spec: BackboneSpec
) -> list[list[int]]:
    """Return each text's token ids with the tokenizer's special tokens, without padding.

    For an LLM the EOS token id is appended after them, unless the tokenizer already ended
    the sequence with it, so that the last token has attended to the whole text.
    """
    encoded = tokenizer(list(texts), add_special_tokens=True, padding=False, truncation=False)
    token_ids = [list(ids) for ids in encoded["input_ids"]]
    if spec.kind != "llm":
        return token_ids

    eos_id = tokenizer.eos_token_id
    if eos_id is None:
        raise EmbeddingError(
            f"Backbone {spec.name!r}: the LLM tokenizer has no EOS token to append for "
            "last-token pooling; add one to the tokenizer files."
        )
    return [ids if ids and ids[-1] == eos_id else [*ids, eos_id] for ids in token_ids]


def batch_order(lengths: Sequence[int], sort_by_length: bool) -> list[int]:
    """Return the input indices in processing order: longest first when sorting, else as given.

    The sort is stable, so texts of equal length keep their input order.
    """
    indices = list(range(len(lengths)))
    if not sort_by_length:
        return indices
    return sorted(indices, key=lambda index: -lengths[index])


def pad_batch(
    token_ids: Sequence[Sequence[int]], pad_id: int, padding_side: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Pad sequences to the longest one; return input ids [B, T] and attention mask [B, T]."""
    if padding_side not in ("left", "right"):
        raise EmbeddingError(f"Invalid padding side {padding_side!r}: expected 'left' or 'right'.")
    width = max(len(ids) for ids in token_ids)
    input_ids = torch.full((len(token_ids), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(token_ids), width), dtype=torch.long)
    for row, ids in enumerate(token_ids):
        start = 0 if padding_side == "right" else width - len(ids)
        input_ids[row, start : start + len(ids)] = torch.tensor(ids, dtype=torch.long)
        mask[row, start : start + len(ids)] = 1
    return input_ids, mask


def normalize_rows(vectors: np.ndarray) -> np.ndarray:
    """Return the rows of `vectors` [N, H] divided by their L2 norms.

    Raises EmbeddingError naming the first rows (input indices) that are non-finite or have
    zero norm, since neither has a direction.
    """
    non_finite = np.flatnonzero(~np.isfinite(vectors).all(axis=1))
    if non_finite.size:
        raise EmbeddingError(
            f"{non_finite.size} embeddings are not finite (NaN or infinite), first at input "
            f"indices {non_finite[:10].tolist()}; check the model weights and those texts."
        )
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)  # [N, 1]
    zero = np.flatnonzero(norms[:, 0] == 0)
    if zero.size:
        raise EmbeddingError(
            f"{zero.size} embeddings are all zeros and cannot be normalised, first at input "
            f"indices {zero[:10].tolist()}; check the model weights and those texts."
        )
    return (vectors / norms).astype(np.float32)


def _check_texts(texts: Sequence[str]) -> list[str]:
    texts = list(texts)
    if not texts:
        raise EmbeddingError("No texts to embed: the input is empty; pass at least one text.")
    not_strings = [index for index, text in enumerate(texts) if not isinstance(text, str)]
    if not_strings:
        raise EmbeddingError(
            f"Texts must be strings; the items at indices {not_strings[:10]} are not "
            f"(first: {texts[not_strings[0]]!r})."
        )
    return texts


def _check_lengths(
    model: torch.nn.Module, token_ids: Sequence[Sequence[int]], config: EmbeddingConfig
) -> None:
    limit = config.max_tokens
    positions = getattr(getattr(model, "config", None), "max_position_embeddings", None)
    if isinstance(positions, int) and positions < limit:
        limit = positions
    too_long = [index for index, ids in enumerate(token_ids) if len(ids) > limit]
    if too_long:
        lengths = [len(token_ids[index]) for index in too_long[:10]]
        raise EmbeddingError(
            f"{len(too_long)} texts are longer than {limit} tokens (max_tokens "
            f"{config.max_tokens}, model positions {positions}): input indices "
            f"{too_long[:10]} with {lengths} tokens. Texts are never truncated; shorten them "
            "or raise max_tokens up to the model's positions."
        )


def _pad_token_id(tokenizer: PreTrainedTokenizerBase, spec: BackboneSpec) -> int:
    if tokenizer.pad_token_id is None:
        raise EmbeddingError(
            f"Backbone {spec.name!r}: the tokenizer has no pad token; load it with "
            "load_backbone, which sets one."
        )
    return int(tokenizer.pad_token_id)


def _forward_options(model: torch.nn.Module, spec: BackboneSpec) -> dict[str, bool]:
    """Return which optional forward arguments to pass: explicit positions, no KV cache."""
    # A PEFT wrapper forwards **kwargs to the model it wraps, whose signature is the one to read.
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    parameters = inspect.signature(inner.forward).parameters
    is_llm = spec.kind == "llm"
    return {
        # Positions counted over real tokens only, so that left padding does not shift them.
        # Encoders are always right-padded, and some (RoBERTa, MPNet) offset their positions.
        "position_ids": is_llm and "position_ids" in parameters,
        "use_cache": is_llm and "use_cache" in parameters,
    }


def _last_hidden_state(
    model: torch.nn.Module,
    input_ids: torch.Tensor,
    mask: torch.Tensor,
    options: dict[str, bool],
) -> torch.Tensor:
    device = next(model.parameters()).device
    arguments: dict[str, Any] = {
        "input_ids": input_ids.to(device),
        "attention_mask": mask.to(device),
    }
    if options["position_ids"]:
        arguments["position_ids"] = (mask.cumsum(dim=1) - 1).clamp(min=0).to(device)  # [B, T]
    if options["use_cache"]:
        arguments["use_cache"] = False
    outputs = model(**arguments)
    hidden = getattr(outputs, "last_hidden_state", None)
    if hidden is None:
        raise EmbeddingError(
            f"The model output ({type(outputs).__name__}) has no last_hidden_state, so it is "
            "not a base model; embed with the model that load_backbone returns, not one with "
            "a task head."
        )
    return hidden.float().cpu()


@contextlib.contextmanager
def _eval_mode(model: torch.nn.Module) -> Iterator[None]:
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)


@contextlib.contextmanager
def _torch_threads(num_threads: int | None) -> Iterator[None]:
    if num_threads is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(num_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
