"""agent.yaml's file_log receiver applied to real rotated JSON logs of hyperion_otel.logging.

The logger writes records inside and outside spans, rotates at ~2 KiB (plain or gzip
backups), and the receiver (interpreted by stanza_interp) must turn every line of the
live file and of every backup into exactly one log record with the timestamp, severity,
trace context, scope, body and semconv attributes of the line.
"""

from __future__ import annotations

import gzip
import json
import logging
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from collector_model import expand_env, load
from opentelemetry.sdk.trace import TracerProvider
from stanza_interp import Entry, FileLogReceiver, UnsupportedError, parse_gotime_rfc3339nano

import hyperion_otel.logging as hl
from hyperion_otel import semconv

MAX_SIZE_MB = 0.002  # ~2 KiB: a rotation every few records


def receiver(log_dir: Path) -> FileLogReceiver:
    cfg = load("agent.yaml")["receivers"]["file_log/hyperion"]
    return FileLogReceiver(expand_env(cfg, {"HYPERION_LOG_DIR": str(log_dir)}))


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[Path]:
    path = tmp_path / "hyperion.log"
    try:
        yield path
    finally:
        hl.shutdown_logging()


def start_logging(path: Path, compress: bool) -> None:
    hl.apply_logging_settings(
        level="trace",
        outputs="file",
        file=path,
        max_size_mb=MAX_SIZE_MB,
        max_files=1000,
        compress=compress,
        include_thread_id=True,
    )


def write_batch(tag: str, count: int) -> list[str]:
    """``count`` records at every level, half inside a span, some with an exception."""
    tracer = TracerProvider().get_tracer("filelog-test")
    model = hl.get_logger(hl.LogCategory.MODEL)
    memory = hl.get_logger(hl.LogCategory.MEMORY)
    levels = [lvl.stdlib for lvl in hl.LogLevel]
    messages = []
    for i in range(count):
        msg = f"{tag} record {i}"
        messages.append(msg)
        level = levels[i % len(levels)]
        extra = {"request_id": f"req-{i}", "tokens": i, "hyperion.step": i % 3}
        if i % 2:
            with tracer.start_as_current_span(f"span {i}"):
                model.log(level, msg, extra=extra)
        elif i % 5 == 0:
            try:
                raise ValueError(f"bad value {i}")
            except ValueError:
                memory.error(msg, exc_info=True)
        else:
            memory.log(level, msg)
    return messages


def raw_lines(directory: Path) -> dict[str, dict[str, Any]]:
    """Ground truth: every line on disk, by message."""
    lines: dict[str, dict[str, Any]] = {}
    for f in sorted(directory.iterdir()):
        if not f.name.startswith("hyperion.log") or f.name.endswith(".lock"):
            continue
        data = gzip.decompress(f.read_bytes()) if f.name.endswith(".gz") else f.read_bytes()
        for line in data.splitlines():
            rec = json.loads(line)
            lines[rec["message"]] = rec
    return lines


def check_mapping(entry: Entry, raw: dict[str, Any]) -> None:
    assert entry.errors == []
    assert entry.body == raw["message"]
    assert entry.timestamp == parse_gotime_rfc3339nano(raw["timestamp"])
    assert entry.timestamp.utcoffset().total_seconds() == 0  # type: ignore[union-attr]
    assert (entry.severity, entry.severity_text) == (raw["severity_number"], raw["severity_text"])
    assert entry.scope_name == raw["logger"]
    if "trace_id" in raw:
        assert entry.trace_id.hex() == raw["trace_id"] and len(entry.trace_id) == 16
        assert entry.span_id.hex() == raw["span_id"] and len(entry.span_id) == 8
        assert entry.trace_flags == bytes.fromhex(raw["trace_flags"])
    else:
        assert entry.trace_id == entry.span_id == entry.trace_flags == b""
    attrs = entry.attributes
    assert attrs[semconv.HYPERION_LOG_CATEGORY] == raw["category"]
    assert attrs[semconv.THREAD_ID] == raw["thread_id"] and isinstance(
        attrs[semconv.THREAD_ID], int
    )
    assert attrs[semconv.THREAD_NAME] == raw["thread_name"]
    assert entry.resource["process.pid"] == raw["process_id"]
    assert entry.resource["service.name"] == "hyperion-otel"
    for key in (semconv.CODE_FILE_PATH, semconv.CODE_LINE_NUMBER, semconv.CODE_FUNCTION_NAME):
        assert attrs[key] == raw[key]
    assert isinstance(attrs[semconv.CODE_LINE_NUMBER], int)
    for key in (semconv.EXCEPTION_TYPE, semconv.EXCEPTION_MESSAGE, semconv.EXCEPTION_STACKTRACE):
        assert attrs.get(key) == raw.get(key)
    for key, value in (raw.get("attributes") or {}).items():
        assert attrs[key] == value
    # What became a field of the record is not repeated as an attribute.
    lifted = {
        "timestamp",
        "severity_text",
        "severity_number",
        "logger",
        "category",
        "message",
        "thread_id",
        "thread_name",
        "process_id",
        "trace_id",
        "span_id",
        "trace_flags",
        "attributes",
    }
    assert lifted.isdisjoint(attrs)
    assert attrs["log.file.name"].startswith("hyperion.log")


@pytest.mark.parametrize("compress", [True, False], ids=["gzip-backups", "plain-backups"])
def test_every_line_of_live_and_rotated_files_maps_to_one_record(
    log_file: Path, compress: bool
) -> None:
    start_logging(log_file, compress)
    messages = write_batch("one-pass", 40)
    assert hl.force_flush_logging(10.0)
    hl.shutdown_logging()

    backups = [
        f.name
        for f in log_file.parent.iterdir()
        if f.name.startswith("hyperion.log.") and not f.name.endswith(".lock")
    ]
    assert len(backups) >= 5, backups
    assert all(name.endswith(".gz") for name in backups) == compress

    entries = receiver(log_file.parent).poll()
    raw = raw_lines(log_file.parent)
    assert sorted(e.body for e in entries) == sorted(messages) == sorted(raw)
    for entry in entries:
        check_mapping(entry, raw[entry.body])
    severities = {e.severity_text: e.severity for e in entries}
    assert severities == {"TRACE": 1, "DEBUG": 5, "INFO": 9, "WARN": 13, "ERROR": 17, "FATAL": 21}
    assert sum(1 for e in entries if e.trace_id) == 20
    assert any(semconv.EXCEPTION_STACKTRACE in e.attributes for e in entries)


def test_lines_read_while_live_are_not_read_again_once_rotated_and_compressed(
    log_file: Path,
) -> None:
    """The agent polls while the app logs: the live file is read, then rotated, renamed and
    gzipped; the compressed copy must be continued from its offset, not read again."""
    rx = receiver(log_file.parent)
    start_logging(log_file, compress=True)
    seen: list[str] = []
    written: list[str] = []
    for round_no in range(6):
        written += write_batch(f"round {round_no}", 3)
        assert hl.force_flush_logging(10.0)
        seen += [e.body for e in rx.poll()]
    hl.shutdown_logging()
    seen += [e.body for e in rx.poll()]
    assert any(f.name.endswith(".gz") for f in log_file.parent.iterdir())
    assert sorted(seen) == sorted(written)  # none lost, none twice


def test_a_line_that_breaks_the_schema_is_reported_not_silently_mapped(tmp_path: Path) -> None:
    """Integer trace flags or a non-RFC 3339 timestamp would make the Collector log an error
    per line; the interpreter surfaces it the same way."""
    line = {
        "timestamp": "25/11/2026 18:00",
        "severity_text": "INFO",
        "severity_number": 9,
        "logger": "hyperion",
        "message": "m",
        "trace_id": "ab" * 16,
        "span_id": "cd" * 8,
        "trace_flags": 1,
    }
    (tmp_path / "hyperion.log").write_text(json.dumps(line) + "\n")
    (entry,) = receiver(tmp_path).poll()
    assert any("time" in e or "timestamp" in e for e in entry.errors)
    assert any("trace_flags" in e for e in entry.errors)


def test_the_interpreter_refuses_operators_it_does_not_model(tmp_path: Path) -> None:
    cfg = expand_env(
        load("agent.yaml")["receivers"]["file_log/hyperion"], {"HYPERION_LOG_DIR": str(tmp_path)}
    )
    cfg["operators"] = [*cfg["operators"], {"type": "regex_parser", "regex": ".*"}]
    (tmp_path / "hyperion.log").write_text('{"message": "m"}\n')
    with pytest.raises(UnsupportedError):
        FileLogReceiver(cfg).poll()


def test_gotime_layout_accepts_what_the_logger_writes() -> None:
    ts = parse_gotime_rfc3339nano("2026-11-25T18:00:00.123456Z")
    assert ts == datetime.fromisoformat("2026-11-25T18:00:00.123456+00:00")
    logging.getLogger(__name__).debug("parsed %s", ts)
