"""Memory attribution to spans: bytes allocated and peak usage while a span is open.

Two forms, for the two ways spans are handled::

    with tracer.start_as_current_span("...") as span, span_memory(span):
        ...

    meter = start_span_memory()        # when the span is started here ...
    ...
    meter.end(span)                    # ... and ended somewhere else

At the end the span gets ``hyperion.memory.allocated_bytes`` (bytes requested from the pool
during the measurement) and ``hyperion.memory.peak_bytes`` (the highest bytes of live pool
allocations at any moment of it, including what was live at the start). Both are pool-wide:
allocations by other threads in the meantime count too. Costs two short lock holds; the
allocation hot path only does one comparison for it. Without a current pool, or with a span
that is not recording, nothing is set. A pool keeps at most ``MAX_OPEN_WINDOWS`` measurements
open (the oldest is dropped beyond that, so an abandoned one cannot grow memory).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import trace

from hyperion_otel.memory._span_meter import SpanMemory
from hyperion_otel.memory.current import current_pool

__all__ = ["SpanMemory", "span_memory", "start_span_memory"]


def start_span_memory() -> SpanMemory:
    """Start measuring the current pool; call ``.end(span)`` when the span ends."""
    return SpanMemory(current_pool())


@contextmanager
def span_memory(span: trace.Span | None = None) -> Iterator[SpanMemory]:
    """Measure pool memory during the block and set it on ``span`` (default: the current span)."""
    target = span if span is not None else trace.get_current_span()
    meter = start_span_memory()
    try:
        yield meter
    finally:
        meter.end(target)
