"""Shared test setup: no network, and session-wide tiny and real backbones.

Tiny BERT and Llama models are built from a config with random weights and a word-level
tokenizer over digits and commas, saved once per session, and returned as 'directory'
backbone specs. The real bundled backbones are resolved once per session into a temporary
cache. Set NUMGEOM_TEST_MODEL_CACHE to a folder to keep the SmolLM2 conversion (about 35 s)
between sessions.
"""

from __future__ import annotations

import os

# Set before anything imports huggingface_hub or transformers, which read them at import.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"
os.environ["HF_HUB_DISABLE_TELEMETRY"] = "1"
os.environ["MLFLOW_DISABLE_TELEMETRY"] = "true"
# Dagster reads its telemetry switch from the instance's dagster.yaml, not from the
# environment; dg.instance_for_test() already turns it off.

from pathlib import Path  # noqa: E402
from typing import TYPE_CHECKING, Any  # noqa: E402

import pytest  # noqa: E402

from numgeom_core.models import BackboneSpec, get_backbone  # noqa: E402

if TYPE_CHECKING:
    from numgeom_core.models import ResolvedCheckpoint

TINY_VOCABULARY = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "</s>", *"0123456789", ","]


def _word_level_tokenizer(with_bert_template: bool) -> Any:
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocabulary = {token: index for index, token in enumerate(TINY_VOCABULARY)}
    backend = Tokenizer(models.WordLevel(vocabulary, unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.Whitespace(), pre_tokenizers.Digits(individual_digits=True)]
    )
    if with_bert_template:
        backend.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]",
            special_tokens=[("[CLS]", vocabulary["[CLS]"]), ("[SEP]", vocabulary["[SEP]"])],
        )
        return PreTrainedTokenizerFast(
            tokenizer_object=backend,
            pad_token="[PAD]",
            unk_token="[UNK]",
            cls_token="[CLS]",
            sep_token="[SEP]",
        )
    # Like SmolLM2: no special tokens added and no pad token, so loading must set one.
    return PreTrainedTokenizerFast(tokenizer_object=backend, unk_token="[UNK]", eos_token="</s>")


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> BackboneSpec:
    """A 2-layer, 32-wide random BertModel with a digit tokenizer, as a directory backbone."""
    import torch
    from transformers import BertConfig, BertModel

    folder = tmp_path_factory.mktemp("tiny-bert")
    torch.manual_seed(0)
    config = BertConfig(
        vocab_size=len(TINY_VOCABULARY),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=64,
        max_position_embeddings=64,
        pad_token_id=0,
    )
    BertModel(config).save_pretrained(folder)
    _word_level_tokenizer(with_bert_template=True).save_pretrained(folder)
    return BackboneSpec(
        name="tiny-bert",
        source_type="directory",
        source=str(folder),
        kind="encoder",
        pooling="mean",
        lora_targets=("query", "key", "value"),
    )


@pytest.fixture(scope="session")
def tiny_llama(tmp_path_factory: pytest.TempPathFactory) -> BackboneSpec:
    """A 2-layer, 32-wide random LlamaForCausalLM (tied head, no pad token), as a backbone."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    folder = tmp_path_factory.mktemp("tiny-llama")
    torch.manual_seed(0)
    config = LlamaConfig(
        vocab_size=len(TINY_VOCABULARY),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=64,
        tie_word_embeddings=True,
        bos_token_id=None,
        eos_token_id=TINY_VOCABULARY.index("</s>"),
        pad_token_id=None,
    )
    LlamaForCausalLM(config).save_pretrained(folder)
    _word_level_tokenizer(with_bert_template=False).save_pretrained(folder)
    return BackboneSpec(
        name="tiny-llama",
        source_type="directory",
        source=str(folder),
        kind="llm",
        pooling="last",
        lora_targets=("q_proj", "k_proj", "v_proj", "o_proj"),
    )


@pytest.fixture(scope="session")
def backbone_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The cache folder that real backbones are converted into during this session."""
    persistent = os.environ.get("NUMGEOM_TEST_MODEL_CACHE")
    return Path(persistent) if persistent else tmp_path_factory.mktemp("backbone-cache")


@pytest.fixture(scope="session")
def minilm_checkpoint(backbone_cache: Path) -> ResolvedCheckpoint:
    """The bundled all-MiniLM-L6-v2 folder, resolved in place."""
    from numgeom_core.models import resolve_checkpoint

    return resolve_checkpoint(get_backbone("minilm-l6"), backbone_cache)


@pytest.fixture(scope="session")
def smollm2_checkpoint(backbone_cache: Path) -> ResolvedCheckpoint:
    """The bundled SmolLM2-135M GGUF, converted once into a float32 folder (about 35 s)."""
    from numgeom_core.models import resolve_checkpoint

    return resolve_checkpoint(get_backbone("smollm2-135m"), backbone_cache)
