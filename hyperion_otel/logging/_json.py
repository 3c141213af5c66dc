"""JSON-lines formatter: one record, one line, always valid JSON, built once.

Schema (keys in this order, optional ones only when present)::

    timestamp           RFC 3339 UTC with microseconds    (LogConfig.include_timestamp)
    severity_text       TRACE DEBUG INFO WARN ERROR FATAL (2..4 suffix between levels)
    severity_number     OTel severity number 1..24
    logger              stdlib logger name, e.g. "hyperion.memory"
    category            general | memory | performance | model | ...
    message             the formatted message
    event_name          the record's event name (``extra={"event_name": ...}``)
    thread_id, thread_name, process_id                    (LogConfig.include_thread_id)
    trace_id, span_id, trace_flags                        (inside a valid span; lower hex)
    code.file.path, code.line.number, code.function.name  (the call site, or the record's
                                                          own code.* given in extra=)
    code.stacktrace                                       (stack_info=True)
    exception.type, exception.message, exception.stacktrace        (exc_info)
    attributes          object of the user's extra= fields

Speed: the fragments that repeat (level+logger head, call site, thread) are cached as
already-encoded JSON text, strings go through the C ``encode_basestring``, and only
``attributes`` goes through a ``JSONEncoder``; values it cannot encode become their
``repr`` and NaN/infinity, circular or non-string keys are sanitised, so a line is
always valid JSON. Non-UTF-8-encodable text (lone surrogates) becomes a ``\\uXXXX``
escape.
"""

from __future__ import annotations

import contextlib
import enum
import json
import logging as _stdlib_logging
import math
import os
from itertools import islice
from json.encoder import encode_basestring as _enc
from typing import Any

from opentelemetry import trace

from hyperion_otel import semconv
from hyperion_otel.logging._faults import record_fault
from hyperion_otel.logging._record import (
    N_STANDARD,
    STANDARD_ATTRS,
    Rfc3339Clock,
    category_of,
    exception_fields,
    extras_of_dict,
    message_of,
)
from hyperion_otel.logging._types import severity_of

__all__ = ["JsonFormatter", "to_json_value"]

_CACHE_MAX = 4096
_MAX_DEPTH = 32
_get_current_span = trace.get_current_span
_int_repr = int.__repr__
_float_repr = float.__repr__
_isfinite = math.isfinite
_CONSTANTS = {None: "null", True: "true", False: "false"}


def _safe_repr(o: object) -> str:
    try:
        return repr(o)
    except Exception:  # noqa: BLE001 - a broken __repr__ must not lose the record
        return f"<unrepresentable {type(o).__qualname__}>"


def _default(o: object) -> Any:
    """JSON stand-in for a value ``json`` cannot encode."""
    out: Any = None
    if isinstance(o, (set, frozenset)):
        out = list(o)
    elif isinstance(o, enum.Enum):
        out = o.value if isinstance(o.value, (str, int, float, bool)) else o.name
    elif isinstance(o, os.PathLike):
        p = os.fspath(o)
        out = p if isinstance(p, str) else None
    elif callable(iso := getattr(type(o), "isoformat", None)):  # datetime, date, time
        with contextlib.suppress(Exception):
            out = str(iso(o))
    return _safe_repr(o) if out is None else out


def to_json_value(o: object, depth: int = 0, seen: set[int] | None = None) -> Any:
    """A value ``json`` encodes with ``allow_nan=False``: the slow path for odd values."""
    if o is None or isinstance(o, (str, bool, int)) or (isinstance(o, float) and math.isfinite(o)):
        return o
    if isinstance(o, float) or depth >= _MAX_DEPTH:
        return _safe_repr(o)  # nan/inf are not JSON numbers; too deep is cut off
    seen = set() if seen is None else seen
    if not isinstance(o, (dict, list, tuple, set, frozenset)):
        return to_json_value(_default(o), depth + 1, seen)
    if id(o) in seen:
        return "<circular>"
    seen.add(id(o))
    try:
        if isinstance(o, dict):
            return {
                (k if isinstance(k, str) else _safe_str(k)): to_json_value(v, depth + 1, seen)
                for k, v in o.items()
            }
        return [to_json_value(v, depth + 1, seen) for v in o]
    finally:
        seen.discard(id(o))


def _safe_str(o: object) -> str:
    try:
        return str(o)
    except Exception:  # noqa: BLE001
        return _safe_repr(o)


_EVENT = semconv.LOG_EVENT_NAME_FIELD
_CODE_KEYS = frozenset(
    {semconv.CODE_FILE_PATH, semconv.CODE_LINE_NUMBER, semconv.CODE_FUNCTION_NAME}
)


def _explicit_site(
    d: dict[str, Any], site: tuple[str, int, str | None]
) -> tuple[str, int, str | None]:
    """The record's own ``code.*`` (``extra=``; a hotspot names the hot function) over its
    call site, field by field; a value of the wrong type keeps the call site's."""
    path, line, func = (
        d.get(semconv.CODE_FILE_PATH),
        d.get(semconv.CODE_LINE_NUMBER),
        d.get(semconv.CODE_FUNCTION_NAME),
    )
    return (
        path if isinstance(path, str) else site[0],
        line if type(line) is int else site[1],
        func if isinstance(func, str) else site[2],
    )


class JsonFormatter(_stdlib_logging.Formatter):
    """Stdlib formatter writing the schema above; also usable from ``logging.config``."""

    def __init__(self, include_timestamp: bool = True, include_thread_id: bool = False) -> None:
        super().__init__()
        self.include_timestamp = include_timestamp
        self.include_thread_id = include_thread_id
        self._clock = Rfc3339Clock()
        self._heads: dict[tuple[int, str], str] = {}
        self._sites: dict[tuple[str, int, str | None], str] = {}
        self._threads: dict[tuple[int | None, str | None, int | None], str] = {}
        self._encoder = json.JSONEncoder(
            ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=_default
        )

    def format(self, record: _stdlib_logging.LogRecord) -> str:
        return self.render(record)

    def format_bytes(self, record: _stdlib_logging.LogRecord) -> bytes:
        """The record as one UTF-8 line ending in ``\\n`` (what the file handler writes)."""
        return (self.render(record) + "\n").encode("utf-8", "backslashreplace")

    def render(self, record: _stdlib_logging.LogRecord) -> str:
        key = (record.levelno, record.name)
        head = self._heads.get(key) or self._head(key)
        if self.include_timestamp:
            out = f'{{"timestamp":"{self._clock.format(record.created)}",{head}'
        else:
            out = "{" + head
        out += ',"message":' + _enc(message_of(record))
        d = record.__dict__
        if len(d) > N_STANDARD and _EVENT in d:  # the record's event name, as in OTLP
            out += f',"{_EVENT}":' + _enc(str(d[_EVENT]))
        if self.include_thread_id:
            tkey = (record.thread, record.threadName, record.process)
            out += self._threads.get(tkey) or self._thread(tkey)
        ctx = _get_current_span().get_span_context()
        if ctx.is_valid:
            out += (
                f',"trace_id":"{ctx.trace_id:032x}","span_id":"{ctx.span_id:016x}"'
                f',"trace_flags":"{ctx.trace_flags:02x}"'
            )
        skey: tuple[str, int, str | None] = (record.pathname, record.lineno, record.funcName)
        if len(d) > N_STANDARD and not _CODE_KEYS.isdisjoint(d):
            skey = _explicit_site(d, skey)
        out += self._sites.get(skey) or self._site(skey)
        if record.stack_info or record.exc_info:
            out += self._stacks(record)
        if len(d) > N_STANDARD:
            out += self._extras(d)
        return out + "}"

    def _stacks(self, record: _stdlib_logging.LogRecord) -> str:
        out = ""
        if record.stack_info:
            out += f',"{semconv.CODE_STACKTRACE}":' + _enc(str(record.stack_info))
        exc = exception_fields(record)
        if exc is not None:
            out += (
                f',"{semconv.EXCEPTION_TYPE}":{_enc(exc[0])}'
                f',"{semconv.EXCEPTION_MESSAGE}":{_enc(exc[1])}'
                f',"{semconv.EXCEPTION_STACKTRACE}":{_enc(exc[2])}'
            )
        return out

    def _extras(self, d: dict[str, Any]) -> str:
        """``,"attributes":{...}`` of the extra= fields (see ``extras_of``), or ``""``.

        Strings, ints, finite floats, bools and None (the usual fields) are encoded by
        hand; anything else sends the whole object through the JSON encoder.
        """
        parts: list[str] = []
        for k, v in islice(d.items(), N_STANDARD, None):
            if k in STANDARD_ATTRS or k == _EVENT:
                continue
            t = type(v)
            if t is str:
                parts.append(f"{_enc(k)}:{_enc(v)}")
            elif t is int:
                parts.append(f"{_enc(k)}:{_int_repr(v)}")
            elif t is float and _isfinite(v):
                parts.append(f"{_enc(k)}:{_float_repr(v)}")
            elif v is None or t is bool:
                parts.append(f"{_enc(k)}:{_CONSTANTS[v]}")
            else:
                extras = extras_of_dict(d)
                if extras:
                    extras.pop(_EVENT, None)
                return ',"attributes":' + self._attributes(extras) if extras else ""
        return ',"attributes":{' + ",".join(parts) + "}" if parts else ""

    def _attributes(self, extras: dict[str, Any]) -> str:
        try:
            return self._encoder.encode(extras)
        except (ValueError, TypeError, RecursionError):
            # NaN/infinity, a circular reference or a non-string key: take the slow path.
            try:
                return self._encoder.encode(to_json_value(extras))
            except Exception as exc:  # noqa: BLE001
                record_fault("format", exc, "attributes")
                return '{"hyperion.log.unencodable":true}'

    def _head(self, key: tuple[int, str]) -> str:
        number, text = severity_of(key[0])
        head = (
            f'"severity_text":"{text}","severity_number":{number}'
            f',"logger":{_enc(key[1])},"category":{_enc(category_of(key[1]))}'
        )
        if len(self._heads) < _CACHE_MAX:
            self._heads[key] = head
        return head

    def _site(self, key: tuple[str, int, str | None]) -> str:
        path, line, func = key
        site = (
            f',"{semconv.CODE_FILE_PATH}":{_json_str(path)}'
            f',"{semconv.CODE_LINE_NUMBER}":{int(line)}'
            f',"{semconv.CODE_FUNCTION_NAME}":{_json_str(func)}'
        )
        if len(self._sites) < _CACHE_MAX:
            self._sites[key] = site
        return site

    def _thread(self, key: tuple[int | None, str | None, int | None]) -> str:
        tid, name, pid = key
        frag = (
            f',"thread_id":{_json_int(tid)},"thread_name":{_json_str(name)}'
            f',"process_id":{_json_int(pid)}'
        )
        if len(self._threads) < _CACHE_MAX:
            self._threads[key] = frag
        return frag


def _json_str(value: object) -> str:
    return _enc(value) if isinstance(value, str) else "null"


def _json_int(value: object) -> str:
    return str(int(value)) if isinstance(value, int) else "null"
