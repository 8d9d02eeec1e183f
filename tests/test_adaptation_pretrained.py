"""A 2-step LoRA adapter on the real MiniLM and SmolLM2, merged: same embeddings and names."""

from pathlib import Path

import numpy as np
import pytest
from peft import PeftModel

from numgeom_core.adaptation import (
    LoraSettings,
    checkpoint_tensor_names,
    merge_adapter,
    train_lora,
)
from numgeom_core.models import (
    EmbeddingConfig,
    ResolvedCheckpoint,
    embed_texts,
    get_backbone,
    load_backbone,
)

pytestmark = pytest.mark.slow

TRAIN = {
    "primes": ["2, 3, 5, 7", "11, 13, 17", "17, 19, 23, 29", "31, 37, 41"],
    "squares": ["1, 4, 9, 16", "25, 36, 49", "64, 81, 100", "121, 144, 169, 196"],
    "cubes": ["1, 8, 27", "64, 125, 216", "343, 512, 729", "1000, 1331, 1728"],
    "arithmetic": ["3, 7, 11, 15", "10, 20, 30", "5, 8, 11, 14", "100, 110, 120"],
}
TEXTS = ["2, 3, 5, 7, 11", "4, 9, 16, 25", "8, 27, 64", "6, 12, 18, 24", "1, 1, 2, 3, 5, 8"]
# Two large steps, so that the adapter moves the embeddings well beyond the tolerance.
SETTINGS = LoraSettings(
    steps_per_stage=2, stages=1, learning_rate=5e-3, batch_size=8, families_per_batch=4
)


@pytest.mark.parametrize(
    ("name", "checkpoint_fixture"),
    [("minilm-l6", "minilm_checkpoint"), ("smollm2-135m", "smollm2_checkpoint")],
)
def test_real_merged_adapter_embeds_like_unmerged(
    name: str, checkpoint_fixture: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    spec = get_backbone(name)
    checkpoint: ResolvedCheckpoint = request.getfixturevalue(checkpoint_fixture)
    texts = [text for family_texts in TRAIN.values() for text in family_texts]
    labels = [family for family, family_texts in TRAIN.items() for _ in family_texts]
    config = EmbeddingConfig(batch_size=8)

    model, tokenizer = load_backbone(checkpoint.path, spec)
    result = train_lora(model, tokenizer, spec, texts, labels, SETTINGS, tmp_path / "adapters")
    base_vectors = embed_texts(model, tokenizer, TEXTS, spec, config).vectors
    adapted = PeftModel.from_pretrained(model, result.stage_adapters[0])
    unmerged_vectors = embed_texts(adapted, tokenizer, TEXTS, spec, config).vectors
    del adapted, model
    merged_path = merge_adapter(checkpoint.path, result.stage_adapters[0], spec, tmp_path / "lora")
    merged, merged_tokenizer = load_backbone(merged_path, spec)
    merged_vectors = embed_texts(merged, merged_tokenizer, TEXTS, spec, config).vectors

    np.testing.assert_allclose(merged_vectors, unmerged_vectors, atol=1e-4)
    assert np.abs(merged_vectors - base_vectors).max() > 1e-3
    assert checkpoint_tensor_names(merged_path) == checkpoint_tensor_names(checkpoint.path)
