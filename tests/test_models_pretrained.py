"""Embeddings from the real bundled backbones: MiniLM and the converted SmolLM2 GGUF."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
import torch
from transformers import AutoModelForCausalLM

from numgeom_core.models import (
    EmbeddingConfig,
    ResolvedCheckpoint,
    embed_texts,
    get_backbone,
    load_backbone,
    resolve_checkpoint,
)
from numgeom_core.models.gguf_conversion import CONVERSION_RECORD

pytestmark = pytest.mark.slow

PRIMES = "3, 5, 7, 11, 13"
MORE_PRIMES = "3, 5, 7, 11, 13, 17"
SENTENCE = "The weather is cold and rainy today."
TEXTS = [PRIMES, MORE_PRIMES, "1, 4, 9, 16, 25", "2, 4, 6, 8, 10, 12, 14, 16", SENTENCE]


@pytest.mark.parametrize(
    ("name", "checkpoint_fixture"),
    [("minilm-l6", "minilm_checkpoint"), ("smollm2-135m", "smollm2_checkpoint")],
)
def test_real_embeddings_are_unit_and_deterministic(
    name: str, checkpoint_fixture: str, request: pytest.FixtureRequest
) -> None:
    spec = get_backbone(name)
    checkpoint: ResolvedCheckpoint = request.getfixturevalue(checkpoint_fixture)
    model, tokenizer = load_backbone(checkpoint.path, spec)

    first = embed_texts(model, tokenizer, TEXTS, spec, EmbeddingConfig(batch_size=2)).vectors
    second = embed_texts(model, tokenizer, TEXTS, spec, EmbeddingConfig(batch_size=5)).vectors

    assert np.isfinite(first).all()
    np.testing.assert_allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-5)
    np.testing.assert_allclose(first, second, atol=1e-5)
    # An extended prime list is closer to the primes than an English sentence is.
    assert first[0] @ first[1] > first[0] @ first[4]


def test_smollm2_rows_do_not_depend_on_left_padding(smollm2_checkpoint: ResolvedCheckpoint) -> None:
    spec = get_backbone("smollm2-135m")
    model, tokenizer = load_backbone(smollm2_checkpoint.path, spec)
    left = copy.deepcopy(tokenizer)
    left.padding_side = "left"

    alone = [embed_texts(model, left, [text], spec, EmbeddingConfig()).vectors[0] for text in TEXTS]
    batched = embed_texts(model, left, TEXTS, spec, EmbeddingConfig(batch_size=5)).vectors

    np.testing.assert_allclose(batched, np.stack(alone), atol=1e-5)


def test_converted_smollm2_matches_gguf_outputs(smollm2_checkpoint: ResolvedCheckpoint) -> None:
    spec = get_backbone("smollm2-135m")
    record = json.loads((smollm2_checkpoint.path / CONVERSION_RECORD).read_text())
    model, tokenizer = load_backbone(smollm2_checkpoint.path, spec)

    input_ids = tokenizer(record["probe_text"], return_tensors="pt")["input_ids"]
    with torch.inference_mode():
        hidden = model(input_ids=input_ids).last_hidden_state[0, -1]

    # The record contains the GGUF-loaded model's last hidden state on the probe text.
    assert input_ids[0].tolist() == record["probe_input_ids"]
    assert torch.allclose(hidden, torch.tensor(record["probe_last_hidden_state"]), atol=1e-4)
    assert record["quantized_from"] == "GGUF Q4_1"
    assert tokenizer.pad_token == tokenizer.eos_token


def test_converted_smollm2_keeps_tied_output_head(smollm2_checkpoint: ResolvedCheckpoint) -> None:
    causal = AutoModelForCausalLM.from_pretrained(smollm2_checkpoint.path)

    assert torch.equal(causal.lm_head.weight, causal.model.embed_tokens.weight)


def test_smollm2_conversion_is_reused(smollm2_checkpoint: ResolvedCheckpoint) -> None:
    again = resolve_checkpoint(get_backbone("smollm2-135m"), smollm2_checkpoint.path.parent)

    assert again.converted is False
    assert again.path == smollm2_checkpoint.path
    assert again.sha256 == smollm2_checkpoint.sha256
