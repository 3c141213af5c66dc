"""Fixtures for the runtime tests: tiny checkpoints and in-memory telemetry capture."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from opentelemetry.sdk.trace import ReadableSpan

from hyperion_otel.testing import TestContext, create_test_context

from runtime.checkpoints import GPT2_CFG, LLAMA_CFG, gpt2_weights, llama_weights, write_checkpoint


class Telemetry:
    """The runtime tests' view of a ``hyperion_otel.testing`` test context."""

    def __init__(self, ctx: TestContext) -> None:
        self.ctx = ctx

    def spans(self) -> list[ReadableSpan]:
        return self.ctx.spans

    def span(self, name: str) -> ReadableSpan:
        return self.ctx.span(name)

    def metrics(self) -> dict[str, list[Any]]:
        return self.ctx.metrics


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    """In-memory SDK providers installed for one test, the previous ones restored after."""
    with create_test_context() as ctx:
        yield Telemetry(ctx)


@dataclass
class Checkpoint:
    path: Path
    cfg: dict[str, Any]
    weights: dict[str, np.ndarray]


@pytest.fixture
def make_gpt2(tmp_path: Path) -> Callable[..., Checkpoint]:
    def make(
        name: str = "gpt2",
        dtype: str = "F32",
        prefix: str = "",
        shards: int = 1,
        seed: int = 0,
        **over: Any,
    ) -> Checkpoint:
        cfg = {**GPT2_CFG, **over}
        w = gpt2_weights(cfg, seed)
        path = write_checkpoint(
            tmp_path / name, cfg, {prefix + k: v for k, v in w.items()}, dtype, shards
        )
        return Checkpoint(path, cfg, w)

    return make


@pytest.fixture
def make_llama(tmp_path: Path) -> Callable[..., Checkpoint]:
    def make(
        name: str = "llama", dtype: str = "F32", shards: int = 1, seed: int = 0, **over: Any
    ) -> Checkpoint:
        cfg = {**LLAMA_CFG, **over}
        w = llama_weights(cfg, seed)
        path = write_checkpoint(tmp_path / name, cfg, w, dtype, shards)
        return Checkpoint(path, cfg, w)

    return make


@pytest.fixture
def gpt2(make_gpt2: Callable[..., Checkpoint]) -> Checkpoint:
    return make_gpt2()


@pytest.fixture
def llama(make_llama: Callable[..., Checkpoint]) -> Checkpoint:
    return make_llama()


@pytest.fixture
def byte_llama(make_llama: Callable[..., Checkpoint]) -> Checkpoint:
    """A random Llama with the built-in model's byte-level tokenizer contract."""
    return make_llama(
        "byte", vocab_size=257, bos_token_id=256, eos_token_id=256, hyperion_tokenizer="byte"
    )
