"""In-memory OTel SDK providers for the error-tracking tests, and global-state resets."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from opentelemetry import _logs, metrics, trace
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from hyperion_otel import errors
from hyperion_otel._seams import telemetry as _telemetry
from hyperion_otel.errors import _record as _error_recording


@dataclass
class Capture:
    spans_exporter: InMemorySpanExporter
    logs_exporter: InMemoryLogRecordExporter
    reader: InMemoryMetricReader
    tracer_provider: TracerProvider

    def spans(self) -> list[ReadableSpan]:
        return list(self.spans_exporter.get_finished_spans())

    def span(self, name: str) -> ReadableSpan:
        found = [s for s in self.spans() if s.name == name]
        assert len(found) == 1, [s.name for s in self.spans()]
        return found[0]

    def logs(self) -> list[ReadableLogRecord]:
        return list(self.logs_exporter.get_finished_logs())

    def points(self, metric: str) -> list[Any]:
        data = self.reader.get_metrics_data()
        out: list[Any] = []
        if data is None:
            return out
        for rm in data.resource_metrics:
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    if m.name == metric:
                        out.extend(m.data.data_points)
        return out

    def count(self, metric: str, **attrs: str) -> int:
        return sum(
            int(p.value)
            for p in self.points(metric)
            if all(p.attributes.get(k) == v for k, v in attrs.items())
        )


@pytest.fixture
def capture(
    monkeypatch: pytest.MonkeyPatch, reset_otel_globals: Callable[[], None]
) -> Iterator[Capture]:
    """In-memory SDK providers installed as the OTel globals; pristine globals afterwards
    (``reset_otel_globals`` from the suite conftest resets the set-once flags, the globals
    and the API proxies, then calls ``_telemetry.refresh()``)."""
    monkeypatch.delenv("OTEL_SEMCONV_EXCEPTION_SIGNAL_OPT_IN", raising=False)
    spans = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(spans))
    reader = InMemoryMetricReader()
    mp = MeterProvider(metric_readers=[reader])
    logs = InMemoryLogRecordExporter()
    lp = LoggerProvider()
    lp.add_log_record_processor(SimpleLogRecordProcessor(logs))
    trace.set_tracer_provider(tp)
    metrics.set_meter_provider(mp)
    _logs.set_logger_provider(lp)
    _telemetry.refresh()
    try:
        yield Capture(spans, logs, reader, tp)
    finally:
        reset_otel_globals()
        tp.shutdown()
        mp.shutdown()
        lp.shutdown()


@pytest.fixture(autouse=True)
def _clean_error_state() -> Iterator[None]:
    """Every test starts and ends with no last error, no callbacks, no pinned signal."""
    errors.clear_last_error()
    before = len(errors._callbacks.registry)
    yield
    errors.clear_last_error()
    _error_recording.set_exception_signal(None)
    assert len(errors._callbacks.registry) == before, "a test left an error callback registered"
