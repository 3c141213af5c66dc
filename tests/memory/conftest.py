"""Fixtures of the memory-debugger tests: each test leaves the allocator seam, the current
pool, the optimizer, leak checkpoints, tracemalloc and faulthandler as it found them."""

from __future__ import annotations

import faulthandler
import tracemalloc
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry import metrics, trace
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from hyperion_otel import _allocator, _telemetry
from hyperion_otel.memory import clear_leak_checkpoint, current_pool, shutdown_memory
from hyperion_otel.memory.optimizer import reset_memory_optimizer


@pytest.fixture(autouse=True)
def _memory_left_as_found() -> Iterator[None]:
    allocator = _allocator.get_allocator()
    tracing = tracemalloc.is_tracing()
    fault = faulthandler.is_enabled()
    yield
    shutdown_memory()
    clear_leak_checkpoint()
    reset_memory_optimizer()
    assert current_pool() is None
    assert _allocator.get_allocator() is allocator, "a pool was left installed"
    assert tracemalloc.is_tracing() == tracing, "tracemalloc was left in another state"
    assert faulthandler.is_enabled() == fault, "faulthandler was left in another state"


@dataclass
class Telemetry:
    exporter: InMemorySpanExporter
    reader: InMemoryMetricReader
    tracer: trace.Tracer

    def spans(self) -> list[ReadableSpan]:
        return list(self.exporter.get_finished_spans())

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
    """SDK tracer and meter providers with in-memory export, installed globally for one test."""
    exporter = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(exporter))
    reader = InMemoryMetricReader()
    mp = MeterProvider(metric_readers=[reader])
    trace.set_tracer_provider(tp)
    metrics.set_meter_provider(mp)
    _telemetry.refresh()
    yield Telemetry(exporter, reader, tp.get_tracer("test"))
    tp.shutdown()
    mp.shutdown()
