"""Memory attribution to spans: bytes allocated and peak usage while a span is open.

The runtime wraps its generate / prefill / decode spans::

    with tracer.start_as_current_span("...") as span, span_memory(span):
        ...

At exit the span gets ``hyperion.memory.allocated_bytes`` (bytes allocated from the pool
during the block) and ``hyperion.memory.peak_bytes`` (the highest pool bytes in use at any
moment of the block, including what was live at entry). Both are pool-wide: allocations
made by other threads during the block count too. Costs two short lock holds; nothing is
added to the allocation hot path beyond one comparison. Without a current pool, or with a
span that is not recording, nothing is set.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from opentelemetry import trace

from hyperion_otel import semconv
from hyperion_otel.memory.current import current_pool

__all__ = ["SpanMemory", "span_memory"]


@dataclass
class SpanMemory:
    """What ``span_memory`` measured; filled in when the block exits."""

    allocated_bytes: int = 0
    peak_bytes: int = 0
    measured: bool = False


@contextmanager
def span_memory(span: trace.Span | None = None) -> Iterator[SpanMemory]:
    """Measure pool memory during the block and set it on ``span`` (default: the current span)."""
    target = span if span is not None else trace.get_current_span()
    result = SpanMemory()
    pool = current_pool()
    window = pool.open_window() if pool is not None else None
    try:
        yield result
    finally:
        if pool is not None and window is not None:
            result.allocated_bytes, result.peak_bytes = pool.close_window(window)
            result.measured = True
            try:
                if target.is_recording():
                    target.set_attributes({
                        semconv.HYPERION_MEMORY_ALLOCATED_BYTES: result.allocated_bytes,
                        semconv.HYPERION_MEMORY_PEAK_BYTES: result.peak_bytes,
                    })
            except Exception:  # noqa: BLE001, S110 - telemetry never crashes the host
                pass
