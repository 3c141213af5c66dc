"""``configure()`` and ``shutdown()``: the only code that builds OTel SDK pipelines.

``configure()`` creates a TracerProvider, MeterProvider and LoggerProvider with a
resource, batch processors and the exporters chosen by the settings, installs them as
the global providers, and applies the settings to every facility. It is idempotent, and
it respects providers the application installed first: span and log processors are
added to an SDK provider that is already set, and an SDK MeterProvider already set is
used as it is (the SDK cannot add readers to a running MeterProvider).

``shutdown()`` undoes all of it within ``shutdown_timeout_s`` in all, whatever the
collector does, and reports once what became of the items it could not deliver.
"""

from __future__ import annotations

import atexit
import logging
import multiprocessing.util
import os
import socket
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from opentelemetry import _logs, metrics, trace
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import MetricReader, PeriodicExportingMetricReader
from opentelemetry.sdk.resources import (
    OsResourceDetector,
    ProcessResourceDetector,
    Resource,
)
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.version import __version__ as _sdk_version

from hyperion_otel._seams import otel_private, telemetry as _telemetry
from hyperion_otel._version import __version__
from hyperion_otel.errors import public
from hyperion_otel.sdk import _facilities
from hyperion_otel.sdk._log_filter import OTelLogRateLimit
from hyperion_otel.sdk._pipeline import (
    NOT_DELIVERED,
    OUTCOMES,
    CountingLogProcessor,
    CountingSpanProcessor,
    ExportStats,
    GuardedLogExporter,
    GuardedMetricExporter,
    GuardedSpanExporter,
    build_exporter,
)
from hyperion_otel.sdk._prometheus import PrometheusEndpoint, start_prometheus
from hyperion_otel.settings import SIGNALS, Settings

__all__ = ["ShutdownReport", "Telemetry", "configure", "get_telemetry", "shutdown"]

_log = logging.getLogger("hyperion")
# Share of the shutdown budget given to a clean flush before in-flight exports are aborted.
_CLEAN_SHARE = 0.75
# Share of the budget for the final metric collection that runs before facilities stop.
_FLUSH_SHARE = 0.3


@public
@dataclass(frozen=True)
class ShutdownReport:
    """What ``shutdown()`` did: how long it took and what became of every item, by signal.

    ``outcomes[signal]`` counts items (spans, metric points, log records) by outcome:
    ``delivered`` (acknowledged), ``refused`` (the backend answered no), ``failed`` (no
    answer: connection error, timeout), ``dropped`` (never sent: queue full, or still
    queued when the budget ran out), ``unconfirmed`` (in flight when shutdown aborted the
    export: the backend may have stored them).
    """

    duration_s: float
    outcomes: dict[str, dict[str, int]]
    timed_out: bool  # the clean flush ran out of its share of the budget; exports were aborted
    errors: dict[str, str] = field(default_factory=dict)

    @property
    def lost(self) -> dict[str, int]:
        """Items certainly not delivered (refused, failed or dropped), by signal."""
        return {sig: sum(by[o] for o in NOT_DELIVERED) for sig, by in self.outcomes.items()}

    @property
    def unconfirmed(self) -> dict[str, int]:
        return {sig: by["unconfirmed"] for sig, by in self.outcomes.items()}

    @property
    def total_lost(self) -> int:
        return sum(self.lost.values())

    @property
    def total_unconfirmed(self) -> int:
        return sum(self.unconfirmed.values())


@public
class Telemetry:
    """The pipelines built by ``configure()``; ``shutdown()`` undoes them."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.resource: Resource | None = None
        self.tracer_provider: TracerProvider | None = None
        self.meter_provider: MeterProvider | None = None
        self.logger_provider: LoggerProvider | None = None
        self.owned: set[str] = set()  # signals whose global provider we installed
        self.stats: list[ExportStats] = []
        self._span_processors: list[CountingSpanProcessor] = []
        self._log_processors: list[CountingLogProcessor] = []
        self._guards: list[Any] = []
        self._undo: list[Callable[[], None]] = []
        self._globals: otel_private.GlobalsSnapshot | None = None
        self._log_filter_undo: Callable[[], None] | None = None
        self._shutdown_report: ShutdownReport | None = None
        self._lock = threading.Lock()
        # The scrape endpoint when OTEL_METRICS_EXPORTER has prometheus (its port, its stop).
        self.prometheus: PrometheusEndpoint | None = None

    def __enter__(self) -> Telemetry:
        return self

    def __exit__(self, *exc_info: object) -> None:
        """``with configure() as tel:`` shuts down on leaving, as ``shutdown()`` does."""
        with _state_lock:
            current = _current is self
        if current:
            shutdown()
        else:
            self.shutdown()

    @property
    def disabled(self) -> bool:
        return self.settings.sdk_disabled

    @property
    def is_shutdown(self) -> bool:
        return self._shutdown_report is not None

    def _after_fork_in_child(self) -> None:
        """In a forked child: name the child process in the resource, and flush at exit.

        The SDK refreshes only the resource detectors it was configured with, so the
        process attributes we detected in the parent are refreshed here through its own
        ``_update_resource``. A multiprocessing worker leaves through ``os._exit`` (no
        atexit), so a ``multiprocessing`` finalizer flushes what it emitted.
        """
        fresh = ProcessResourceDetector().detect()
        for signal, provider in (
            ("traces", self.tracer_provider),
            ("metrics", self.meter_provider),
            ("logs", self.logger_provider),
        ):
            if signal in self.owned:
                otel_private.update_provider_resource(provider, fresh)
        if self.resource is not None:
            self.resource = self.resource.merge(fresh)
        _telemetry.refresh()

    def _flush_at_worker_exit(self) -> None:
        # Called by multiprocessing in a forked worker, after it cleared the finalizers it
        # inherited; the worker's exit runs this finalizer before os._exit.
        multiprocessing.util.Finalize(
            self,
            Telemetry.force_flush,
            args=(self, self.settings.shutdown_timeout_s),
            exitpriority=10,
        )

    def force_flush(self, timeout_s: float | None = None) -> bool:
        """Export everything queued now; True when all pipelines finished within ``timeout_s``."""
        budget = self.settings.shutdown_timeout_s if timeout_s is None else timeout_s
        calls: list[Callable[[], Any]] = []
        if self.tracer_provider is not None:
            calls += [p.force_flush for p in self._span_processors]
        if self.meter_provider is not None and "metrics" in self.owned:
            mp = self.meter_provider
            calls.append(lambda: mp.force_flush(timeout_millis=budget * 1000))
        calls += [p.force_flush for p in self._log_processors]
        return not _wait(_start_all(calls), time.monotonic() + budget)

    def shutdown(self) -> ShutdownReport:
        """Stop facilities and pipelines within ``shutdown_timeout_s``; idempotent."""
        with self._lock:
            if self._shutdown_report is not None:
                return self._shutdown_report
            start = time.monotonic()
            deadline = start + self.settings.shutdown_timeout_s
            if self.meter_provider is not None and "metrics" in self.owned and self._undo:
                # One last collection while the facilities are alive, so that their gauges
                # (pool usage, process metrics) are exported with their final values.
                mp = self.meter_provider
                flush_ms = self.settings.shutdown_timeout_s * _FLUSH_SHARE * 1000
                _wait(
                    _start_all([lambda: mp.force_flush(timeout_millis=flush_ms)]),
                    start + flush_ms / 1000,
                )
            for undo in reversed(self._undo):
                _safely(undo)
            self._undo.clear()
            for st in self.stats:
                st.quiet = True
            calls: list[Callable[[], Any]] = [p.shutdown for p in self._span_processors]
            calls += [p.shutdown for p in self._log_processors]
            if self.meter_provider is not None and "metrics" in self.owned:
                mp = self.meter_provider
                remaining_ms = max(0.0, deadline - time.monotonic()) * 1000
                calls.append(lambda: mp.shutdown(timeout_millis=remaining_ms))
            clean_deadline = time.monotonic() + max(0.0, deadline - time.monotonic()) * _CLEAN_SHARE
            alive = _wait(_start_all(calls), clean_deadline)
            interrupted = False
            if alive:
                # A collector that hangs or retries: abort in-flight exports, then wait out the rest.
                for guard in self._guards:
                    guard.interrupt()
                alive = _wait(alive, deadline)
                interrupted = True
            sending = {id(g.stats): g.sending for g in self._guards}
            for st in self.stats:
                st.settle(sending.get(id(st), False))
            if self._globals is not None:
                self._globals.restore(tuple(self.owned))
            if self._log_filter_undo is not None:
                self._log_filter_undo()
            _telemetry.refresh()
            report = ShutdownReport(
                duration_s=time.monotonic() - start,
                outcomes=_outcomes_by_signal(self.stats),
                timed_out=interrupted,
                errors={s.signal: s.last_error for s in self.stats if s.last_error},
            )
            self._shutdown_report = report
        if report.total_lost or report.total_unconfirmed:
            _report_loss(report, self.stats)
        return report


def _start_all(calls: list[Callable[[], Any]]) -> list[threading.Thread]:
    """Run ``calls`` in parallel daemon threads.

    Daemons, so that an exporter stuck in a network call can never keep the interpreter
    alive: such a thread is abandoned at the deadline and its items counted as lost.
    """
    threads = [
        threading.Thread(target=_safely, args=(call,), name="hyperion-otel-shutdown", daemon=True)
        for call in calls
    ]
    for t in threads:
        t.start()
    return threads


def _wait(threads: list[threading.Thread], deadline: float) -> list[threading.Thread]:
    """Join ``threads`` until ``deadline``; return those still running."""
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    return [t for t in threads if t.is_alive()]


def _safely(call: Callable[[], Any]) -> None:
    try:
        call()
    except Exception as exc:  # noqa: BLE001 - shutdown must finish whatever one part does
        _log.warning("hyperion-otel: error during shutdown in %r: %s", call, exc)


def _outcomes_by_signal(stats: list[ExportStats]) -> dict[str, dict[str, int]]:
    out = {sig: dict.fromkeys(OUTCOMES, 0) for sig in SIGNALS}
    for s in stats:
        for outcome, n in s.outcomes().items():
            out[s.signal][outcome] += n
    return out


_UNIT_NAMES = {"traces": "spans", "metrics": "metric points", "logs": "log records"}


def _report_loss(report: ShutdownReport, stats: list[ExportStats]) -> None:
    """One summary line: what was certainly not delivered, by outcome, and apart from it
    what was in flight when the export was aborted (which the backend may hold)."""
    lost, unsure = [], []
    for s in stats:
        by = s.outcomes()
        unit = _UNIT_NAMES[s.signal]
        if s.lost:
            detail = ", ".join(f"{o} {by[o]}" for o in NOT_DELIVERED if by[o])
            if s.last_error:
                detail += f"; {s.last_error}"
            lost.append(f"{s.lost} {unit} via {s.exporter} ({detail})")
        if by["unconfirmed"]:
            unsure.append(f"{by['unconfirmed']} {unit} via {s.exporter}")
    message = f"hyperion-otel: shutdown took {report.duration_s:.2f}s" + (
        " (time budget reached)" if report.timed_out else ""
    )
    if lost:
        message += "; not delivered: " + "; ".join(lost)
    if unsure:
        message += (
            "; unconfirmed (in flight when the export was aborted; the backend may have "
            "stored them): " + "; ".join(unsure)
        )
    _log.warning(message)
    if not _logs_to_stderr(_log):
        print(message, file=sys.stderr)


def _logs_to_stderr(logger: logging.Logger) -> bool:
    current: logging.Logger | None = logger
    while current is not None:
        for h in current.handlers:
            if isinstance(h, logging.StreamHandler) and getattr(h, "stream", None) is sys.stderr:
                return True
        current = current.parent if current.propagate else None
    return not logger.hasHandlers()  # then logging's last-resort handler prints to stderr


# --- building ---------------------------------------------------------------------------------
def build_resource(settings: Settings) -> Resource:
    """telemetry.sdk.*, process, OS and host attributes, then settings (which win)."""
    attrs: dict[str, Any] = {
        "telemetry.distro.name": "hyperion-otel",
        "telemetry.distro.version": __version__,
        "host.name": socket.gethostname(),
    }
    service = settings.service_name or settings.resource_attributes.get("service.name")
    if not service:
        service = "hyperion-otel"
        attrs["service.version"] = __version__
    # The SDK's own telemetry.sdk.* attributes, as its default resource has them.
    sdk_attrs = {
        "telemetry.sdk.language": "python",
        "telemetry.sdk.name": "opentelemetry",
        "telemetry.sdk.version": _sdk_version,
    }
    resource = (
        Resource(sdk_attrs)
        .merge(ProcessResourceDetector().detect())
        .merge(OsResourceDetector().detect())
    )
    return resource.merge(
        Resource({**attrs, **settings.resource_attributes, "service.name": service})
    )


_G = TypeVar("_G", GuardedSpanExporter, GuardedMetricExporter, GuardedLogExporter)


def _guarded(tel: Telemetry, signal: str, name: str, wrapper: type[_G]) -> _G:
    """Exporter ``name`` of ``signal`` wrapped in its guard, accounted in ``tel``."""
    stats = ExportStats(signal, name)
    guard = wrapper(build_exporter(tel.settings, signal, name), stats)
    tel.stats.append(stats)
    tel._guards.append(guard)
    return guard


def _install(tel: Telemetry) -> None:
    settings = tel.settings
    resource = tel.resource = build_resource(settings)

    current_tp = trace.get_tracer_provider()
    if isinstance(current_tp, TracerProvider):
        tp = current_tp
    else:
        tp = TracerProvider(resource=resource, shutdown_on_exit=False)
        tel.owned.add("traces")
    for name in settings.exporters_for("traces"):
        proc = CountingSpanProcessor(_guarded(tel, "traces", name, GuardedSpanExporter))
        tp.add_span_processor(proc)
        tel._span_processors.append(proc)
    tel.tracer_provider = tp

    current_mp = metrics.get_meter_provider()
    if isinstance(current_mp, MeterProvider):
        tel.meter_provider = current_mp
    else:
        readers: list[MetricReader] = [
            PeriodicExportingMetricReader(
                _guarded(tel, "metrics", name, GuardedMetricExporter),
                export_interval_millis=settings.metric_export_interval_ms,
                export_timeout_millis=settings.otlp_timeout_s * 1000,
            )
            for name in settings.exporters_for("metrics")
            if name != "prometheus"
        ]
        if "prometheus" in settings.exporters_for("metrics"):
            tel.prometheus = start_prometheus(settings)
            tel._undo.append(tel.prometheus.stop)
            readers.append(tel.prometheus.reader)
        tel.meter_provider = MeterProvider(
            resource=resource, metric_readers=readers, shutdown_on_exit=False
        )
        tel.owned.add("metrics")

    current_lp = _logs.get_logger_provider()
    if isinstance(current_lp, LoggerProvider):
        lp = current_lp
    else:
        lp = LoggerProvider(resource=resource, shutdown_on_exit=False)
        tel.owned.add("logs")
    for name in settings.exporters_for("logs"):
        lproc = CountingLogProcessor(_guarded(tel, "logs", name, GuardedLogExporter))
        lp.add_log_record_processor(lproc)
        tel._log_processors.append(lproc)
    tel.logger_provider = lp

    tel._globals = otel_private.snapshot()
    if "traces" in tel.owned:
        trace.set_tracer_provider(tp)
    if "metrics" in tel.owned:
        metrics.set_meter_provider(tel.meter_provider)
    if "logs" in tel.owned:
        _logs.set_logger_provider(lp)
    _telemetry.refresh()


# --- module-level API ---------------------------------------------------------------------------
_state_lock = threading.Lock()
_current: Telemetry | None = None
_atexit_registered = False
_fork_hook_registered = False


def _after_fork_in_child() -> None:
    # Registered once per process (os.register_at_fork has no undo); a no-op unless
    # configure() is in force, so shutdown() effectively undoes it.
    tel = _current
    if tel is not None and not tel.is_shutdown:
        try:
            tel._after_fork_in_child()
        except Exception as exc:  # noqa: BLE001 - never break the child over telemetry
            print(f"hyperion-otel: telemetry not reset after fork: {exc}", file=sys.stderr)


@public
def configure(settings: Settings | None = None, **overrides: Any) -> Telemetry:
    """Set up telemetry and every facility from ``settings`` (default: the environment).

    ``overrides`` are applied on top (explicit argument > environment > default).
    Calling it again while configured returns the same ``Telemetry`` unchanged; call
    ``shutdown()`` first to configure anew. With ``OTEL_SDK_DISABLED=true`` no provider is
    installed (OTel calls stay no-ops); local console/file logging still follows settings.
    """
    global _current, _atexit_registered, _fork_hook_registered
    resolved = Settings.from_env(**overrides) if settings is None else settings.replace(**overrides)
    with _state_lock:
        if _current is not None and not _current.is_shutdown:
            if resolved != _current.settings:
                _log.warning(
                    "hyperion-otel: configure() called again with different settings; "
                    "keeping the first ones (call shutdown() first to reconfigure)"
                )
            return _current
        tel = Telemetry(resolved)
        try:
            if not resolved.sdk_disabled:
                _install(tel)
                tel._log_filter_undo = OTelLogRateLimit(
                    verbose=resolved.log_level in ("trace", "debug"), redact=resolved.redact
                ).install()
            tel._undo.extend(_facilities.apply(resolved))
        except BaseException:
            tel.shutdown()
            raise
        _current = tel
        if not _atexit_registered:
            atexit.register(_atexit_shutdown)
            _atexit_registered = True
        multiprocessing.util.register_after_fork(tel, Telemetry._flush_at_worker_exit)
        if not _fork_hook_registered and hasattr(os, "register_at_fork"):
            os.register_at_fork(after_in_child=_after_fork_in_child)
            _fork_hook_registered = True
        return tel


def get_telemetry() -> Telemetry | None:
    """The active ``Telemetry`` of ``configure()``, or None."""
    tel = _current
    return tel if tel is not None and not tel.is_shutdown else None


@public
def shutdown() -> ShutdownReport | None:
    """Shut down what ``configure()`` set up (None if nothing was configured)."""
    global _current, _atexit_registered
    with _state_lock:
        tel, _current = _current, None
        if _atexit_registered:
            atexit.unregister(_atexit_shutdown)
            _atexit_registered = False
    return tel.shutdown() if tel is not None else None


def _atexit_shutdown() -> None:
    try:
        shutdown()
    except Exception as exc:  # noqa: BLE001 - never turn interpreter exit into a traceback
        print(f"hyperion-otel: shutdown at exit failed: {exc}", file=sys.stderr)
