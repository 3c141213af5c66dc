"""Readable one-line text records, for the console (default) and text log files.

``2025-01-31T12:00:00.123456Z INFO  hyperion.memory  pool grown  size=1024 trace_id=... span_id=...``
followed, when the record carries one, by the exception's traceback on the next lines.
"""

from __future__ import annotations

import logging as _stdlib_logging
from typing import Any

from opentelemetry import trace

from hyperion_otel.logging._json import to_json_value
from hyperion_otel.logging._record import Rfc3339Clock, exception_fields, extras_of, message_of
from hyperion_otel.logging._types import severity_of

__all__ = ["TextFormatter"]

_get_current_span = trace.get_current_span


def _value_text(value: Any) -> str:
    if isinstance(value, str):
        return value if value and " " not in value and "=" not in value else repr(value)
    if value is None or isinstance(value, (bool, int, float)):
        return str(value)
    try:
        return repr(to_json_value(value))
    except Exception:  # noqa: BLE001 - text rendering must not lose the record
        return f"<unrepresentable {type(value).__qualname__}>"


class TextFormatter(_stdlib_logging.Formatter):
    """Stdlib formatter for the human-readable form; also usable from ``logging.config``."""

    def __init__(self, include_timestamp: bool = True, include_thread_id: bool = False) -> None:
        super().__init__()
        self.include_timestamp = include_timestamp
        self.include_thread_id = include_thread_id
        self._clock = Rfc3339Clock()

    def format(self, record: _stdlib_logging.LogRecord) -> str:
        parts: list[str] = []
        if self.include_timestamp:
            parts.append(self._clock.format(record.created))
        parts.append(f"{severity_of(record.levelno)[1]:<5}")
        parts.append(record.name)
        if self.include_thread_id:
            parts.append(
                f"[{record.processName}:{record.process} {record.threadName}:{record.thread}]"
            )
        parts.append(" " + message_of(record))
        extras = extras_of(record)
        if extras:
            parts.extend(f"{k}={_value_text(v)}" for k, v in extras.items())
        ctx = _get_current_span().get_span_context()
        if ctx.is_valid:
            parts.append(f"trace_id={ctx.trace_id:032x} span_id={ctx.span_id:016x}")
        text = " ".join(parts)
        if record.stack_info:
            text += "\n" + str(record.stack_info)
        exc = exception_fields(record)
        if exc is not None:
            text += "\n" + exc[2]
        return text

    def format_bytes(self, record: _stdlib_logging.LogRecord) -> bytes:
        return (self.format(record) + "\n").encode("utf-8", "backslashreplace")
