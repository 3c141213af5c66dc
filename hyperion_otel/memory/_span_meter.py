"""One measurement of pool memory for a span (see ``spans`` for the two ways to use it)."""

from __future__ import annotations

from opentelemetry import trace

from hyperion_otel import semconv
from hyperion_otel.memory.pool import MemoryPool

__all__ = ["SpanMemory"]


class SpanMemory:
    """One measurement; ``allocated_bytes``/``peak_bytes`` are filled in by ``end``."""

    __slots__ = ("_pool", "_span", "_window", "allocated_bytes", "measured", "peak_bytes")

    def __init__(self, pool: MemoryPool | None, span: trace.Span | None = None) -> None:
        self._pool = pool
        self._span = span  # where ``with`` puts the figures on exit
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

    def __enter__(self) -> SpanMemory:
        return self

    def __exit__(self, *exc: object) -> None:
        self.end(self._span)

    def __repr__(self) -> str:
        return f"SpanMemory(allocated_bytes={self.allocated_bytes}, peak_bytes={self.peak_bytes})"
