"""Fixtures for the runtime tests: tiny checkpoints and in-memory telemetry capture."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from hyperion_otel import _telemetry

from runtime.checkpoints import GPT2_CFG, LLAMA_CFG, gpt2_weights, llama_weights, write_checkpoint


@dataclass
class Telemetry:
    exporter: InMemorySpanExporter
    reader: InMemoryMetricReader

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

    def span(self, name: str) -> ReadableSpan:
        found = [s for s in self.spans() if s.name == name]
        assert len(found) == 1, [s.name for s in self.spans()]
        return found[0]

    def metrics(self) -> dict[str, list[Any]]:
        data = self.reader.get_metrics_data()
        out: dict[str, list[Any]] = {}
        if data is None:
            return out
        for rm in data.resource_metrics:
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    out.setdefault(m.name, []).extend(m.data.data_points)
        return out


@pytest.fixture
def telemetry(reset_otel_globals: Callable[[], None]) -> Iterator[Telemetry]:
    """SDK tracer + meter providers with in-memory export, installed globally for one test."""
    exporter = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    mp = MeterProvider(metric_readers=[reader])
    trace.set_tracer_provider(tp)
    metrics.set_meter_provider(mp)
    _telemetry.refresh()
    yield Telemetry(exporter, reader)
    tp.shutdown()
    mp.shutdown()
    # reset_otel_globals restores pristine globals (and refreshes the face) on teardown.


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
