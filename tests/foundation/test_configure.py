"""configure()/shutdown(): real OTLP delivery, idempotence, respect for the application's
providers, OTEL_SDK_DISABLED, the shutdown budget against dead and hanging collectors,
local OTLP-JSON files, and a process left as it was found."""

from __future__ import annotations

import atexit
import base64
import json
import logging
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest
from google.protobuf.json_format import ParseDict
from opentelemetry import _logs, metrics, trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import hyperion_otel.sdk as sdk
from hyperion_otel import semconv
from hyperion_otel._seams import telemetry as _telemetry
from hyperion_otel._version import __version__
from hyperion_otel.sdk import _configure as sdk_configure
from hyperion_otel.settings import Settings

pytestmark = pytest.mark.usefixtures("reset_otel_globals")


@pytest.fixture(autouse=True)
def _always_shut_down():
    yield
    sdk.shutdown()


def _emit_one_of_each() -> None:
    with _telemetry.tracer().start_as_current_span("unit-of-work"):
        _telemetry.counter("hyperion.test.counter", "{item}").add(3, {"k": "v"})
        _telemetry.logger().emit(
            body="hello", severity_number=SeverityNumber.INFO, severity_text="INFO"
        )


def test_import_has_no_side_effects(tmp_path: Path) -> None:
    code = textwrap.dedent(
        """
        import os, sys, threading
        opened = []
        def hook(event, args):
            if event == "open" and isinstance(args[0], str) and not args[0].endswith((".py", ".pyc", ".so", ".pth", ".json", ".typed")) and not os.path.isdir(args[0]):
                opened.append(args[0])
        before = threading.active_count()
        sys.addaudithook(hook)
        import hyperion_otel
        from opentelemetry import trace, metrics, _logs
        from opentelemetry.trace import ProxyTracerProvider
        assert threading.active_count() == before, threading.enumerate()
        assert isinstance(trace.get_tracer_provider(), ProxyTracerProvider), trace.get_tracer_provider()
        assert type(metrics.get_meter_provider()).__name__ == "_ProxyMeterProvider"
        assert type(_logs.get_logger_provider()).__name__ == "ProxyLoggerProvider"
        assert not opened, opened
        assert not os.listdir("."), os.listdir(".")
        print("clean")
        """
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        check=False,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "clean"


@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_otlp_delivers_span_metric_and_log(otlp_receiver, protocol: str, tmp_path: Path) -> None:
    endpoint = otlp_receiver.grpc_endpoint if protocol == "grpc" else otlp_receiver.http_endpoint
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint,
        "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
        "OTEL_SERVICE_NAME": "checkout",
        "OTEL_RESOURCE_ATTRIBUTES": "deployment.environment.name=test",
        "OTEL_EXPORTER_OTLP_HEADERS": "x-api-key=abc",
        "HYPERION_OUTPUT_DIR": str(tmp_path),
    }
    tel = sdk.configure(Settings.from_env(env))
    _emit_one_of_each()
    report = tel.shutdown()
    assert report.total_lost == 0

    (span,) = otlp_receiver.wait_for_spans(1, name="unit-of-work")
    assert span.resource["service.name"] == "checkout"
    assert span.resource["deployment.environment.name"] == "test"
    assert span.resource["telemetry.sdk.language"] == "python"
    assert "process.pid" in span.resource and "host.name" in span.resource
    assert span.scope_name == semconv.SCOPE_NAME and span.scope_version == __version__
    assert span.scope_schema_url == semconv.SCHEMA_URL

    metric = otlp_receiver.wait_for_metric("hyperion.test.counter")
    assert metric.points[0].value == 3 and metric.points[0].attributes == {"k": "v"}
    assert metric.resource["service.name"] == "checkout"

    (log,) = otlp_receiver.wait_for_logs(1)
    assert log.body == "hello"
    assert log.trace_id == span.trace_id and log.span_id == span.span_id
    assert all(h.get("x-api-key") == "abc" for h in otlp_receiver.headers)


def test_configure_twice_is_harmless(otlp_receiver, tmp_path: Path) -> None:
    settings = Settings(
        otlp_endpoint=otlp_receiver.http_endpoint,
        otlp_protocol="http/protobuf",
        output_dir=str(tmp_path),
    )
    first = sdk.configure(settings)
    second = sdk.configure(settings)
    assert first is second
    with _telemetry.tracer().start_as_current_span("once"):
        pass
    first.shutdown()
    time.sleep(0.2)
    assert [s.name for s in otlp_receiver.spans] == ["once"]


def test_application_provider_is_kept(otlp_receiver, tmp_path: Path) -> None:
    app_exporter = InMemorySpanExporter()
    app_provider = TracerProvider()
    app_provider.add_span_processor(SimpleSpanProcessor(app_exporter))
    trace.set_tracer_provider(app_provider)

    tel = sdk.configure(
        Settings(otlp_endpoint=otlp_receiver.grpc_endpoint, output_dir=str(tmp_path))
    )
    assert trace.get_tracer_provider() is app_provider
    assert "traces" not in tel.owned
    with _telemetry.tracer().start_as_current_span("shared"):
        pass
    tel.shutdown()
    assert [s.name for s in app_exporter.get_finished_spans()] == ["shared"]
    assert [s.name for s in otlp_receiver.wait_for_spans(1)] == ["shared"]
    assert trace.get_tracer_provider() is app_provider  # still the application's after shutdown
    app_provider.shutdown()


def test_sdk_disabled_installs_nothing(tmp_path: Path) -> None:
    before = (
        trace.get_tracer_provider(),
        metrics.get_meter_provider(),
        _logs.get_logger_provider(),
    )
    tel = sdk.configure(
        Settings.from_env({"OTEL_SDK_DISABLED": "true", "HYPERION_OUTPUT_DIR": str(tmp_path)})
    )
    assert tel.disabled and tel.tracer_provider is None
    assert (
        trace.get_tracer_provider(),
        metrics.get_meter_provider(),
        _logs.get_logger_provider(),
    ) == before
    span = _telemetry.tracer().start_span("noop")
    assert not span.get_span_context().is_valid
    span.end()
    tel.shutdown()
    assert not (tmp_path / "traces.jsonl").exists()


def test_local_otlp_json_files_parse_back_into_spans(tmp_path: Path) -> None:
    tel = sdk.configure(Settings(output_dir=str(tmp_path)))
    _emit_one_of_each()
    tel.shutdown()
    lines = (tmp_path / "traces.jsonl").read_text().splitlines()
    assert lines
    spans = []
    for line in lines:
        doc = json.loads(line)
        for rs in doc["resourceSpans"]:
            for ss in rs["scopeSpans"]:
                for sp in ss["spans"]:
                    assert (
                        len(sp["traceId"]) == 32 and len(sp["spanId"]) == 16
                    )  # hex, as OTLP/JSON wants
                    for key in ("traceId", "spanId"):
                        sp[key] = base64.b64encode(bytes.fromhex(sp[key])).decode()
        request = ParseDict(doc, ExportTraceServiceRequest())
        spans += [s for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]
    assert [s.name for s in spans] == ["unit-of-work"]
    assert (tmp_path / "metrics.jsonl").read_text().count("hyperion.test.counter") >= 1
    assert "hello" in (tmp_path / "logs.jsonl").read_text()
    assert (tmp_path / "traces.jsonl").stat().st_mode & 0o777 == 0o640


def test_local_file_is_bounded(tmp_path: Path) -> None:
    tel = sdk.configure(Settings(output_dir=str(tmp_path), telemetry_file_max_mb=0.002))
    for _ in range(20):
        with _telemetry.tracer().start_as_current_span("x" * 100):
            pass
        tel.force_flush(2)
    tel.shutdown()
    assert (tmp_path / "traces.jsonl").stat().st_size <= 4096
    assert (tmp_path / "traces.jsonl.1").exists()


@pytest.mark.parametrize("fault", ["down", "hang"])
@pytest.mark.parametrize("protocol", ["grpc", "http/protobuf"])
def test_shutdown_within_budget_reports_loss(
    otlp_receiver, fault, protocol, tmp_path, capsys
) -> None:
    if fault == "down":
        otlp_receiver.stop()
    else:
        otlp_receiver.set_fault("hang")
    endpoint = otlp_receiver.grpc_endpoint if protocol == "grpc" else otlp_receiver.http_endpoint
    sdk.configure(
        Settings(
            otlp_endpoint=endpoint, otlp_protocol=protocol, output_dir=str(tmp_path), log_outputs=()
        )
    )
    for _ in range(3000):
        with _telemetry.tracer().start_as_current_span("lost"):
            pass
    start = time.monotonic()
    report = sdk.shutdown()
    elapsed = time.monotonic() - start
    assert report is not None
    assert elapsed <= 2.0 + 0.3, elapsed  # budget plus scheduling slack on a loaded machine
    assert report.lost["traces"] + report.unconfirmed["traces"] == 3000
    err = capsys.readouterr().err
    assert err.count("shutdown took") == 1
    if fault == "down":  # nothing was ever on the wire
        assert "not delivered: 3000 spans via otlp (failed" in err, err


def test_process_left_as_found(tmp_path: Path, otlp_receiver, monkeypatch) -> None:
    registered: list[object] = []
    monkeypatch.setattr(atexit, "register", lambda f, *a, **k: registered.append(f) or f)
    monkeypatch.setattr(atexit, "unregister", registered.remove)
    # Warm up once so that modules imported lazily (grpc, exporters) register their own
    # atexit hooks before we count ours.
    sdk.configure(Settings(otlp_endpoint=otlp_receiver.grpc_endpoint, output_dir=str(tmp_path)))
    sdk.shutdown()
    providers = (
        trace.get_tracer_provider(),
        metrics.get_meter_provider(),
        _logs.get_logger_provider(),
    )

    def our_threads() -> set[threading.Thread]:
        # The receiver's gRPC pool grows on demand; it is the test's, not ours.
        return {t for t in threading.enumerate() if not t.name.startswith("otlp-receiver")}

    threads = our_threads()
    otel_filters = {
        n: list(logging.getLogger(n).filters)
        for n in logging.root.manager.loggerDict
        if n.startswith("opentelemetry")
    }
    sdk.configure(Settings(otlp_endpoint=otlp_receiver.grpc_endpoint, output_dir=str(tmp_path)))
    _emit_one_of_each()
    assert trace.get_tracer_provider() is not providers[0]
    assert registered == [sdk_configure._atexit_shutdown]
    sdk.shutdown()
    assert (
        trace.get_tracer_provider(),
        metrics.get_meter_provider(),
        _logs.get_logger_provider(),
    ) == providers
    assert registered == []
    deadline = time.monotonic() + 3
    while our_threads() != threads and time.monotonic() < deadline:
        time.sleep(0.05)
    assert our_threads() == threads
    assert {n: list(logging.getLogger(n).filters) for n in otel_filters} == otel_filters
    # and it can be configured again afterwards
    sdk.configure(Settings(output_dir=str(tmp_path)))
    assert type(trace.get_tracer_provider()).__name__ == "TracerProvider"


def test_telemetry_is_a_context_manager_that_shuts_down_like_shutdown(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {"HYPERION_OUTPUT_DIR": str(tmp_path), "HYPERION_LOG_OUTPUT": "file"}
    )
    with sdk.configure(settings) as tel:
        assert sdk.get_telemetry() is tel and not tel.is_shutdown
        trace.get_tracer("t").start_span("inside").end()
    assert tel.is_shutdown and sdk.get_telemetry() is None
    assert atexit.unregister  # the module-level hook went with it:
    assert sdk_configure._atexit_registered is False
    assert isinstance(trace.get_tracer_provider(), trace.ProxyTracerProvider)
    assert '"inside"' in (tmp_path / "traces.jsonl").read_text()
