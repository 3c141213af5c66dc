"""Fixtures of the memory-debugger tests: each test leaves the allocator seam, the current
pool, the optimizer, leak checkpoints, tracemalloc and faulthandler as it found them."""

from __future__ import annotations

import faulthandler
import tracemalloc
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan

from hyperion_otel._seams import allocator as _allocator, span_hooks as _span_hooks
from hyperion_otel.memory import clear_leak_checkpoint, current_pool, shutdown_memory
from hyperion_otel.memory.optimizer import reset_memory_optimizer
from hyperion_otel.testing import TestContext, create_test_context


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
    assert _span_hooks._hooks == (), "the memory span hook was left registered"
    assert _allocator.get_allocator() is allocator, "a pool was left installed"
    assert tracemalloc.is_tracing() == tracing, "tracemalloc was left in another state"
    assert faulthandler.is_enabled() == fault, "faulthandler was left in another state"


class Telemetry:
    """The memory tests' view of a ``hyperion_otel.testing`` test context."""

    def __init__(self, ctx: TestContext) -> None:
        self.ctx = ctx
        self.tracer = ctx.tracer_provider.get_tracer("test")

    def spans(self) -> list[ReadableSpan]:
        return self.ctx.spans

    def metrics(self) -> dict[str, list[Any]]:
        return self.ctx.metrics


@pytest.fixture
def telemetry() -> Iterator[Telemetry]:
    """In-memory SDK providers installed for one test, the previous ones restored after."""
    with create_test_context() as ctx:
        yield Telemetry(ctx)
