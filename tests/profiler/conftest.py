"""Fixtures for the profiler tests: process state checks and in-memory span capture."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable, Iterator

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from hyperion_otel import profiler as prof
from hyperion_otel._seams import (
    allocator as _allocator,
    ops as _ops,
    span_hooks as _span_hooks,
    telemetry as _telemetry,
)
from hyperion_otel.profiler import api
from profiler.workload import StandInModel


def process_state() -> tuple[object, ...]:
    """Everything a profiling session may touch, as comparable values."""
    return (
        sys.getprofile(),
        threading.getprofile(),
        threading.active_count(),
        sys.getswitchinterval(),
        _allocator.get_allocator(),
        _ops.has_listeners(),
        prof.current_profile_id(),
        prof.is_profiling(),
    )


@pytest.fixture(autouse=True)
def clean_profiler() -> Iterator[None]:
    """Each test starts with no session and a default config, and must not leak one."""
    api.init_profiler(None)
    api._state.last = None
    yield
    leaked = prof.is_profiling()
    if leaked:
        prof.stop_profiling()
    api.init_profiler(None)
    assert not leaked, "test left a profiling session running"
    assert _span_hooks._hooks == (), "a span hook was left registered"


@pytest.fixture
def spans(reset_otel_globals: Callable[[], None]) -> Iterator[InMemorySpanExporter]:
    """An SDK tracer provider exporting to memory, installed globally for one test."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    _telemetry.refresh()
    yield exporter
    provider.shutdown()


@pytest.fixture(scope="session")
def standin() -> StandInModel:
    """GPT-2-shaped (d_model 768) two-layer stand-in decoder, built once."""
    model = StandInModel(d_model=768, n_layer=2, vocab=4096)
    model.generate("warm", None)
    return model


@pytest.fixture(scope="session")
def small_standin() -> StandInModel:
    return StandInModel(d_model=128, n_layer=2, vocab=512)
