"""The test receiver against the real OTel SDK exporters, over gRPC and HTTP, and its faults."""

from __future__ import annotations

import gzip
import http.client
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import grpc
import pytest
from opentelemetry import metrics, trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.exporter.otlp.proto.grpc._log_exporter import OTLPLogExporter as GrpcLogExporter
from opentelemetry.exporter.otlp.proto.grpc.metric_exporter import (
    OTLPMetricExporter as GrpcMetricExporter,
)
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcSpanExporter,
)
from opentelemetry.exporter.otlp.proto.http import Compression
from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter as HttpLogExporter
from opentelemetry.exporter.otlp.proto.http.metric_exporter import (
    OTLPMetricExporter as HttpMetricExporter,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpSpanExporter,
)
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from hyperion_otel._seams import telemetry as _telemetry

from otlp_receiver import OTLPReceiver, closed_port

RESOURCE = Resource.create({"service.name": "receiver-test", "deployment.environment": "ci"})


def _exporters(rx: OTLPReceiver, transport: str, **kw: Any) -> tuple[Any, Any, Any]:
    if transport == "grpc":
        ep = rx.grpc_endpoint
        return (
            GrpcSpanExporter(endpoint=ep, insecure=True, **kw),
            GrpcMetricExporter(endpoint=ep, insecure=True, **kw),
            GrpcLogExporter(endpoint=ep, insecure=True, **kw),
        )
    return (
        HttpSpanExporter(endpoint=rx.http_url("traces"), **kw),
        HttpMetricExporter(endpoint=rx.http_url("metrics"), **kw),
        HttpLogExporter(endpoint=rx.http_url("logs"), **kw),
    )


def _finished_spans(n: int = 1) -> list[ReadableSpan]:
    mem = InMemorySpanExporter()
    tp = TracerProvider(resource=RESOURCE)
    tp.add_span_processor(SimpleSpanProcessor(mem))
    for i in range(n):
        tp.get_tracer("fault-scope").start_span(f"s{i}").end()
    tp.shutdown()
    return list(mem.get_finished_spans())


@pytest.fixture
def no_leaked_threads() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        left = [t for t in threading.enumerate() if t not in before]
        if not left:
            return
        time.sleep(0.02)
    raise AssertionError(f"threads left behind: {left}")


@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_sdk_exporters_deliver_span_metric_and_log(
    otlp_receiver: OTLPReceiver, transport: str
) -> None:
    rx = otlp_receiver
    span_exp, metric_exp, log_exp = _exporters(rx, transport, headers={"x-api-key": "k-123"})
    tp = TracerProvider(resource=RESOURCE)
    tp.add_span_processor(SimpleSpanProcessor(span_exp))
    reader = PeriodicExportingMetricReader(metric_exp, export_interval_millis=3_600_000)
    mp = MeterProvider(resource=RESOURCE, metric_readers=[reader])
    lp = LoggerProvider(resource=RESOURCE)
    lp.add_log_record_processor(SimpleLogRecordProcessor(log_exp))
    try:
        tracer = tp.get_tracer(
            "my.scope", "1.2.3", schema_url="https://opentelemetry.io/schemas/1.30.0"
        )
        with (
            tracer.start_as_current_span("parent", kind=trace.SpanKind.SERVER) as parent,
            tracer.start_as_current_span("child", attributes={"n": 7, "tags": ["a", "b"]}) as child,
        ):
            child.add_event("tick", {"k": 1.5})
            child.set_status(trace.Status(trace.StatusCode.ERROR, "boom"))
            lp.get_logger("log.scope", "0.1").emit(
                body="hello",
                severity_number=SeverityNumber.WARN,
                severity_text="WARN",
                attributes={"user": "u1"},
            )
        meter = mp.get_meter("meter.scope", "4.5")
        meter.create_counter("test.requests", unit="{request}").add(3, {"route": "/a"})
        meter.create_histogram("test.latency", unit="s").record(0.2, {"route": "/a"})
        mp.force_flush()
    finally:
        tp.shutdown()
        mp.shutdown()
        lp.shutdown()

    spans = {s.name: s for s in rx.wait_for_spans(2)}
    p, c = spans["parent"], spans["child"]
    pctx, cctx = parent.get_span_context(), child.get_span_context()
    assert p.trace_id == f"{pctx.trace_id:032x}" == c.trace_id
    assert c.span_id == f"{cctx.span_id:016x}" and c.parent_span_id == p.span_id
    assert p.parent_span_id == "" and p.kind == "SERVER" and c.kind == "INTERNAL"
    assert c.attributes == {"n": 7, "tags": ["a", "b"]}
    assert (c.status_code, c.status_message) == ("ERROR", "boom")
    assert [(e.name, e.attributes) for e in c.events] == [("tick", {"k": 1.5})]
    assert c.resource["service.name"] == "receiver-test"
    assert c.resource["deployment.environment"] == "ci"
    assert (c.scope_name, c.scope_version) == ("my.scope", "1.2.3")
    assert c.scope_schema_url == "https://opentelemetry.io/schemas/1.30.0"

    (log,) = rx.wait_for_logs(1)
    assert (log.body, log.severity_number, log.severity_text) == ("hello", 13, "WARN")
    assert log.attributes == {"user": "u1"}
    assert (log.trace_id, log.span_id) == (c.trace_id, c.span_id)
    assert (log.scope_name, log.scope_version) == ("log.scope", "0.1")
    assert log.resource["service.name"] == "receiver-test"

    m = rx.wait_for_metric("test.requests")
    assert (m.type, m.unit, m.temporality, m.is_monotonic) == (
        "sum",
        "{request}",
        "CUMULATIVE",
        True,
    )
    assert [(pt.attributes, pt.value) for pt in m.points] == [({"route": "/a"}, 3)]
    assert (m.scope_name, m.scope_version) == ("meter.scope", "4.5")
    assert m.resource["service.name"] == "receiver-test"
    h = rx.wait_for_metric("test.latency")
    (hp,) = h.points
    assert h.type == "histogram" and (hp.count, hp.sum, hp.min, hp.max) == (1, 0.2, 0.2, 0.2)
    assert len(hp.bucket_counts) == len(hp.explicit_bounds) + 1 and sum(hp.bucket_counts) == 1

    assert {r.transport for r in rx.requests} == {transport}
    assert all(hdr.get("x-api-key") == "k-123" for hdr in rx.headers)
    assert rx.request_counts["ok"] == len(rx.requests) >= 3


def test_http_gzip_and_json_encodings(otlp_receiver: OTLPReceiver) -> None:
    rx = otlp_receiver
    exp = HttpSpanExporter(endpoint=rx.http_url("traces"), compression=Compression.Gzip)
    assert exp.export(_finished_spans(1)) is SpanExportResult.SUCCESS
    assert rx.headers[0]["content-encoding"] == "gzip"

    trace_id, span_id = "5b8efff798038103d269b633813fc60c", "eee19b7ec3c1b174"
    doc = {"resourceSpans": [{
        "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": "json-svc"}}]},
        "scopeSpans": [{"scope": {"name": "json.scope"}, "spans": [{
            "traceId": trace_id, "spanId": span_id, "name": "from-json", "kind": 3,
            "startTimeUnixNano": "1000", "endTimeUnixNano": "2000",
            "attributes": [{"key": "n", "value": {"intValue": "5"}}],
        }]}],
    }]}  # fmt: skip
    conn = http.client.HTTPConnection(
        "127.0.0.1", int(rx.http_endpoint.rsplit(":", 1)[1]), timeout=5
    )
    body = gzip.compress(json.dumps(doc).encode())
    hdrs = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
    conn.request("POST", "/v1/traces", body=body, headers=hdrs)
    resp = conn.getresponse()
    assert resp.status == 200 and resp.getheader("Content-Type") == "application/json"
    assert json.loads(resp.read()) == {}
    conn.request("POST", "/v1/traces", body=b"\xff not protobuf")
    resp = conn.getresponse()
    assert resp.status == 400 and b"bad OTLP request" in resp.read()
    conn.close()
    span = rx.wait_for_spans(1, name="from-json")[0]
    assert (span.trace_id, span.span_id, span.kind) == (trace_id, span_id, "CLIENT")
    assert span.attributes == {"n": 5} and span.resource == {"service.name": "json-svc"}
    assert [r.encoding for r in rx.requests] == ["protobuf", "json", "protobuf"]


@pytest.mark.parametrize(
    ("transport", "status"), [("http", 503), ("http", 429), ("grpc", grpc.StatusCode.UNAVAILABLE)]
)
def test_status_fault_makes_exporter_retry_then_fail(
    otlp_receiver: OTLPReceiver, transport: str, status: Any
) -> None:
    rx = otlp_receiver
    key = "http_status" if transport == "http" else "grpc_status"
    rx.set_fault("status", retry_after_s=0.05, **{key: status})
    exp = _exporters(rx, transport, timeout=5)[0]
    t0 = time.monotonic()
    assert exp.export(_finished_spans(1)) is SpanExportResult.FAILURE
    # Retry-After / RetryInfo of 50 ms replaces the 1-2-4 s backoff: all 6 attempts fit.
    assert time.monotonic() - t0 < 4
    assert rx.request_counts["status"] == 6
    assert rx.spans == []
    exp.shutdown()


def test_status_fault_without_retry_hint_gives_up_at_timeout(otlp_receiver: OTLPReceiver) -> None:
    rx = otlp_receiver
    rx.set_fault("status", http_status=503)
    exp = HttpSpanExporter(endpoint=rx.http_url("traces"), timeout=1.5)
    t0 = time.monotonic()
    assert exp.export(_finished_spans(1)) is SpanExportResult.FAILURE
    assert time.monotonic() - t0 < 3
    assert 1 <= rx.request_counts["status"] <= 2  # first backoff ~1 s; the second exceeds budget
    rx.set_fault("ok")
    assert exp.export(_finished_spans(1)) is SpanExportResult.SUCCESS
    assert len(rx.wait_for_spans(1)) == 1


@pytest.mark.parametrize("transport", ["grpc", "http"])
def test_hang_fault_export_returns_at_timeout_and_stop_is_quick(
    no_leaked_threads: None, transport: str
) -> None:
    rx = OTLPReceiver().start()
    rx.set_fault("hang")
    exp = _exporters(rx, transport, timeout=1)[0]
    t0 = time.monotonic()
    assert exp.export(_finished_spans(1)) is SpanExportResult.FAILURE
    assert 0.9 <= time.monotonic() - t0 < 2.5
    assert rx.request_counts["hang"] >= 1 and rx.spans == []
    t0 = time.monotonic()
    rx.stop()  # the hung handler is still waiting: stop must release it
    assert time.monotonic() - t0 < 1.0
    exp.shutdown()


def test_slow_fault_delays_then_accepts(otlp_receiver: OTLPReceiver) -> None:
    rx = otlp_receiver
    rx.set_fault("slow", delay_s=0.3)
    exp = GrpcSpanExporter(endpoint=rx.grpc_endpoint, insecure=True, timeout=5)
    t0 = time.monotonic()
    assert exp.export(_finished_spans(2)) is SpanExportResult.SUCCESS
    assert time.monotonic() - t0 >= 0.3
    assert rx.request_counts["slow"] == 1 and len(rx.spans) == 2
    exp.shutdown()


def test_reset_fault_closes_http_connection_without_response(otlp_receiver: OTLPReceiver) -> None:
    rx = otlp_receiver
    rx.set_fault("reset")
    conn = http.client.HTTPConnection(
        "127.0.0.1", int(rx.http_endpoint.rsplit(":", 1)[1]), timeout=5
    )
    with pytest.raises(ConnectionError):  # RST: reset by peer / broken pipe / remote disconnected
        conn.request("POST", "/v1/traces", body=b"x" * 100_000)
        conn.getresponse()
    conn.close()
    exp = HttpSpanExporter(endpoint=rx.http_url("traces"), timeout=1)
    assert exp.export(_finished_spans(1)) is SpanExportResult.FAILURE
    assert rx.request_counts["reset"] >= 2 and rx.spans == []
    assert all(r.message is None for r in rx.requests)


def test_reset_fault_over_grpc_is_unavailable(otlp_receiver: OTLPReceiver) -> None:
    rx = otlp_receiver
    rx.set_fault("reset")
    exp = GrpcSpanExporter(endpoint=rx.grpc_endpoint, insecure=True, timeout=0.5)
    assert exp.export(_finished_spans(1)) is SpanExportResult.FAILURE
    assert rx.request_counts["reset"] >= 1 and rx.spans == []
    exp.shutdown()


def test_closed_port_refuses_connections() -> None:
    with closed_port() as port:
        exp = HttpSpanExporter(endpoint=f"http://127.0.0.1:{port}/v1/traces", timeout=0.5)
        t0 = time.monotonic()
        assert exp.export(_finished_spans(1)) is SpanExportResult.FAILURE
        assert time.monotonic() - t0 < 2
        with pytest.raises(ConnectionRefusedError):
            http.client.HTTPConnection("127.0.0.1", port, timeout=1).connect()


def test_unknown_path_and_get_are_rejected(otlp_receiver: OTLPReceiver) -> None:
    conn = http.client.HTTPConnection(
        "127.0.0.1", int(otlp_receiver.http_endpoint.rsplit(":", 1)[1])
    )
    conn.request("POST", "/v1/profiles", body=b"")
    resp = conn.getresponse()
    assert (resp.status, resp.read()) == (404, b"unknown path")
    conn.request("GET", "/v1/traces")
    resp = conn.getresponse()
    assert resp.status == 405 and resp.read()
    conn.close()
    assert otlp_receiver.requests == []


def test_wait_helpers_fail_clearly_and_clear_forgets(otlp_receiver: OTLPReceiver) -> None:
    rx = otlp_receiver
    with pytest.raises(AssertionError, match="expected >= 1 spans"):
        rx.wait_for_spans(1, timeout=0.05)
    with pytest.raises(AssertionError, match="'nope' not received"):
        rx.wait_for_metric("nope", timeout=0.05)
    assert rx.wait_for(lambda: False, timeout=0.05) is False
    HttpSpanExporter(endpoint=rx.http_url("traces")).export(_finished_spans(1))
    assert rx.wait_for(lambda: len(rx.spans) == 1, timeout=5)
    rx.clear()
    assert (rx.spans, rx.requests, rx.request_counts["ok"]) == ([], [], 0)
    with pytest.raises(ValueError, match="fault mode"):
        rx.set_fault("explode")  # type: ignore[arg-type]


def test_reset_otel_globals_allows_setting_providers_again(
    reset_otel_globals: Any,
) -> None:
    first = TracerProvider()
    trace.set_tracer_provider(first)
    mp = MeterProvider()
    metrics.set_meter_provider(mp)
    assert trace.get_tracer_provider() is first
    reset_otel_globals()
    assert trace.get_tracer_provider() is not first
    assert metrics.get_meter_provider() is not mp
    # The fresh metrics proxy no longer forwards to the old SDK provider.
    assert "sdk" not in type(metrics.get_meter_provider().get_meter("x")).__module__
    second = TracerProvider()
    trace.set_tracer_provider(second)
    assert trace.get_tracer_provider() is second
    assert _telemetry.tracer() is not None
    first.shutdown()
    second.shutdown()
    mp.shutdown()
