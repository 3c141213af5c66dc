"""What every formatter and the OTLP bridge read from a stdlib ``LogRecord``, done cheaply.

Message (with a fallback when ``msg % args`` fails), RFC 3339 timestamp (the per-second
prefix is cached), category from the logger name, the user's ``extra=`` fields and the
exception fields, as the OTel semantic conventions name them.
"""

from __future__ import annotations

import itertools
import logging as _stdlib_logging
import time
import traceback
from typing import Any

from hyperion_otel.logging._faults import record_fault
from hyperion_otel.logging._types import ROOT_LOGGER_NAME, LogCategory

__all__ = [
    "N_STANDARD",
    "STANDARD_ATTRS",
    "Rfc3339Clock",
    "category_of",
    "exception_fields",
    "extras_of",
    "extras_of_dict",
    "message_of",
]

# Attributes every LogRecord has (any Python version) plus those formatters add; the rest
# of ``record.__dict__`` is what the user passed as ``extra=``.
STANDARD_ATTRS = frozenset(_stdlib_logging.LogRecord("x", 0, "x", 0, "x", None, None).__dict__) | {
    "message",
    "asctime",
    "taskName",
    "stack_info",
    "exc_text",
}
N_STANDARD = len(_stdlib_logging.LogRecord("x", 0, "x", 0, "x", None, None).__dict__)


def message_of(record: _stdlib_logging.LogRecord) -> str:
    """``record.getMessage()``, or a readable fallback when ``msg % args`` fails."""
    try:
        return record.getMessage()
    except Exception as exc:  # noqa: BLE001 - a bad format string must not lose the record
        record_fault("format", exc, f"{record.pathname}:{record.lineno}")
        try:
            return f"{record.msg!r} % {record.args!r} (formatting failed: {exc})"
        except Exception:  # noqa: BLE001
            return f"<unformattable log message at {record.pathname}:{record.lineno}>"


class Rfc3339Clock:
    """Formats ``record.created`` as ``2025-01-31T12:00:00.123456Z`` (UTC, microseconds)."""

    __slots__ = ("_cache",)

    def __init__(self) -> None:
        self._cache: tuple[int, str] = (-1, "")

    def format(self, created: float) -> str:
        sec = int(created)
        cache = self._cache  # one tuple read: safe against a concurrent update
        if cache[0] != sec:
            cache = (sec, time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(sec)))
            self._cache = cache
        return f"{cache[1]}.{int((created - sec) * 1_000_000):06d}Z"


_category_cache: dict[str, str] = {}
_CATEGORIES = frozenset(c.value for c in LogCategory)
_CATEGORY_CACHE_MAX = 4096


def category_of(logger_name: str) -> str:
    """``hyperion.memory.pool`` -> ``memory``; ``hyperion`` and any other logger -> ``general``."""
    found = _category_cache.get(logger_name)
    if found is None:
        found = LogCategory.GENERAL.value
        prefix = ROOT_LOGGER_NAME + "."
        if logger_name.startswith(prefix):
            first = logger_name[len(prefix) :].split(".", 1)[0]
            if first in _CATEGORIES:
                found = first
        if len(_category_cache) < _CATEGORY_CACHE_MAX:
            _category_cache[logger_name] = found
    return found


def extras_of(record: _stdlib_logging.LogRecord) -> dict[str, Any] | None:
    """The user's ``extra=`` fields, or ``None`` (fast path: no extra attribute at all)."""
    d = record.__dict__
    return extras_of_dict(d) if len(d) > N_STANDARD else None


def extras_of_dict(d: dict[str, Any]) -> dict[str, Any] | None:
    # LogRecord.__init__ sets the standard attributes first, makeRecord adds extra= after
    # them: only the tail needs filtering (against what other formatters may append).
    out = {
        k: v for k, v in itertools.islice(d.items(), N_STANDARD, None) if k not in STANDARD_ATTRS
    }
    return out or None


def _type_name(cls: type[BaseException]) -> str:
    mod = cls.__module__
    return cls.__qualname__ if mod in ("builtins", "__main__") else f"{mod}.{cls.__qualname__}"


def exception_fields(record: _stdlib_logging.LogRecord) -> tuple[str, str, str] | None:
    """``(exception.type, exception.message, exception.stacktrace)`` or ``None``.

    The stack trace is cached in ``record.exc_text`` as the stdlib formatter does, so
    several handlers of one record format it once.
    """
    info = record.exc_info
    if not info or info[0] is None:
        return None
    cls, value = info[0], info[1]
    text = record.exc_text
    if not text:
        try:
            text = "".join(traceback.format_exception(*info)).rstrip("\n")
        except Exception:  # noqa: BLE001 - a broken __str__ on the exception
            text = f"<traceback unavailable for {cls!r}>"
        record.exc_text = text
    try:
        message = str(value)
    except Exception:  # noqa: BLE001
        message = f"<unprintable {cls.__name__}>"
    return _type_name(cls), message, text
