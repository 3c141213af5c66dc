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

from hyperion_otel import semconv
from hyperion_otel.memory.current import current_pool
from hyperion_otel.memory.pool import MemoryPool

__all__ = ["SpanMemory", "span_memory", "start_span_memory"]


class SpanMemory:
    """One measurement; ``allocated_bytes``/``peak_bytes`` are filled in by ``end``."""

    __slots__ = ("_pool", "_window", "allocated_bytes", "measured", "peak_bytes")

    def __init__(self, pool: MemoryPool | None) -> None:
        self._pool = pool
        self._window = pool.open_window() if pool is not None else None
        self.allocated_bytes = 0
        self.peak_bytes = 0
        self.measured = False

    def end(self, span: trace.Span | None = None) -> SpanMemory:
        """Stop measuring and set the two attributes on ``span`` (if given and recording).

        Idempotent: only the first call measures and sets attributes.
        """
        pool, window = self._pool, self._window
        if pool is None or window is None:
            return self
        self._window = None
        self.allocated_bytes, self.peak_bytes = pool.close_window(window)
        self.measured = True
        if span is not None:
            try:
                if span.is_recording():
                    span.set_attributes(
                        {
                            semconv.HYPERION_MEMORY_ALLOCATED_BYTES: self.allocated_bytes,
                            semconv.HYPERION_MEMORY_PEAK_BYTES: self.peak_bytes,
                        }
                    )
            except Exception:  # noqa: BLE001, S110 - telemetry never crashes the host
                pass
        return self

    def __repr__(self) -> str:
        return f"SpanMemory(allocated_bytes={self.allocated_bytes}, peak_bytes={self.peak_bytes})"


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
