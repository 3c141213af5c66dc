"""OTLP output: records reach a real receiver with trace ids; exporters cannot loop or block."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
from opentelemetry import _logs
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
from opentelemetry.sdk._logs import LoggerProvider, ReadableLogRecord
from opentelemetry.sdk._logs.export import (
    BatchLogRecordProcessor,
    InMemoryLogRecordExporter,
    LogRecordExporter,
    LogRecordExportResult,
    SimpleLogRecordProcessor,
)
from opentelemetry.sdk.trace import TracerProvider

import hyperion_otel.logging as hl
from hyperion_otel.logging import LogCategory, LogOutput, OtlpHandler, fault_counts

from otlp_receiver import OTLPReceiver

_tracer = TracerProvider().get_tracer("test")


@pytest.fixture
def provider_with(
    reset_otel_globals: Callable[[], None],
) -> Iterator[Callable[..., LoggerProvider]]:
    """Build an SDK LoggerProvider with one processor and install it globally."""
    made: list[LoggerProvider] = []

    def make(processor: Any) -> LoggerProvider:
        provider = LoggerProvider()
        provider.add_log_record_processor(processor)
        _logs.set_logger_provider(provider)
        made.append(provider)
        return provider

    yield make
    for p in made:
        p.shutdown()


def test_records_become_otel_log_records_with_trace_context(
    provider_with: Callable[..., LoggerProvider],
) -> None:
    exporter = InMemoryLogRecordExporter()
    provider_with(SimpleLogRecordProcessor(exporter))
    hl.set_log_level("debug")
    hl.configure_logging(LogOutput.OTLP)
    with _tracer.start_as_current_span("generate") as span:
        hl.get_logger(LogCategory.MODEL).warning(
            "slow step %d", 7, extra={"step": 7, "tags": ["a", "b"], "obj": {"x": 1}}
        )
    try:
        raise ValueError("bad shape")
    except ValueError:
        hl.get_logger().exception("failed")
    first, second = (r.log_record for r in exporter.get_finished_logs())
    ctx = span.get_span_context()
    assert first.body == "slow step 7"
    assert (
        first.severity_text == "WARN"
        and first.severity_number is not None
        and first.severity_number.value == 13
    )
    assert (first.trace_id, first.span_id) == (ctx.trace_id, ctx.span_id)
    attrs = dict(first.attributes or {})
    assert attrs["hyperion.log.category"] == "model"
    assert attrs["step"] == 7 and list(attrs["tags"]) == ["a", "b"] and attrs["obj"] == "{'x': 1}"
    assert attrs["code.function.name"] == "test_records_become_otel_log_records_with_trace_context"
    assert attrs["code.file.path"] == __file__ and isinstance(attrs["code.line.number"], int)
    assert attrs["thread.name"] == "MainThread"
    assert second.trace_id in (0, None)
    sattrs = dict(second.attributes or {})
    assert sattrs["exception.type"] == "ValueError" and sattrs["exception.message"] == "bad shape"
    assert "Traceback" in sattrs["exception.stacktrace"]
    assert second.severity_text == "ERROR"


def test_records_reach_a_real_otlp_receiver(
    provider_with: Callable[..., LoggerProvider], otlp_receiver: OTLPReceiver
) -> None:
    provider = provider_with(
        BatchLogRecordProcessor(OTLPLogExporter(endpoint=otlp_receiver.http_url("logs")))
    )
    hl.apply_logging_settings(level="info", outputs="otlp", categories="all")
    with _tracer.start_as_current_span("request") as span:
        hl.get_logger(LogCategory.MEMORY).info(
            "pool grown to %d MiB", 64, extra={"pool.bytes": 64 << 20}
        )
    hl.get_logger().info("outside any span")
    assert provider.force_flush(10_000)
    logs = sorted(otlp_receiver.wait_for_logs(2, timeout=10), key=lambda r: r.time_unix_nano)
    ctx = span.get_span_context()
    assert logs[0].body == "pool grown to 64 MiB"
    assert logs[0].trace_id == f"{ctx.trace_id:032x}" and logs[0].span_id == f"{ctx.span_id:016x}"
    assert logs[0].severity_number == 9 and logs[0].severity_text == "INFO"
    assert logs[0].attributes["hyperion.log.category"] == "memory"
    assert logs[0].attributes["pool.bytes"] == 64 << 20
    assert logs[0].scope_name == "hyperion_otel"
    assert logs[1].body == "outside any span" and logs[1].trace_id == ""


class FailingExporter(LogRecordExporter):
    """Raises on export and, like real exporters, logs about it, through every path."""

    def __init__(self) -> None:
        self.calls = 0

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        self.calls += 1
        logging.getLogger("hyperion").error("exporter trouble (hyperion logger)")
        logging.getLogger("opentelemetry.exporter.test").warning("exporter trouble (otel logger)")
        logging.getLogger("urllib3.connectionpool").warning("exporter trouble (a library)")
        raise ConnectionError("collector down")

    def shutdown(self) -> None:
        pass

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


@pytest.fixture
def otlp_on_root() -> Iterator[OtlpHandler]:
    """An OtlpHandler on the root logger too, the setup in which the SDK's messages would loop."""
    handler = OtlpHandler()
    root = logging.getLogger()
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)


def test_failing_synchronous_exporter_neither_recurses_nor_blocks(
    provider_with: Callable[..., LoggerProvider], otlp_on_root: OtlpHandler
) -> None:
    exporter = FailingExporter()
    provider_with(SimpleLogRecordProcessor(exporter))
    hl.configure_logging(LogOutput.OTLP)
    done = threading.Event()

    def app() -> None:
        for i in range(20):
            hl.get_logger().warning("app record %d", i)
        done.set()

    t = threading.Thread(target=app)
    t.start()
    t.join(10)
    assert done.is_set(), "logging blocked"
    assert exporter.calls == 20  # one export per app record: nothing looped back
    assert fault_counts().get("otlp_recursion", 0) >= 20


def test_exporter_logging_from_the_batch_thread_does_not_feed_back(
    provider_with: Callable[..., LoggerProvider],
) -> None:
    exporter = FailingExporter()
    provider = provider_with(BatchLogRecordProcessor(exporter, schedule_delay_millis=10))
    hl.configure_logging(LogOutput.OTLP)
    hl.get_logger().warning("one app record")
    provider.force_flush(5000)
    calls = exporter.calls
    provider.force_flush(5000)
    assert calls == 1 and exporter.calls == 1  # the exporter's own warning was not exported


class BlockingExporter(LogRecordExporter):
    def __init__(self) -> None:
        self.release = threading.Event()
        self.entered = threading.Event()

    def export(self, batch: Sequence[ReadableLogRecord]) -> LogRecordExportResult:
        self.entered.set()
        self.release.wait(30)
        return LogRecordExportResult.SUCCESS

    def shutdown(self) -> None:
        self.release.set()

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        return True


def test_a_hung_exporter_does_not_block_logging(
    provider_with: Callable[..., LoggerProvider],
) -> None:
    exporter = BlockingExporter()
    provider_with(
        BatchLogRecordProcessor(
            exporter, schedule_delay_millis=10, max_queue_size=64, max_export_batch_size=8
        )
    )
    hl.configure_logging(LogOutput.OTLP)
    hl.get_logger().warning("first")
    assert exporter.entered.wait(10)  # the exporter is now stuck
    done = threading.Event()

    def app() -> None:
        for i in range(500):  # far beyond the queue: the SDK drops, we go on
            hl.get_logger().warning("while hung %d", i)
        done.set()

    t = threading.Thread(target=app)
    t.start()
    t.join(10)
    exporter.release.set()
    assert done.is_set(), "logging blocked behind a hung exporter"


def test_no_sdk_means_a_cheap_no_op(reset_otel_globals: Callable[[], None]) -> None:
    handler = OtlpHandler()
    lg = logging.getLogger("otlptest.nosdk")
    lg.addHandler(handler)
    lg.propagate = False
    try:
        lg.warning("goes nowhere")
    finally:
        lg.removeHandler(handler)
        lg.propagate = True
    assert fault_counts() == {}


def test_opentelemetry_records_are_never_bridged() -> None:
    exporter = InMemoryLogRecordExporter()
    provider = LoggerProvider()
    provider.add_log_record_processor(SimpleLogRecordProcessor(exporter))
    handler = OtlpHandler(otel_logger=provider.get_logger("t"))
    rec = logging.LogRecord(
        "opentelemetry.sdk._logs", logging.WARNING, __file__, 1, "x", None, None
    )
    assert handler.handle(rec) is False
    rec2 = logging.LogRecord("app", logging.WARNING, __file__, 1, "y", None, None)
    assert handler.handle(rec2) is True
    assert [r.log_record.body for r in exporter.get_finished_logs()] == ["y"]
    provider.shutdown()


def test_a_record_kept_from_otlp_to_avoid_a_loop_is_explained_in_words(
    provider_with: Callable[..., LoggerProvider],
    otlp_on_root: OtlpHandler,
    capsys: pytest.CaptureFixture[str],
) -> None:
    provider_with(SimpleLogRecordProcessor(FailingExporter()))
    hl.configure_logging(LogOutput.OTLP)
    hl.get_logger().warning("app record")
    err = capsys.readouterr().err
    line = next(x for x in err.splitlines() if x.startswith("hyperion-otel logging:"))
    assert "was not sent over OTLP, which would loop" in line
    assert "the console and the log file still have it" in line
    assert "otlp_recursion fault" not in line
