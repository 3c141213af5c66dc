"""One error into telemetry: span status, exception log record, span event, counter.

Kept apart from the error model (``_types``) because this module knows the OTel signals.
Every function here swallows its own failures and counts them in
``hyperion.telemetry.dropped``: recording an error must never raise a second one.

How the exception itself is recorded follows ``OTEL_SEMCONV_EXCEPTION_SIGNAL_OPT_IN``,
read on every call (``configure()`` may pin it with ``set_exception_signal``):

- ``logs``: a log record only (the semconv's target state);
- ``logs/dup``: the log record and the deprecated ``exception`` span event;
- unset (or any other value): the same as ``logs/dup``. The semconv transition says an
  *existing* instrumentation keeps its old span events by default; hyperion-otel had no
  old behaviour, always emits the log record, and keeps the span event by default too
  because trace-only backends (Jaeger, Phoenix) show nothing else.
"""

from __future__ import annotations

import enum
import logging
import numbers
import os
import threading
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field

from opentelemetry import trace
from opentelemetry._logs import LogRecord, SeverityNumber
from opentelemetry.trace import Span, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from hyperion_otel import semconv
from hyperion_otel._seams import telemetry as _telemetry
from hyperion_otel.errors._types import one_line

__all__ = [
    "ErrorRecord",
    "ExceptionSignal",
    "count_error",
    "detail_attributes",
    "emit_exception",
    "exception_signal",
    "mark_span",
    "one_line",
    "qualified_name",
    "safe_str",
    "set_exception_signal",
]

_log = logging.getLogger("hyperion.telemetry")


class ExceptionSignal(enum.Enum):
    """Where an exception is recorded, as in ``OTEL_SEMCONV_EXCEPTION_SIGNAL_OPT_IN``."""

    LOGS = "logs"  # log record only
    LOGS_DUP = "logs/dup"  # log record and span event (also the default)


class _Pin:
    signal: ExceptionSignal | None = None


def set_exception_signal(value: str | ExceptionSignal | None) -> None:
    """Pin the exception signal (``configure()`` passes its setting); ``None`` reads env again."""
    _Pin.signal = (
        None if value is None else _parse(value if isinstance(value, str) else value.value)
    )


def _parse(raw: str) -> ExceptionSignal:
    return ExceptionSignal.LOGS if raw.strip().lower() == "logs" else ExceptionSignal.LOGS_DUP


def exception_signal(environ: Mapping[str, str] | None = None) -> ExceptionSignal:
    """The mode in force now (pinned value, else the environment, else ``LOGS_DUP``).

    The one variable read here rather than through ``settings``: settings raises these
    errors, so it sits above this package and cannot be imported from it. The rule is the
    settings module's (``logs`` or ``logs/dup``; ``ENV_VARS`` documents it); any other value
    counts as unset: recording an error must not fail over a configuration mistake
    (``configure()`` reports that one).
    """
    if _Pin.signal is not None and environ is None:
        return _Pin.signal
    env = os.environ if environ is None else environ
    raw = env.get(semconv.ENV_EXCEPTION_SIGNAL_OPT_IN, "").strip().lower()
    return ExceptionSignal.LOGS if raw == ExceptionSignal.LOGS.value else ExceptionSignal.LOGS_DUP


def qualified_name(cls: type) -> str:
    """``module.QualName`` as semconv wants for ``error.type``/``exception.type``."""
    module = cls.__module__
    if module in ("builtins", "__main__", None):
        return cls.__qualname__
    return f"{module}.{cls.__qualname__}"


MAX_DETAIL_CHARS = 256  # bound on one detail value: details may hold user-supplied values
MAX_DETAILS = 16


def safe_str(exc: BaseException) -> str:
    """One-line ``str(exc)`` that survives a broken ``__str__``."""
    try:
        return one_line(str(exc))
    except Exception:  # noqa: BLE001
        return "<unprintable>"


def _attr_value(value: object) -> AttributeValue:
    try:
        if isinstance(value, bool):
            return value
        if isinstance(value, str):
            return value[:MAX_DETAIL_CHARS]
        if isinstance(value, numbers.Integral):
            return int(value)
        if isinstance(value, numbers.Real):
            return float(value)
        return repr(value)[:MAX_DETAIL_CHARS]
    except Exception:  # noqa: BLE001 - a broken __repr__ loses only its own detail
        return "<unprintable>"


def detail_attributes(details: Mapping[str, object]) -> dict[str, AttributeValue]:
    """``hyperion.error.detail.<key>`` attributes, bounded in count and length."""
    attrs: dict[str, AttributeValue] = {}
    for key, value in list(details.items())[:MAX_DETAILS]:
        attrs[semconv.HYPERION_ERROR_DETAIL_PREFIX + str(key)] = _attr_value(value)
    return attrs


@dataclass(frozen=True)
class ErrorRecord:
    """Everything the signals need about one error, already reduced to attribute values."""

    exception: BaseException  # as raised (for a wrapped error: the original)
    error_type: str  # `error.type`: qualified class name of `exception`
    category: str  # ErrorType value
    message: str
    body: str  # one-line human text of the log record
    file: str | None
    line: int | None
    function: str | None
    timestamp: float  # Unix seconds when the error arose
    attributes: Mapping[str, AttributeValue] = field(default_factory=dict)

    def code_attributes(self) -> dict[str, AttributeValue]:
        attrs: dict[str, AttributeValue] = {}
        if self.function:
            attrs[semconv.CODE_FUNCTION_NAME] = self.function
        if self.file:
            attrs[semconv.CODE_FILE_PATH] = self.file
        if self.line is not None:
            attrs[semconv.CODE_LINE_NUMBER] = self.line
        return attrs


def mark_span(span: Span, rec: ErrorRecord) -> None:
    """Status ERROR with the message, plus ``error.type`` and the category, on ``span``."""
    try:
        if not span.is_recording():
            return
        span.set_status(Status(StatusCode.ERROR, rec.message))
        span.set_attribute(semconv.ERROR_TYPE, rec.error_type)
        span.set_attribute(semconv.HYPERION_ERROR_CATEGORY, rec.category)
    except Exception:  # noqa: BLE001 - telemetry must not raise into the host
        _dropped("traces")


def emit_exception(span: Span, rec: ErrorRecord, signal: ExceptionSignal) -> None:
    """The exception log record tied to ``span``; with ``LOGS_DUP`` also the span event."""
    exc = rec.exception
    try:
        stack = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    except Exception:  # noqa: BLE001 - a broken __str__ must not stop the record
        stack = f"{rec.error_type}: <unprintable>"
    attrs: dict[str, AttributeValue] = {
        semconv.EXCEPTION_TYPE: rec.error_type,
        semconv.EXCEPTION_MESSAGE: rec.message,
        semconv.EXCEPTION_STACKTRACE: stack,
        semconv.ERROR_TYPE: rec.error_type,
        semconv.HYPERION_ERROR_CATEGORY: rec.category,
        **rec.code_attributes(),
        **rec.attributes,
    }
    try:
        _telemetry.logger().emit(
            LogRecord(
                timestamp=int(rec.timestamp * 1e9),
                observed_timestamp=time.time_ns(),
                context=trace.set_span_in_context(span),
                severity_number=SeverityNumber.ERROR,
                severity_text="ERROR",
                body=rec.body,
                attributes=attrs,
            )
        )
    except Exception:  # noqa: BLE001
        _dropped("logs")
    if signal is ExceptionSignal.LOGS_DUP:
        try:
            if span.is_recording():
                # Not ``span.record_exception``: it adds the deprecated ``exception.escaped``.
                event = {k: v for k, v in attrs.items() if k != semconv.ERROR_TYPE}
                span.add_event(semconv.EVENT_EXCEPTION, event, timestamp=int(rec.timestamp * 1e9))
        except Exception:  # noqa: BLE001
            _dropped("traces")


def count_error(rec: ErrorRecord) -> None:
    """One increment of ``hyperion.errors`` with ``error.type`` and the category."""
    try:
        errors = _telemetry.counter(
            semconv.METRIC_ERRORS, "{error}", "Errors recorded by hyperion-otel"
        )
        errors.add(
            1, {semconv.ERROR_TYPE: rec.error_type, semconv.HYPERION_ERROR_CATEGORY: rec.category}
        )
    except Exception:  # noqa: BLE001
        _dropped("metrics")


_warned = threading.Event()


def _dropped(signal: str) -> None:
    try:
        _telemetry.count_dropped(1, signal, "failed")
        if not _warned.is_set():
            _warned.set()
            _log.warning(
                "recording an error as %s telemetry failed; counting further losses",
                signal,
                exc_info=True,
            )
    except Exception:  # noqa: BLE001, S110 - nothing left to report through
        pass
