"""OTLP output: a thin bridge from stdlib records to the OTel Logs API.

Each record becomes one ``Logger.emit(...)`` on ``_telemetry.logger()`` (scope
``hyperion_otel``) with the current context (so the SDK attaches trace_id/span_id of the
active span), severity, the formatted message as body and attributes ``code.*`` (the
call site, unless the record names its own ``code.*`` in ``extra=``), ``exception.*``,
``thread.*``, ``hyperion.log.category`` and the user's ``extra=`` fields. An ``extra=``
field ``event_name`` becomes the record's event name, not an attribute. With no SDK configured, the API's no-op logger makes this cheap.

The SDK's own ``LoggingHandler`` is deprecated in 1.45, and a handler like it is known to
recurse or deadlock when an exporter's warning re-enters it. Guards here:

* records of ``opentelemetry.*`` loggers are never bridged (an exporter failing while
  exporting such a record would log again, forever);
* a thread-local flag drops any record logged from *inside* our own ``emit`` (a
  synchronous processor's exporter logging through ``hyperion``), and records emitted
  while the SDK suppresses instrumentation (during its own export) are dropped too;
* ``handle`` takes no handler lock, so an exporter thread that logs while the
  application thread is inside ``emit`` cannot deadlock against it, and ``flush`` does
  nothing (flushing the provider from inside logging is the other known deadlock;
  ``configure()``/``shutdown()`` flush the provider).

Dropped records are counted as faults of kind ``otlp_recursion``/``otlp``.
"""

from __future__ import annotations

import logging as _stdlib_logging
import threading
import time
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry._logs import Logger, SeverityNumber

from hyperion_otel import semconv
from hyperion_otel._seams import otel_private, telemetry as _telemetry
from hyperion_otel.logging._faults import record_fault
from hyperion_otel.logging._record import category_of, exception_fields, extras_of, message_of
from hyperion_otel.logging._types import severity_of

__all__ = ["OtlpHandler"]

_IGNORED_PREFIX = "opentelemetry"
_PRIMITIVES = (str, bool, int, float)


def _attribute_value(value: Any) -> Any:
    """OTel attribute values are primitives or homogeneous lists of them; others -> repr."""
    if isinstance(value, _PRIMITIVES):
        return value
    if isinstance(value, (list, tuple)) and value:
        kind = type(value[0])
        if kind in _PRIMITIVES and all(type(v) is kind for v in value):
            return list(value)
    try:
        return repr(value)
    except Exception:  # noqa: BLE001
        return f"<unrepresentable {type(value).__qualname__}>"


class OtlpHandler(_stdlib_logging.Handler):
    """Bridge to the OTel Logs API; ``otel_logger`` overrides ``_telemetry.logger()``."""

    def __init__(self, otel_logger: Logger | None = None) -> None:
        super().__init__()
        self._otel_logger = otel_logger
        self._local = threading.local()

    def handle(self, record: _stdlib_logging.LogRecord) -> bool:
        if record.name.startswith(_IGNORED_PREFIX):
            return False
        if getattr(self._local, "active", False) or otel_private.instrumentation_suppressed():
            record_fault("otlp_recursion", None, record.name)
            return False
        rv: object = self.filter(record)
        if isinstance(rv, _stdlib_logging.LogRecord):
            record = rv
        if not rv:
            return False
        self._local.active = True
        try:
            self.emit(record)
        except Exception as exc:  # noqa: BLE001 - an SDK failure must not reach the app
            record_fault("otlp", exc)
        finally:
            self._local.active = False
        return True

    def emit(self, record: _stdlib_logging.LogRecord) -> None:
        lg = self._otel_logger or _telemetry.logger()
        number, text = severity_of(record.levelno)
        severity = SeverityNumber(number)
        enabled = getattr(lg, "enabled", None)
        if enabled is not None and not enabled(severity_number=severity):
            return
        attrs = self._attributes(record)
        event_name = attrs.pop(semconv.LOG_EVENT_NAME_FIELD, None)
        lg.emit(
            timestamp=int(record.created * 1e9),
            observed_timestamp=time.time_ns(),
            context=otel_context.get_current(),
            severity_number=severity,
            severity_text=text,
            body=message_of(record),
            attributes=attrs,
            event_name=str(event_name) if event_name is not None else None,
        )

    @staticmethod
    def _attributes(record: _stdlib_logging.LogRecord) -> dict[str, Any]:
        # The call site first: a record's own ``code.*`` (a hotspot names the hot function,
        # not the line that logged it) is an ``extra=`` field and wins, as in the JSON file.
        attrs: dict[str, Any] = {
            semconv.CODE_FILE_PATH: record.pathname,
            semconv.CODE_LINE_NUMBER: record.lineno,
        }
        if record.funcName:
            attrs[semconv.CODE_FUNCTION_NAME] = record.funcName
        extras = extras_of(record)
        if extras:
            for k, v in extras.items():
                attrs[k] = _attribute_value(v)
        attrs[semconv.HYPERION_LOG_CATEGORY] = category_of(record.name)
        if record.thread is not None:
            attrs[semconv.THREAD_ID] = record.thread
        if record.threadName:
            attrs[semconv.THREAD_NAME] = record.threadName
        if record.stack_info:
            attrs[semconv.CODE_STACKTRACE] = str(record.stack_info)
        exc = exception_fields(record)
        if exc is not None:
            attrs[semconv.EXCEPTION_TYPE] = exc[0]
            attrs[semconv.EXCEPTION_MESSAGE] = exc[1]
            attrs[semconv.EXCEPTION_STACKTRACE] = exc[2]
        return attrs

    def flush(self) -> None:
        """Deliberately nothing: see the module doc (provider flush happens in shutdown)."""
