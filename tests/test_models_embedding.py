"""Loading and embedding with tiny random BERT and Llama backbones."""

from __future__ import annotations

import copy
import dataclasses
import json
import logging
import shutil
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
import torch

from numgeom_core.errors import ConfigError, EmbeddingError, ModelUnavailableError
from numgeom_core.models import (
    BackboneSpec,
    EmbeddingConfig,
    embed_texts,
    load_backbone,
)
from numgeom_core.models.embedding import _forward_options, normalize_rows, tokenize
from numgeom_core.models.loading import set_pad_token

if TYPE_CHECKING:
    from transformers import PreTrainedTokenizerBase

# Lengths differ, so every batch below needs padding.
TEXTS = ["1, 2", "3, 5, 7, 11, 13", "4", "10, 20, 30", "2, 4, 8, 16, 32, 64, 128", "9, 9"]
TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def bert(tiny_bert: BackboneSpec) -> tuple:
    return load_backbone(Path(tiny_bert.source), tiny_bert)


@pytest.fixture(scope="module")
def llama(tiny_llama: BackboneSpec) -> tuple:
    return load_backbone(Path(tiny_llama.source), tiny_llama)


def _embed_one_by_one(
    model: torch.nn.Module, tokenizer: PreTrainedTokenizerBase, spec: BackboneSpec
) -> np.ndarray:
    config = EmbeddingConfig(batch_size=1)
    return np.stack([embed_texts(model, tokenizer, [t], spec, config).vectors[0] for t in TEXTS])


def test_load_gives_float32_eval_base_model(llama: tuple) -> None:
    model, _ = llama

    assert type(model).__name__ == "LlamaModel"
    assert not model.training
    assert {parameter.dtype for parameter in model.parameters()} == {torch.float32}


def test_llm_without_pad_token_pads_with_eos(
    tiny_llama: BackboneSpec, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="numgeom_core.models.loading"):
        _, tokenizer = load_backbone(Path(tiny_llama.source), tiny_llama)

    assert tokenizer.pad_token == "</s>"
    assert "no pad token; padding with the EOS token" in caplog.text


def test_encoder_without_pad_token_is_rejected(bert: tuple, tiny_bert: BackboneSpec) -> None:
    tokenizer = copy.deepcopy(bert[1])
    tokenizer.pad_token = None

    with pytest.raises(ModelUnavailableError, match="encoder tokenizer has no pad token"):
        set_pad_token(tokenizer, tiny_bert)


def test_load_rejects_remote_code_folder(tmp_path: Path, tiny_bert: BackboneSpec) -> None:
    folder = tmp_path / "remote"
    shutil.copytree(tiny_bert.source, folder)
    config = json.loads((folder / "config.json").read_text())
    config.update(model_type="new", auto_map={"AutoModel": "modeling.NewModel"})
    (folder / "config.json").write_text(json.dumps(config))
    spec = dataclasses.replace(tiny_bert, source=str(folder))

    with pytest.raises(ModelUnavailableError, match="trust_remote_code=True"):
        load_backbone(folder, spec)


@pytest.mark.parametrize("padding_side", ["right", "left"])
@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_encoder_rows_do_not_depend_on_batch(
    bert: tuple, tiny_bert: BackboneSpec, padding_side: str, pooling: str
) -> None:
    model, tokenizer = bert
    tokenizer = copy.deepcopy(tokenizer)
    tokenizer.padding_side = padding_side
    spec = dataclasses.replace(tiny_bert, pooling=pooling)

    alone = _embed_one_by_one(model, tokenizer, spec)
    batched = embed_texts(model, tokenizer, TEXTS, spec, EmbeddingConfig(batch_size=6)).vectors

    np.testing.assert_allclose(batched, alone, atol=TOLERANCE)


@pytest.mark.parametrize("padding_side", ["right", "left"])
@pytest.mark.parametrize("pooling", ["last", "mean"])
def test_llm_rows_do_not_depend_on_batch(
    llama: tuple, tiny_llama: BackboneSpec, padding_side: str, pooling: str
) -> None:
    model, tokenizer = llama
    tokenizer = copy.deepcopy(tokenizer)
    tokenizer.padding_side = padding_side
    spec = dataclasses.replace(tiny_llama, pooling=pooling)

    alone = _embed_one_by_one(model, tokenizer, spec)
    batched = embed_texts(model, tokenizer, TEXTS, spec, EmbeddingConfig(batch_size=6)).vectors

    np.testing.assert_allclose(batched, alone, atol=TOLERANCE)


def test_pooling_choice_changes_embeddings(llama: tuple, tiny_llama: BackboneSpec) -> None:
    model, tokenizer = llama
    mean_spec = dataclasses.replace(tiny_llama, pooling="mean")

    last = embed_texts(model, tokenizer, TEXTS, tiny_llama, EmbeddingConfig()).vectors
    mean = embed_texts(model, tokenizer, TEXTS, mean_spec, EmbeddingConfig()).vectors

    assert not np.allclose(last, mean, atol=1e-3)


def test_cls_pooling_takes_first_token_state(bert: tuple, tiny_bert: BackboneSpec) -> None:
    model, tokenizer = bert
    spec = dataclasses.replace(tiny_bert, pooling="cls")

    vector = embed_texts(model, tokenizer, ["3, 5"], spec, EmbeddingConfig()).vectors[0]
    with torch.inference_mode():
        hidden = model(**tokenizer(["3, 5"], return_tensors="pt")).last_hidden_state[0, 0]

    np.testing.assert_allclose(vector, (hidden / hidden.norm()).numpy(), atol=TOLERANCE)


def test_sorted_batches_keep_input_order(bert: tuple, tiny_bert: BackboneSpec) -> None:
    model, tokenizer = bert
    sorted_config = EmbeddingConfig(batch_size=2, sort_by_length=True)
    input_order_config = EmbeddingConfig(batch_size=2, sort_by_length=False)

    by_length = embed_texts(model, tokenizer, TEXTS, tiny_bert, sorted_config).vectors
    as_given = embed_texts(model, tokenizer, TEXTS, tiny_bert, input_order_config).vectors
    reversed_input = embed_texts(model, tokenizer, TEXTS[::-1], tiny_bert, sorted_config).vectors

    np.testing.assert_allclose(by_length, as_given, atol=TOLERANCE)
    np.testing.assert_allclose(reversed_input, by_length[::-1], atol=TOLERANCE)
    # The six texts are all different, so their rows are too: order errors cannot hide.
    assert len({tuple(row.round(4)) for row in by_length}) == len(TEXTS)


def test_result_rows_are_unit_float32(llama: tuple, tiny_llama: BackboneSpec) -> None:
    model, tokenizer = llama

    result = embed_texts(model, tokenizer, TEXTS, tiny_llama, EmbeddingConfig())

    assert result.vectors.dtype == np.float32
    assert result.vectors.shape == (len(TEXTS), 32)
    np.testing.assert_allclose(np.linalg.norm(result.vectors, axis=1), 1.0, atol=1e-6)
    assert result.seconds > 0
    assert result.sequences_per_second == pytest.approx(len(TEXTS) / result.seconds)


def test_token_count_excludes_padding(
    bert: tuple, llama: tuple, tiny_bert: BackboneSpec, tiny_llama: BackboneSpec
) -> None:
    texts = ["1, 2", "3"]

    bert_result = embed_texts(*bert, texts, tiny_bert, EmbeddingConfig())
    llama_result = embed_texts(*llama, texts, tiny_llama, EmbeddingConfig())

    # BERT: [CLS] 1 , 2 [SEP] and [CLS] 3 [SEP] -> 5 + 3. Llama: 1 , 2 </s> and 3 </s> -> 4 + 2.
    assert bert_result.n_tokens == 8
    assert llama_result.n_tokens == 6


def test_llm_sequences_end_with_one_eos(llama: tuple, tiny_llama: BackboneSpec) -> None:
    tokenizer = llama[1]
    eos = tokenizer.eos_token_id

    token_ids = tokenize(tokenizer, ["1, 2", "3 </s>"], tiny_llama)

    assert token_ids[0][-1] == eos
    assert token_ids[1].count(eos) == 1


def test_encoder_sequences_get_no_eos(bert: tuple, tiny_bert: BackboneSpec) -> None:
    tokenizer = bert[1]

    assert tokenize(tokenizer, ["1, 2"], tiny_bert) == [tokenizer("1, 2")["input_ids"]]


def test_too_long_text_is_rejected_not_truncated(bert: tuple, tiny_bert: BackboneSpec) -> None:
    config = EmbeddingConfig(max_tokens=6)

    # One token per digit and comma, plus [CLS] and [SEP]: "3, 5, 7, 11, 13" has 13 tokens,
    # "10, 20, 30" 10 and "2, 4, 8, 16, 32, 64, 128" 20; "1, 2", "4" and "9, 9" fit in 6.
    with pytest.raises(
        EmbeddingError, match=r"3 texts .* input indices \[1, 3, 4\] with \[13, 10, 20\] tokens"
    ):
        embed_texts(*bert, TEXTS, tiny_bert, config)


def test_model_positions_cap_the_token_limit(bert: tuple, tiny_bert: BackboneSpec) -> None:
    # The tiny BERT has 64 positions: 40 terms make 2 * 40 - 1 + 2 = 81 tokens.
    long_text = ", ".join(["1"] * 40)

    with pytest.raises(EmbeddingError, match="longer than 64 tokens"):
        embed_texts(*bert, [long_text], tiny_bert, EmbeddingConfig(max_tokens=512))


def test_non_finite_rows_are_named(bert: tuple, tiny_bert: BackboneSpec) -> None:
    model, tokenizer = bert
    broken = copy.deepcopy(model)
    with torch.no_grad():
        broken.embeddings.word_embeddings.weight[tokenizer.convert_tokens_to_ids("7")] = torch.nan

    # Only text 1 ("3, 5, 7, 11, 13") contains the digit 7.
    with pytest.raises(EmbeddingError, match=r"1 embeddings are not finite.*indices \[1\]"):
        embed_texts(broken, tokenizer, TEXTS, tiny_bert, EmbeddingConfig(batch_size=4))


def test_normalize_rows_divides_by_norm() -> None:
    vectors = np.array([[3.0, 4.0], [0.0, -2.0]], dtype=np.float32)

    np.testing.assert_allclose(normalize_rows(vectors), [[0.6, 0.8], [0.0, -1.0]])


def test_normalize_rows_rejects_zero_rows() -> None:
    vectors = np.array([[1.0, 0.0], [0.0, 0.0]], dtype=np.float32)

    with pytest.raises(EmbeddingError, match=r"all zeros.*indices \[1\]"):
        normalize_rows(vectors)


def test_normalize_rows_rejects_non_finite_rows() -> None:
    vectors = np.array([[1.0, 0.0], [1.0, np.inf], [np.nan, 0.0]], dtype=np.float32)

    with pytest.raises(EmbeddingError, match=r"2 embeddings are not finite.*indices \[1, 2\]"):
        normalize_rows(vectors)


def test_progress_is_reported_after_each_batch(bert: tuple, tiny_bert: BackboneSpec) -> None:
    calls: list[tuple[int, int]] = []

    embed_texts(
        *bert,
        TEXTS[:5],
        tiny_bert,
        EmbeddingConfig(batch_size=2),
        progress=lambda done, total: calls.append((done, total)),
    )

    assert calls == [(2, 5), (4, 5), (5, 5)]


def test_thread_setting_is_restored(bert: tuple, tiny_bert: BackboneSpec) -> None:
    before = torch.get_num_threads()
    seen: list[int] = []

    embed_texts(
        *bert,
        TEXTS,
        tiny_bert,
        EmbeddingConfig(num_threads=1),
        progress=lambda done, total: seen.append(torch.get_num_threads()),
    )

    assert set(seen) == {1}
    assert torch.get_num_threads() == before


def test_empty_input_is_rejected(bert: tuple, tiny_bert: BackboneSpec) -> None:
    with pytest.raises(EmbeddingError, match="input is empty"):
        embed_texts(*bert, [], tiny_bert, EmbeddingConfig())


def test_non_string_input_is_rejected(bert: tuple, tiny_bert: BackboneSpec) -> None:
    with pytest.raises(EmbeddingError, match=r"indices \[1\] are not"):
        embed_texts(*bert, ["1, 2", 3], tiny_bert, EmbeddingConfig())


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("batch_size", 0),
        ("batch_size", 2.5),
        ("batch_size", True),
        ("max_tokens", 0),
        ("sort_by_length", "yes"),
        ("num_threads", 0),
    ],
)
def test_invalid_embedding_config_is_rejected(field: str, value: object) -> None:
    with pytest.raises(ConfigError, match=f"Invalid embedding {field}"):
        EmbeddingConfig(**{field: value})


def test_model_with_task_head_is_rejected(tiny_llama: BackboneSpec, llama: tuple) -> None:
    from transformers import LlamaForCausalLM

    causal = LlamaForCausalLM.from_pretrained(tiny_llama.source)

    with pytest.raises(EmbeddingError, match="has no last_hidden_state"):
        embed_texts(causal, llama[1], TEXTS, tiny_llama, EmbeddingConfig())


def test_fresh_lora_wrapper_embeds_like_base(llama: tuple, tiny_llama: BackboneSpec) -> None:
    from peft import LoraConfig, get_peft_model

    model, tokenizer = llama
    tokenizer = copy.deepcopy(tokenizer)
    tokenizer.padding_side = "left"
    lora = LoraConfig(r=2, lora_alpha=4, target_modules=list(tiny_llama.lora_targets))
    # LoRA's B matrices start at zero, so a fresh adapter leaves every output unchanged.
    wrapped = get_peft_model(copy.deepcopy(model), lora)

    base = embed_texts(model, tokenizer, TEXTS, tiny_llama, EmbeddingConfig()).vectors
    adapted = embed_texts(wrapped, tokenizer, TEXTS, tiny_llama, EmbeddingConfig()).vectors

    np.testing.assert_allclose(adapted, base, atol=TOLERANCE)
    assert _forward_options(wrapped, tiny_llama) == {"position_ids": True, "use_cache": True}


def test_embedding_runs_without_dropout(bert: tuple, tiny_bert: BackboneSpec) -> None:
    model, tokenizer = bert
    training = copy.deepcopy(model)
    for module in training.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.5
    training.train()

    expected = embed_texts(model, tokenizer, TEXTS, tiny_bert, EmbeddingConfig()).vectors
    first = embed_texts(training, tokenizer, TEXTS, tiny_bert, EmbeddingConfig()).vectors

    np.testing.assert_allclose(first, expected, atol=TOLERANCE)
    assert training.training
