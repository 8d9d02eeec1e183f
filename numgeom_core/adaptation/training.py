"""LoRA training of a backbone on family labels, saving one adapter at the end of each stage.

The forward pass is the one `embed_texts` measures: the same tokenisation (EOS appended for
LLMs), padding, position ids and pooling, followed by L2 normalisation. Gradients flow only
into the adapters, and AdamW updates only their parameters.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from numgeom_core.adaptation.objectives import OBJECTIVES
from numgeom_core.adaptation.sampling import balanced_batches, check_families, encode_labels
from numgeom_core.adaptation.settings import LoraSettings
from numgeom_core.adaptation.targets import check_targets, lora_config, resolve_targets
from numgeom_core.atomic import atomic_dir, write_bytes_atomic
from numgeom_core.errors import DatasetError, EmbeddingError
from numgeom_core.models.embedding import (
    EmbeddingConfig,
    _check_lengths,
    _check_texts,
    _forward_options,
    _last_hidden_state,
    _pad_token_id,
    pad_batch,
    tokenize,
)
from numgeom_core.models.pooling import POOLING_FUNCTIONS
from numgeom_core.models.registry import BackboneSpec

if TYPE_CHECKING:
    from peft import PeftModel
    from transformers import PreTrainedTokenizerBase

logger = logging.getLogger(__name__)

STAGE_RECORD = "numgeom_lora.json"
# Sequences per forward pass within a training batch. With the batch sorted by length, chunks
# of 8 cut the padded tokens of a default batch (32 number lists of 8 families) by about 30%
# for both bundled backbones. The loss and gradients stay those of one pass over the batch.
FORWARD_CHUNK = 8
_STAGE_FOLDER = re.compile(r"stage-(\d+)")


@dataclass(frozen=True)
class TrainingResult:
    """The adapters and loss curve of one LoRA training run.

    Fields:
        stage_adapters: one adapter folder per stage, in order (adapter_model.safetensors,
            adapter_config.json and the STAGE_RECORD file).
        losses: the training loss of every step, over all stages.
        stage_of_step: the stage (1-based) of each entry of `losses`.
        seconds: wall-clock time of the run, saving included.
    """

    stage_adapters: list[Path]
    losses: list[float]
    stage_of_step: list[int]
    seconds: float


@dataclass(frozen=True)
class _Batches:
    """Tokenised training texts and how to pad and forward them."""

    token_ids: list[list[int]]
    label_ids: list[int]
    pad_id: int
    padding_side: str
    forward_options: dict[str, bool]


def stage_folder(output_dir: Path, stage: int) -> Path:
    """Return the adapter folder of a 1-based stage, output_dir/stage-<stage>."""
    return Path(output_dir) / f"stage-{stage}"


def train_lora(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    spec: BackboneSpec,
    texts: Sequence[str],
    labels: Sequence[str],
    settings: LoraSettings,
    output_dir: Path,
    progress: Callable[[int, int, float], None] | None = None,
) -> TrainingResult:
    """Train LoRA adapters on `model` with the settings' objective; save one per stage.

    `model` is the base model that `load_backbone` returns. It gets adapters for the run and
    is given back without them, its weights unchanged and in eval mode. The adapter is saved
    atomically to output_dir/stage-1, stage-2, ... at the end of each stage, and stage
    folders of an earlier run with more stages are removed. `progress(step, total_steps,
    loss)` is called after every step. The same settings give bitwise the same adapters on
    the same machine and thread count, and the caller's CPU torch random state is restored.

    Raises DatasetError for mismatched texts and labels or fewer than 2 families of 2 samples,
    ConfigError for target modules the model lacks, and EmbeddingError for an empty or
    non-string text list, a text longer than max_tokens, or a non-finite loss.
    """
    start = time.perf_counter()
    texts = _check_training_texts(texts, labels)
    targets = resolve_targets(settings, spec)
    check_targets(model, targets, spec)
    data, families = _prepare(model, tokenizer, spec, texts, labels, settings)
    batches = balanced_batches(
        data.label_ids,
        settings.families_per_batch,
        settings.samples_per_family,
        settings.total_steps,
        settings.seed,
    )
    logger.info(
        "Training LoRA on %s: %d texts of %d families, rank %d, targets %s, %d stages x %d steps",
        spec.name,
        len(texts),
        len(families),
        settings.rank,
        ",".join(targets),
        settings.stages,
        settings.steps_per_stage,
    )
    _remove_stale_stages(Path(output_dir), settings.stages)

    record = {"backbone": spec.name, "target_modules": list(targets), "families": families}
    with torch.random.fork_rng(devices=[]), _adapted(model, settings, targets) as peft_model:
        losses, adapters = _run_stages(
            peft_model, spec, data, batches, settings, Path(output_dir), record, progress
        )

    seconds = time.perf_counter() - start
    logger.info("Trained LoRA on %s in %.1f s", spec.name, seconds)
    stage_of_step = [step // settings.steps_per_stage + 1 for step in range(len(losses))]
    return TrainingResult(
        stage_adapters=adapters, losses=losses, stage_of_step=stage_of_step, seconds=seconds
    )


def _check_training_texts(texts: Sequence[str], labels: Sequence[str]) -> list[str]:
    texts = _check_texts(texts)
    if len(texts) != len(labels):
        raise DatasetError(
            f"LoRA training got {len(texts)} texts but {len(labels)} labels; pass one family "
            "label per text."
        )
    check_families(labels)
    return texts


def _prepare(
    model: torch.nn.Module,
    tokenizer: PreTrainedTokenizerBase,
    spec: BackboneSpec,
    texts: Sequence[str],
    labels: Sequence[str],
    settings: LoraSettings,
) -> tuple[_Batches, list[str]]:
    token_ids = tokenize(tokenizer, texts, spec)
    _check_lengths(model, token_ids, EmbeddingConfig(max_tokens=settings.max_tokens))
    label_ids, families = encode_labels(labels)
    data = _Batches(
        token_ids=token_ids,
        label_ids=label_ids,
        pad_id=_pad_token_id(tokenizer, spec),
        padding_side=tokenizer.padding_side if spec.kind == "llm" else "right",
        forward_options=_forward_options(model, spec),
    )
    return data, families


@contextlib.contextmanager
def _adapted(
    model: torch.nn.Module, settings: LoraSettings, targets: Sequence[str]
) -> Iterator[PeftModel]:
    """Wrap `model` with fresh adapters; afterwards remove them and restore requires_grad."""
    from peft import get_peft_model

    requires_grad = {name: p.requires_grad for name, p in model.named_parameters()}
    # The seed fixes the random initialisation of each lora_A (lora_B starts at zero).
    torch.manual_seed(settings.seed)
    peft_model = get_peft_model(model, lora_config(settings, targets))
    try:
        yield peft_model
    finally:
        peft_model.base_model.unload()
        for name, parameter in model.named_parameters():
            parameter.requires_grad_(requires_grad.get(name, parameter.requires_grad))
        model.eval()


def _run_stages(
    peft_model: PeftModel,
    spec: BackboneSpec,
    data: _Batches,
    batches: list[list[int]],
    settings: LoraSettings,
    output_dir: Path,
    record: dict[str, Any],
    progress: Callable[[int, int, float], None] | None,
) -> tuple[list[float], list[Path]]:
    trainable = [parameter for parameter in peft_model.parameters() if parameter.requires_grad]
    # Weight decay is off: it would pull lora_B back towards the zero update.
    optimizer = torch.optim.AdamW(trainable, lr=settings.learning_rate, weight_decay=0.0)
    loss_function = OBJECTIVES[settings.objective].loss
    total = settings.total_steps
    log_every = max(1, total // 10)

    losses: list[float] = []
    adapters: list[Path] = []
    peft_model.train()
    for step, batch in enumerate(batches, start=1):
        # Longest first, so that each forward chunk pads to a similar length. The loss does not
        # depend on the order of the samples in a batch.
        batch = sorted(batch, key=lambda index: -len(data.token_ids[index]))
        embeddings = _embed_batch(peft_model, spec, data, batch)  # [B, H], unit rows
        batch_labels = torch.tensor([data.label_ids[index] for index in batch])  # [B]
        loss = loss_function(embeddings, batch_labels, settings.temperature)
        if not torch.isfinite(loss):
            raise EmbeddingError(
                f"LoRA training on {spec.name!r} diverged: the loss at step {step} is "
                f"{loss.item()}; lower learning_rate (now {settings.learning_rate})."
            )
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

        losses.append(loss.item())
        if progress is not None:
            progress(step, total, losses[-1])
        if step % log_every == 0 or step == total:
            logger.info("LoRA step %d/%d: loss %.4f", step, total, losses[-1])
        if step % settings.steps_per_stage == 0:
            stage = step // settings.steps_per_stage
            stage_losses = losses[-settings.steps_per_stage :]
            adapters.append(
                _save_stage(peft_model, output_dir, stage, step, settings, record, stage_losses)
            )
    return losses, adapters


def _embed_batch(
    model: torch.nn.Module, spec: BackboneSpec, data: _Batches, batch: list[int]
) -> torch.Tensor:
    """Return the unit embeddings [B, H] of the batch's texts, with gradients.

    The batch runs as forward passes of FORWARD_CHUNK sequences, each padded only to its own
    longest sequence. Pooling ignores padding, so the rows equal those of one padded pass up
    to float rounding.
    """
    pooled = []
    for start in range(0, len(batch), FORWARD_CHUNK):
        chunk = [data.token_ids[index] for index in batch[start : start + FORWARD_CHUNK]]
        input_ids, mask = pad_batch(chunk, data.pad_id, data.padding_side)  # [b, T], [b, T]
        hidden = _last_hidden_state(model, input_ids, mask, data.forward_options)  # [b, T, H]
        pooled.append(POOLING_FUNCTIONS[spec.pooling](hidden, mask))  # [b, H]
    return torch.nn.functional.normalize(torch.cat(pooled), dim=1)  # [B, H]


def _save_stage(
    peft_model: PeftModel,
    output_dir: Path,
    stage: int,
    step: int,
    settings: LoraSettings,
    record: dict[str, Any],
    stage_losses: list[float],
) -> Path:
    target = stage_folder(output_dir, stage)
    with atomic_dir(target) as folder:
        peft_model.save_pretrained(folder)
        stage_record = {
            **record,
            "stage": stage,
            "stages": settings.stages,
            "steps": step,
            "stage_mean_loss": sum(stage_losses) / len(stage_losses),
            "settings": settings.to_dict(),
        }
        write_bytes_atomic(folder / STAGE_RECORD, json.dumps(stage_record, indent=2).encode())
    logger.info("Saved the stage %d/%d adapter to %s", stage, settings.stages, target)
    return target


def _remove_stale_stages(output_dir: Path, stages: int) -> None:
    if not output_dir.is_dir():
        return
    for path in sorted(output_dir.iterdir()):
        match = _STAGE_FOLDER.fullmatch(path.name)
        if match and path.is_dir() and int(match[1]) > stages:
            logger.info("Removing %s, a stage adapter of an earlier run with more stages", path)
            shutil.rmtree(path)
