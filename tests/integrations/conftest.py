"""Fixtures: tiny random-init transformers models saved with ``save_pretrained`` (no hub
access), an instrumentor that is always uninstrumented after the test, telemetry capture."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM
from transformers.generation.utils import GenerationMixin

from hyperion_otel.integrations.transformers import TransformersInstrumentor
from hyperion_otel.testing import TestContext, create_test_context
from integrations.tiny import BOS, EOS, PAD, VOCAB, Tiny, save_tiny


@pytest.fixture(scope="session")
def tiny_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tiny-transformers")


@pytest.fixture(scope="session")
def tiny_gpt2(tiny_root: Path) -> Tiny:
    torch.manual_seed(0)
    cfg = GPT2Config(
        n_layer=2, n_embd=32, n_head=2, vocab_size=VOCAB, n_positions=256,
        bos_token_id=BOS, eos_token_id=EOS, pad_token_id=PAD,
    )  # fmt: skip
    return save_tiny(tiny_root, "tiny-gpt2", GPT2LMHeadModel(cfg), tokenizer=True)


@pytest.fixture(scope="session")
def tiny_llama(tiny_root: Path) -> Tiny:
    torch.manual_seed(1)
    cfg = LlamaConfig(
        vocab_size=VOCAB, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
        bos_token_id=BOS, eos_token_id=EOS, pad_token_id=PAD,
    )  # fmt: skip
    return save_tiny(tiny_root, "tiny-llama", LlamaForCausalLM(cfg), tokenizer=False)


@pytest.fixture(params=["gpt2", "llama"])
def tiny(request: pytest.FixtureRequest) -> Tiny:
    fixture: Tiny = request.getfixturevalue(f"tiny_{request.param}")
    return fixture


@pytest.fixture
def telemetry() -> Iterator[TestContext]:
    with create_test_context() as ctx:
        yield ctx


@pytest.fixture
def instrumented() -> Iterator[TransformersInstrumentor]:
    """The instrumentor, instrumented for the test; transformers is checked to be left as
    found afterwards."""
    original = vars(GenerationMixin)["generate"]
    inst = TransformersInstrumentor()
    inst.instrument()
    yield inst
    inst.uninstrument()
    assert vars(GenerationMixin)["generate"] is original
