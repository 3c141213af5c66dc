"""The JSON-lines schema: fields, trace correlation, and always-valid JSON."""

from __future__ import annotations

import datetime as dt
import json
import logging
import pathlib
import re
import sys
import threading
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st
from opentelemetry.sdk.trace import TracerProvider

from hyperion_otel.logging import JsonFormatter, LogLevel, TextFormatter

_RFC3339_UTC_MICROS = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")


def make_record(
    msg: object = "hello %s",
    args: Any = ("world",),
    *,
    name: str = "hyperion.memory",
    level: int = logging.INFO,
    extra: dict[str, Any] | None = None,
    exc_info: Any = None,
) -> logging.LogRecord:
    rec = logging.getLogger(name).makeRecord(
        name, level, "/src/pool.py", 42, msg, args, exc_info, func="grow", extra=extra
    )
    return rec


def render(record: logging.LogRecord, **kw: bool) -> dict[str, Any]:
    line = JsonFormatter(**kw).format_bytes(record)
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    out: dict[str, Any] = json.loads(line)
    return out


def test_schema_of_a_plain_record() -> None:
    rec = make_record(extra={"pool": "kv", "bytes": 4096, "ratio": 0.5})
    out = render(rec)
    assert list(out) == [
        "timestamp",
        "severity_text",
        "severity_number",
        "logger",
        "category",
        "message",
        "code.file.path",
        "code.line.number",
        "code.function.name",
        "attributes",
    ]
    assert _RFC3339_UTC_MICROS.fullmatch(out["timestamp"])
    created = dt.datetime.fromtimestamp(rec.created, dt.timezone.utc)
    parsed = dt.datetime.strptime(out["timestamp"], "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=dt.timezone.utc
    )
    assert abs((parsed - created).total_seconds()) < 1e-5
    assert out["severity_text"] == "INFO" and out["severity_number"] == 9
    assert out["logger"] == "hyperion.memory" and out["category"] == "memory"
    assert out["message"] == "hello world"
    assert out["code.file.path"] == "/src/pool.py"
    assert out["code.line.number"] == 42
    assert out["code.function.name"] == "grow"
    assert out["attributes"] == {"pool": "kv", "bytes": 4096, "ratio": 0.5}


@pytest.mark.parametrize(
    ("name", "category"),
    [
        ("hyperion", "general"),
        ("hyperion.model", "model"),
        ("hyperion.performance.ops", "performance"),
        ("somebody.else", "general"),
    ],
)
def test_category_comes_from_the_logger_name(name: str, category: str) -> None:
    assert render(make_record(name=name))["category"] == category


def test_levels_map_to_otel_severities() -> None:
    got = [
        (
            render(make_record(level=lv.stdlib))["severity_text"],
            render(make_record(level=lv.stdlib))["severity_number"],
        )
        for lv in LogLevel
    ]
    assert got == [
        ("TRACE", 1),
        ("DEBUG", 5),
        ("INFO", 9),
        ("WARN", 13),
        ("ERROR", 17),
        ("FATAL", 21),
    ]


def test_optional_fields_follow_log_config() -> None:
    rec = make_record()
    out = render(rec, include_timestamp=False, include_thread_id=True)
    assert "timestamp" not in out
    assert out["thread_id"] == threading.get_ident()
    assert out["thread_name"] == threading.current_thread().name
    assert out["process_id"] == rec.process


def test_trace_correlation_inside_a_span() -> None:
    tracer = TracerProvider().get_tracer("test")
    assert "trace_id" not in render(make_record())
    with tracer.start_as_current_span("request") as span:
        out = render(make_record())
    ctx = span.get_span_context()
    assert out["trace_id"] == f"{ctx.trace_id:032x}"
    assert out["span_id"] == f"{ctx.span_id:016x}"
    assert out["trace_flags"] == f"{ctx.trace_flags:02x}"
    assert int(out["trace_flags"], 16) & 0x01  # sampled


def test_exception_fields() -> None:
    try:
        raise KeyError("missing block")
    except KeyError:
        rec = make_record(level=logging.ERROR, exc_info=sys.exc_info())
    out = render(rec)
    assert out["exception.type"] == "KeyError"
    assert out["exception.message"] == "'missing block'"
    assert out["exception.stacktrace"].startswith("Traceback (most recent call last):")
    assert "raise KeyError" in out["exception.stacktrace"]


def test_exception_type_is_qualified_outside_builtins() -> None:
    from hyperion_otel.errors import ModelError

    try:
        raise ModelError("bad checkpoint")
    except ModelError:
        rec = make_record(exc_info=sys.exc_info())
    out = render(rec)
    assert out["exception.type"] == "hyperion_otel.errors.ModelError"
    assert out["exception.message"] == "[MODEL] bad checkpoint"


def test_stack_info_is_code_stacktrace() -> None:
    rec = make_record()
    rec.stack_info = "Stack (most recent call last):\n  File x"
    assert render(rec)["code.stacktrace"].startswith("Stack")


class _Unprintable:
    def __repr__(self) -> str:
        raise RuntimeError("no repr")


def test_values_json_cannot_encode_still_give_valid_json() -> None:
    circular: list[Any] = []
    circular.append(circular)
    extra = {
        "nan": float("nan"),
        "inf": float("-inf"),
        "obj": object(),
        "broken": _Unprintable(),
        "tuple_keys": {(1, 2): "a", 3: "b"},
        "circular": circular,
        "when": dt.datetime(2025, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc),
        "path": pathlib.PurePosixPath("/tmp/x"),
        "level": LogLevel.INFO,
        "set": {1},
        "bytes": b"\xff",
    }
    out = render(make_record(extra=extra))["attributes"]
    assert out["nan"] == "nan" and out["inf"] == "-inf"
    assert out["obj"].startswith("<object object at")
    assert out["broken"] == "<unrepresentable _Unprintable>"
    assert out["tuple_keys"] == {"(1, 2)": "a", "3": "b"}
    assert out["circular"] == ["<circular>"]
    assert out["when"] == "2025-01-02T03:04:05+00:00"
    assert out["path"] == "/tmp/x"
    assert out["level"] == 9
    assert out["set"] == [1]
    assert out["bytes"] == "b'\\xff'"


def test_unicode_newlines_and_lone_surrogates() -> None:
    msg = 'línea 1\nline "2"\t\u2028 \U0001f680 \x00 \udc80'
    line = JsonFormatter().format_bytes(make_record(msg, None))
    assert line.count(b"\n") == 1
    assert "línea".encode() in line and "\U0001f680".encode() in line  # not \u-escaped
    assert json.loads(line)["message"] == msg  # the surrogate travels as a \\udc80 JSON escape


def test_bad_format_arguments_do_not_lose_the_record() -> None:
    out = render(make_record("%d items", ("many",)))
    assert "'%d items'" in out["message"] and "many" in out["message"]


def test_non_string_message() -> None:
    assert render(make_record({"k": 1}, None))["message"] == "{'k': 1}"


@settings(max_examples=150, deadline=None)
@given(
    msg=st.text(),
    extra=st.dictionaries(
        st.text().filter(
            lambda k: (
                k not in logging.LogRecord("x", 0, "x", 0, "x", None, None).__dict__
                and k not in ("message", "asctime")
            )
        ),
        st.recursive(
            st.none() | st.booleans() | st.integers() | st.floats() | st.text(),
            lambda children: (
                st.lists(children, max_size=3) | st.dictionaries(st.text(), children, max_size=3)
            ),
            max_leaves=8,
        ),
        max_size=4,
    ),
)
def test_any_message_and_extras_give_one_valid_json_line(msg: str, extra: dict[str, Any]) -> None:
    line = JsonFormatter(include_thread_id=True).format_bytes(make_record(msg, None, extra=extra))
    assert line.endswith(b"\n") and line.count(b"\n") == 1
    out = json.loads(line)
    assert out["message"] == msg
    assert set(out.get("attributes", {})) == set(extra)


def test_formatter_is_a_stdlib_formatter(tmp_path: pathlib.Path) -> None:
    """Usable with any stdlib handler, e.g. via logging.config."""
    import logging.config

    path = tmp_path / "std.log"
    logging.config.dictConfig(
        {
            "version": 1,
            "incremental": False,
            "disable_existing_loggers": False,
            "formatters": {"j": {"()": JsonFormatter, "include_thread_id": True}},
            "handlers": {
                "f": {"class": "logging.FileHandler", "filename": str(path), "formatter": "j"}
            },
            "loggers": {
                "hyperion.test.dictconfig": {"handlers": ["f"], "level": "INFO", "propagate": False}
            },
        }
    )
    lg = logging.getLogger("hyperion.test.dictconfig")
    try:
        lg.info("via dictConfig", extra={"k": 1})
    finally:
        for h in list(lg.handlers):
            lg.removeHandler(h)
            h.close()
        lg.setLevel(logging.NOTSET)
        lg.propagate = True
    out = json.loads(path.read_text())
    assert out["message"] == "via dictConfig" and out["attributes"] == {"k": 1}


def test_text_formatter_is_readable_and_one_line() -> None:
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("s") as span:
        text = TextFormatter().format(make_record(extra={"pool": "kv cache", "n": 3}))
    ctx = span.get_span_context()
    assert "\n" not in text
    assert re.match(r"\d{4}-\d\d-\d\dT\S+Z INFO  hyperion\.memory  hello world", text)
    assert "pool='kv cache' n=3" in text
    assert f"trace_id={ctx.trace_id:032x}" in text
