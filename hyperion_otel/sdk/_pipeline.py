"""Export pipelines that never hurt the host: exporters built from settings, wrapped so
that every item is accounted for (delivered, refused, failed, dropped or unconfirmed: see
``OUTCOMES``), losses are counted (``hyperion.telemetry.dropped`` by outcome) and warned
about at most once a minute.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.sdk._logs import ReadableLogRecord, ReadWriteLogRecord
from opentelemetry.sdk._logs.export import (
    BatchLogRecordProcessor,
    ConsoleLogRecordExporter,
    LogRecordExporter,
    LogRecordExportResult,
)
from opentelemetry.sdk.metrics.export import (
    ConsoleMetricExporter,
    MetricExporter,
    MetricExportResult,
    MetricsData,
)
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    ConsoleSpanExporter,
    SpanExporter,
    SpanExportResult,
)

from hyperion_otel import semconv
from hyperion_otel._seams import otel_private, telemetry as _telemetry
from hyperion_otel.sdk._otlp_json import (
    FILE_NAMES,
    OTLPJsonLogExporter,
    OTLPJsonMetricExporter,
    OTLPJsonSpanExporter,
)
from hyperion_otel.settings import Settings

_log = logging.getLogger("hyperion")
_WARN_EVERY_S = 60.0


OUTCOMES = ("delivered", "refused", "failed", "dropped", "unconfirmed")
"""What became of an item handed to a pipeline:

- ``delivered``: the backend acknowledged it;
- ``refused``: the backend answered no (an HTTP error status; a gRPC status other than
  UNAVAILABLE, DEADLINE_EXCEEDED, CANCELLED or UNKNOWN, which gRPC also raises itself
  when no answer came);
- ``failed``: no answer: connection error, timeout, exporter error;
- ``dropped``: never sent: the batch queue was full, or the item was still queued when the
  shutdown budget ran out;
- ``unconfirmed``: a request carrying it was in flight when shutdown aborted the export:
  the backend may well have stored it.
"""
NOT_DELIVERED = OUTCOMES[1:4]

# gRPC raises these on the client side too (no connection, deadline, channel closed).
_GRPC_NO_ANSWER = frozenset({"UNAVAILABLE", "DEADLINE_EXCEEDED", "CANCELLED", "UNKNOWN"})


@dataclass
class ExportStats:
    """Accounting of one exporter. Units: spans, metric data points or log records."""

    signal: str
    exporter: str
    component: str = ""  # ``otel.component.type`` of the exporter
    accepted: int = 0  # handed to the pipeline (spans/logs: at the processor; metrics: at export)
    delivered: int = 0
    refused: int = 0
    failed: int = 0
    dropped: int = 0
    unconfirmed: int = 0
    in_flight: int = 0
    last_error: str | None = None
    quiet: bool = False  # set during shutdown, which reports losses once, in total
    settled: bool = False  # after shutdown: late results of abandoned exports are ignored
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _last_warning: float = field(default=-1e9, repr=False)

    @property
    def lost(self) -> int:
        """Items certainly not delivered (refused, failed, dropped)."""
        return self.refused + self.failed + self.dropped

    def outcomes(self) -> dict[str, int]:
        with self._lock:
            return {o: getattr(self, o) for o in OUTCOMES}

    def add_accepted(self, n: int) -> None:
        with self._lock:
            self.accepted += n

    def begin(self, n: int) -> None:
        with self._lock:
            self.in_flight += n

    def end(self, n: int, outcome: str, error: str | None = None) -> None:
        """An export call of ``n`` items returned with ``outcome``."""
        with self._lock:
            if self.settled:
                return
            self.in_flight -= n
            if outcome == "delivered":
                self.delivered += n
                return
        self.lose(n, outcome, error)

    def lose(self, n: int, outcome: str, error: str | None = None) -> None:
        """Count ``n`` items not delivered, with their ``outcome``."""
        with self._lock:
            if self.settled:
                return
            setattr(self, outcome, getattr(self, outcome) + n)
            if error is not None:
                self.last_error = error
            warn = not self.quiet and time.monotonic() - self._last_warning >= _WARN_EVERY_S
            if warn:
                self._last_warning = time.monotonic()
        self._count(n, outcome)
        if warn:
            _log.warning(
                "hyperion-otel: %s exporter %r failed to export %d %s (%s: %s); "
                "further losses are counted in %s and warned about at most once a minute",
                self.signal,
                self.exporter,
                n,
                _UNITS[self.signal],
                outcome,
                error or "export returned failure",
                semconv.METRIC_TELEMETRY_DROPPED,
            )

    def settle(self, sending: bool) -> None:
        """At the end of shutdown: items of an export still running are ``unconfirmed`` if
        a request was on the wire (``sending``), else ``failed``; items never handed to the
        exporter are ``dropped``. Counted once; whatever an abandoned export thread reports
        afterwards is ignored."""
        with self._lock:
            if self.settled:
                return
            self.settled = True
            running = max(0, self.in_flight)
            queued = max(0, self.accepted - self.delivered - self.lost - self.unconfirmed - running)
            late = "unconfirmed" if sending else "failed"
            setattr(self, late, getattr(self, late) + running)
            self.dropped += queued
            self.in_flight = 0
        if running:
            self._count(running, late)
        if queued:
            self._count(queued, "dropped")

    def _count(self, n: int, outcome: str) -> None:
        attrs = {semconv.OTEL_COMPONENT_TYPE: self.component} if self.component else {}
        _telemetry.count_dropped(n, self.signal, outcome, **attrs)


_UNITS = {"traces": "spans", "metrics": "metric points", "logs": "log records"}


def _count_points(data: MetricsData) -> int:
    return sum(
        len(m.data.data_points)
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
    )


class _Attempts:
    """What the requests of one export call did, seen at the transport: whether one is on
    the wire now, and whether the last one got an answer. Exports of one exporter are
    serialised by its processor or reader, so one record per exporter is enough."""

    def __init__(self) -> None:
        self.sending = 0
        self.sent = 0  # requests this export call put on the wire
        self.answered = False  # the last request got a status back from the backend
        self.cut = False  # a request was on the wire when shutdown aborted the exporter

    def reset(self) -> None:
        self.answered = self.cut = False
        self.sent = 0

    def http_request(self, request: Any) -> Any:
        def watched(*args: Any, **kwargs: Any) -> Any:
            self.sending += 1
            self.sent += 1
            try:
                result = request(*args, **kwargs)
            finally:
                self.sending -= 1
            self.answered = getattr(result, "status_code", None) is not None
            return result

        return watched

    def grpc_call(self, call: Any) -> Any:
        def watched(*args: Any, **kwargs: Any) -> Any:
            self.sending += 1
            self.sent += 1
            try:
                return call(*args, **kwargs)
            except Exception as exc:
                code = getattr(exc, "code", None)
                name = getattr(code() if callable(code) else None, "name", None)
                self.answered = name is not None and name not in _GRPC_NO_ANSWER
                raise
            finally:
                self.sending -= 1

        return watched


_OTLP_COMPONENTS = {"traces": "span", "metrics": "metric", "logs": "log"}


def component_type(inner: Any, signal: str) -> str:
    """``otel.component.type`` of exporter ``inner``: the semconv value for OTLP exporters,
    else the class name, as the convention asks for types it does not list."""
    module = type(inner).__module__
    kind = _OTLP_COMPONENTS[signal]
    if module.startswith("opentelemetry.exporter.otlp.proto.grpc"):
        return f"otlp_grpc_{kind}_exporter"
    if module.startswith("opentelemetry.exporter.otlp.proto.http"):
        return f"otlp_http_{kind}_exporter"
    return type(inner).__qualname__


class _Guard:
    """Common part of the guarded exporters: never raise, account for every item."""

    stats: ExportStats
    inner: Any
    attempts: _Attempts
    interrupted = False
    watched = False  # its requests are seen at the transport (OTLP exporters)

    def _setup(self, inner: Any, stats: ExportStats) -> None:
        self.inner, self.stats = inner, stats
        stats.component = component_type(inner, stats.signal)
        self.attempts = _Attempts()
        self.watched = otel_private.watch_exporter_requests(
            inner, self.attempts.http_request, self.attempts.grpc_call
        )

    def _guarded(self, n: int, call: Any, success: Any) -> bool:
        if self.interrupted:
            self.stats.lose(n, "dropped", "shutdown budget ran out before this batch was sent")
            return False
        self.attempts.reset()
        self.stats.begin(n)
        try:
            result = call()
        except Exception as exc:  # noqa: BLE001 - an exporter bug must not kill the export thread
            self.stats.end(n, self._failure(), f"{type(exc).__name__}: {exc}")
            return False
        ok = bool(result == success)
        self.stats.end(n, "delivered" if ok else self._failure())
        return ok

    def _failure(self) -> str:
        if self.attempts.cut:
            return "unconfirmed"
        if self.attempts.answered:
            return "refused"
        # Shut down before this export put a request on the wire: never sent.
        never_sent = self.watched and self.interrupted and not self.attempts.sent
        return "dropped" if never_sent else "failed"

    @property
    def sending(self) -> bool:
        return self.attempts.sending > 0 or self.attempts.cut

    def interrupt(self) -> None:
        """Abort retries and in-flight requests; later batches fail at once (idempotent)."""
        if self.interrupted:
            return
        self.interrupted = True
        self.attempts.cut = self.attempts.sending > 0
        with contextlib.suppress(Exception):  # best effort at the end of shutdown
            self.inner.shutdown()


class GuardedSpanExporter(_Guard, SpanExporter):
    def __init__(self, inner: SpanExporter, stats: ExportStats) -> None:
        self._setup(inner, stats)

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        ok = self._guarded(len(spans), lambda: self.inner.export(spans), SpanExportResult.SUCCESS)
        return SpanExportResult.SUCCESS if ok else SpanExportResult.FAILURE

    def shutdown(self) -> None:
        self.interrupt()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class GuardedLogExporter(_Guard, LogRecordExporter):
    def __init__(self, inner: LogRecordExporter, stats: ExportStats) -> None:
        self._setup(inner, stats)

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        ok = self._guarded(
            len(batch), lambda: self.inner.export(batch), LogRecordExportResult.SUCCESS
        )
        return LogRecordExportResult.SUCCESS if ok else LogRecordExportResult.FAILURE

    def shutdown(self) -> None:
        self.interrupt()

    def force_flush(self, timeout_millis: int = 30000) -> bool:
        return True


class GuardedMetricExporter(_Guard, MetricExporter):
    def __init__(self, inner: MetricExporter, stats: ExportStats) -> None:
        self._setup(inner, stats)
        # The reader asks the exporter for these; forward the inner exporter's choice.
        self._preferred_temporality = inner._preferred_temporality
        self._preferred_aggregation = inner._preferred_aggregation

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        n = _count_points(metrics_data)
        self.stats.add_accepted(n)
        ok = self._guarded(
            n,
            lambda: self.inner.export(metrics_data, timeout_millis=timeout_millis),
            MetricExportResult.SUCCESS,
        )
        return MetricExportResult.SUCCESS if ok else MetricExportResult.FAILURE

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self.interrupt()

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        return True


class _DropCounter:
    """Stands in for a batch processor's self-metrics: items it drops (queue full, emitted
    after shutdown) never reach the exporter, so they are counted here, then forwarded."""

    def __init__(self, inner: Any, stats: ExportStats) -> None:
        self._inner, self._stats = inner, stats

    def drop_items(self, count: int, error_type: str = "queue_full") -> None:
        self._stats.lose(count, "dropped", f"batch processor dropped items: {error_type}")
        self._inner.drop_items(count, error_type)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def _count_queue_drops(processor: Any, stats: ExportStats) -> None:
    # SDK internals (see otel_private): without them queue drops are only in the shutdown
    # report, not in the metric.
    otel_private.wrap_batch_metrics(processor, lambda inner: _DropCounter(inner, stats))


class CountingSpanProcessor(BatchSpanProcessor):
    """BatchSpanProcessor that counts the spans it accepts, so queue drops are not silent."""

    def __init__(self, exporter: GuardedSpanExporter) -> None:
        super().__init__(exporter)
        self.guarded = exporter
        _count_queue_drops(self, exporter.stats)

    def on_end(self, span: ReadableSpan) -> None:
        if span.context is not None and span.context.trace_flags.sampled:
            self.guarded.stats.add_accepted(1)
        super().on_end(span)


class CountingLogProcessor(BatchLogRecordProcessor):
    def __init__(self, exporter: GuardedLogExporter) -> None:
        super().__init__(exporter)
        self.guarded = exporter
        _count_queue_drops(self, exporter.stats)

    def on_emit(self, log_record: ReadWriteLogRecord) -> None:
        self.guarded.stats.add_accepted(1)
        super().on_emit(log_record)


# --- exporters from settings ------------------------------------------------------------------
def _otlp_kwargs(settings: Settings, signal: str) -> dict[str, Any]:
    kwargs: dict[str, Any] = {
        "endpoint": settings.endpoint_for(signal),
        "headers": settings.headers_for(signal) or None,
        "timeout": settings.otlp_timeout_s,
    }
    return kwargs


def _grpc_compression(name: str) -> Any:
    from grpc import Compression

    return {"gzip": Compression.Gzip, "deflate": Compression.Deflate}.get(
        name, Compression.NoCompression
    )


def _http_compression(name: str) -> Any:
    from opentelemetry.exporter.otlp.proto.http import Compression

    return {"gzip": Compression.Gzip, "deflate": Compression.Deflate}.get(
        name, Compression.NoCompression
    )


def build_exporter(settings: Settings, signal: str, name: str) -> Any:
    """The raw exporter ``name`` (otlp, console, otlp_file) for ``signal``."""
    if name == "otlp_file":
        max_bytes = int(settings.telemetry_file_max_mb * 1024 * 1024)
        path = f"{settings.output_dir}/{FILE_NAMES[signal]}"
        cls = {
            "traces": OTLPJsonSpanExporter,
            "metrics": OTLPJsonMetricExporter,
            "logs": OTLPJsonLogExporter,
        }
        return cls[signal](path, max_bytes)
    if name == "console":
        return {
            "traces": ConsoleSpanExporter,
            "metrics": ConsoleMetricExporter,
            "logs": ConsoleLogRecordExporter,
        }[signal]()
    kwargs = _otlp_kwargs(settings, signal)
    if settings.protocol_for(signal) == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GLog
        from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
            OTLPMetricExporter as GMetric,
        )
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GSpan

        insecure = settings.otlp_insecure
        if insecure is None:
            insecure = kwargs["endpoint"].startswith("http://")
        grpc_cls = {"traces": GSpan, "metrics": GMetric, "logs": GLog}[signal]
        return grpc_cls(
            insecure=insecure, compression=_grpc_compression(settings.otlp_compression), **kwargs
        )
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HLog
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter as HMetric
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HSpan

    http_cls = {"traces": HSpan, "metrics": HMetric, "logs": HLog}[signal]
    return http_cls(compression=_http_compression(settings.otlp_compression), **kwargs)
