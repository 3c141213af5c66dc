"""TestContext: isolated in-memory OTel providers for one test, restored afterwards."""

from __future__ import annotations

import math
import threading
import time
import traceback
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Literal, get_args

from opentelemetry import _logs, metrics, trace
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import (
    InMemoryLogRecordExporter,
    LogRecordExportResult,
    SimpleLogRecordProcessor,
)
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from hyperion_otel import semconv
from hyperion_otel._seams import otel_private, telemetry as _telemetry
from hyperion_otel.errors import public
from hyperion_otel.errors._boundary import call_user
from hyperion_otel.errors._record import qualified_name
from hyperion_otel.testing._checks import bad, check_choice, check_name

__all__ = ["ExporterFault", "TestContext", "TestResult", "create_test_context"]

ExporterFault = Literal["failure", "timeout", "raise"]
_EXPORTER_FAULTS: tuple[str, ...] = get_args(ExporterFault)
_RESOURCE_VALUES = (str, bool, int, float)


@public
@dataclass(frozen=True)
class TestResult:
    """Outcome of one test registered with ``add_test``."""

    __test__ = False  # not a pytest test class

    name: str
    passed: bool
    duration_s: float
    error: BaseException | None = None
    traceback: str = ""


class _FaultySpanExporter(InMemorySpanExporter):
    def __init__(self, ctx: TestContext) -> None:
        super().__init__()
        self._ctx = ctx

    def export(self, spans: Any) -> SpanExportResult:
        fault = self._ctx.exporter_fault
        if fault is None:
            return super().export(spans)
        self._ctx._note_fault("traces", len(spans))
        if fault == "timeout":
            time.sleep(self._ctx.fault_timeout_s)
        elif fault == "raise":
            raise ConnectionError("injected exporter fault")
        return SpanExportResult.FAILURE


class _FaultyLogExporter(InMemoryLogRecordExporter):
    def __init__(self, ctx: TestContext) -> None:
        super().__init__()  # type: ignore[no-untyped-call]
        self._ctx = ctx

    def export(self, batch: Any) -> LogRecordExportResult:
        fault = self._ctx.exporter_fault
        if fault is None:
            return super().export(batch)
        self._ctx._note_fault("logs", len(batch))
        if fault == "timeout":
            time.sleep(self._ctx.fault_timeout_s)
        elif fault == "raise":
            raise ConnectionError("injected exporter fault")
        return LogRecordExportResult.FAILURE


@public
class TestContext:
    """Captures every span, metric and log record emitted while it is active.

    Use as a context manager (``with create_test_context() as ctx:``): on entry it installs
    fresh SDK providers with in-memory exporters as the OTel globals; on exit it shuts them
    down and puts back the providers that were there before, exactly. Spans and logs are
    exported synchronously, so they are visible as soon as the span ends or the record is
    emitted.
    """

    __test__ = False

    def __init__(self, resource: Mapping[str, Any] | None = None) -> None:
        if resource is not None:
            if not isinstance(resource, Mapping):
                raise bad("resource", "a mapping of resource attributes or None", resource)
            for key, value in resource.items():
                if not isinstance(key, str) or not isinstance(value, _RESOURCE_VALUES):
                    raise bad(
                        f"resource[{key!r}]", "a str key with a str, bool, int or float", value
                    )
        self.resource = Resource.create({"service.name": "hyperion-otel-test", **(resource or {})})
        self._span_exporter = _FaultySpanExporter(self)
        self._log_exporter = _FaultyLogExporter(self)
        self._reader = InMemoryMetricReader()
        self.tracer_provider = TracerProvider(resource=self.resource, shutdown_on_exit=False)
        self.tracer_provider.add_span_processor(SimpleSpanProcessor(self._span_exporter))
        self.meter_provider = MeterProvider(
            resource=self.resource, metric_readers=[self._reader], shutdown_on_exit=False
        )
        self.logger_provider = LoggerProvider(resource=self.resource, shutdown_on_exit=False)
        self.logger_provider.add_log_record_processor(SimpleLogRecordProcessor(self._log_exporter))
        self.exporter_fault: ExporterFault | None = None
        self.fault_timeout_s = 0.5
        self.faulted: dict[str, int] = {"traces": 0, "logs": 0}
        self._tests: list[tuple[str, Callable[[], Any]]] = []
        self._snapshot: otel_private.GlobalsSnapshot | None = None
        self._lock = threading.Lock()

    # --- lifecycle ------------------------------------------------------------------------------
    def __enter__(self) -> TestContext:
        self._snapshot = otel_private.snapshot()
        otel_private.clear()
        trace.set_tracer_provider(self.tracer_provider)
        metrics.set_meter_provider(self.meter_provider)
        _logs.set_logger_provider(self.logger_provider)
        _telemetry.refresh()
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Shut the providers down and restore the previous globals (idempotent)."""
        if self._snapshot is None:
            return
        self.tracer_provider.shutdown()
        self.meter_provider.shutdown()
        self.logger_provider.shutdown()
        self._snapshot.restore()
        self._snapshot = None
        _telemetry.refresh()

    # --- captured telemetry -----------------------------------------------------------------------
    @property
    def spans(self) -> list[ReadableSpan]:
        """Finished spans, in the order they ended."""
        return list(self._span_exporter.get_finished_spans())

    @property
    def logs(self) -> list[ReadableLogRecord]:
        """Emitted log records, in order."""
        return list(self._log_exporter.get_finished_logs())

    @property
    def metrics(self) -> dict[str, list[Any]]:
        """Metric name -> current data points (cumulative), collected on each access."""
        data = self._reader.get_metrics_data()
        out: dict[str, list[Any]] = {}
        if data is None:
            return out
        for rm in data.resource_metrics:
            for sm in rm.scope_metrics:
                for m in sm.metrics:
                    out.setdefault(m.name, []).extend(m.data.data_points)
        return out

    def clear(self) -> None:
        """Forget spans and logs captured so far (metrics are cumulative and stay)."""
        self._span_exporter.clear()
        self._log_exporter.clear()

    # --- queries ---------------------------------------------------------------------------------
    def spans_named(self, name: str) -> list[ReadableSpan]:
        check_name(name, "name")
        return [s for s in self.spans if s.name == name]

    def span(self, name: str) -> ReadableSpan:
        """The one finished span called ``name``; AssertionError naming what exists otherwise."""
        check_name(name, "name")
        found = self.spans_named(name)
        if len(found) != 1:
            raise AssertionError(
                f"expected one span {name!r}, found {len(found)} among {[s.name for s in self.spans]}"
            )
        return found[0]

    def children_of(self, parent: ReadableSpan) -> list[ReadableSpan]:
        if not isinstance(parent, ReadableSpan):
            raise bad("parent", "a finished span (ReadableSpan)", parent)
        pid = parent.context.span_id if parent.context else None
        return [s for s in self.spans if s.parent is not None and s.parent.span_id == pid]

    def logs_where(self, **attributes: Any) -> list[ReadableLogRecord]:
        """Log records whose attributes include all of ``attributes`` (dots as ``__``)."""
        wanted = {k.replace("__", "."): v for k, v in attributes.items()}
        return [
            r
            for r in self.logs
            if all((r.log_record.attributes or {}).get(k) == v for k, v in wanted.items())
        ]

    def metric_points(self, name: str, **attributes: Any) -> list[Any]:
        """Data points of metric ``name`` whose attributes include ``attributes``."""
        check_name(name, "name")
        wanted = {k.replace("__", "."): v for k, v in attributes.items()}
        return [
            p
            for p in self.metrics.get(name, [])
            if all(p.attributes.get(k) == v for k, v in wanted.items())
        ]

    def metric_total(self, name: str, **attributes: Any) -> float:
        """Sum of counter values, or of histogram counts, of matching points."""
        total = 0.0
        for p in self.metric_points(name, **attributes):
            total += p.value if hasattr(p, "value") else p.count
        return total

    # --- fault injection -------------------------------------------------------------------------
    def inject_exporter_fault(self, fault: ExporterFault | None, timeout_s: float = 0.5) -> None:
        """Make span and log export fail (``failure``), hang (``timeout``) or raise; None heals."""
        check_choice(fault, "fault", _EXPORTER_FAULTS, optional=True)
        if (
            not isinstance(timeout_s, (int, float))
            or isinstance(timeout_s, bool)
            or not math.isfinite(timeout_s)
            or timeout_s < 0
        ):
            raise bad("timeout_s", "a finite number of seconds >= 0", timeout_s)
        self.exporter_fault = fault
        self.fault_timeout_s = timeout_s

    def _note_fault(self, signal: str, n: int) -> None:
        with self._lock:
            self.faulted[signal] += n

    # --- the guide's test runner ----------------------------------------------------------------
    def add_test(self, name: str, fn: Callable[[], Any]) -> None:
        """Register ``fn`` to be run by ``run()`` under this context."""
        check_name(name, "name")
        if not callable(fn):  # type: ignore[redundant-expr,unused-ignore]
            raise bad("fn", f"a callable to run as test {name!r}", fn)  # type: ignore[unreachable,unused-ignore]
        self._tests.append((name, fn))

    def run(self) -> list[TestResult]:
        """Run registered tests in order, each inside a span named ``test <name>``.

        A test's own calls of hyperion-otel record their errors as if called from the top
        level; a test that raises is a failed ``TestResult``, not an error of ``run``.
        """
        results = []
        entered = self._snapshot is None
        if entered:
            self.__enter__()
        try:
            tracer = self.tracer_provider.get_tracer("hyperion_otel.testing")
            for name, fn in self._tests:
                start = time.perf_counter()
                with tracer.start_as_current_span(f"test {name}") as span:
                    try:
                        call_user(fn)
                    except Exception as exc:  # noqa: BLE001 - a failing test is a result, not a crash
                        # The exception event without the deprecated ``exception.escaped``
                        # that ``span.record_exception`` adds.
                        span.add_event(
                            semconv.EVENT_EXCEPTION,
                            {
                                semconv.EXCEPTION_TYPE: qualified_name(type(exc)),
                                semconv.EXCEPTION_MESSAGE: str(exc),
                                semconv.EXCEPTION_STACKTRACE: traceback.format_exc(),
                            },
                        )
                        results.append(
                            TestResult(
                                name,
                                False,
                                time.perf_counter() - start,
                                exc,
                                traceback.format_exc(),
                            )
                        )
                        continue
                results.append(TestResult(name, True, time.perf_counter() - start))
        finally:
            if entered:
                self.close()
        return results


@public
def create_test_context(resource: Mapping[str, Any] | None = None) -> TestContext:
    """A new ``TestContext``; enter it (``with``) to start capturing."""
    return TestContext(resource)
