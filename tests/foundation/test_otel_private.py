"""One test per private OpenTelemetry name that ``_seams/otel_private`` relies on.

Each holds the behaviour we depend on, so a release that moves or changes a private name
fails here, by name, rather than somewhere downstream.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import _logs, metrics, trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk._logs import LoggerProvider, ReadWriteLogRecord
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from hyperion_otel._seams import otel_private

PACKAGE = Path(__file__).resolve().parents[2] / "hyperion_otel"


@pytest.fixture(autouse=True)
def _pristine(reset_otel_globals: object) -> Iterator[None]:
    yield


def test_tracer_provider_is_set_follows_the_global() -> None:
    assert not otel_private.tracer_provider_is_set()
    trace.set_tracer_provider(TracerProvider())
    assert otel_private.tracer_provider_is_set()


def test_the_unset_meter_provider_is_the_proxy_and_a_real_one_is_not() -> None:
    assert otel_private.is_proxy_meter_provider(metrics.get_meter_provider())
    provider = MeterProvider()
    metrics.set_meter_provider(provider)
    assert not otel_private.is_proxy_meter_provider(metrics.get_meter_provider())
    provider.shutdown()


@pytest.mark.parametrize(
    ("signal", "setter", "getter", "make"),
    [
        ("traces", trace.set_tracer_provider, trace.get_tracer_provider, TracerProvider),
        ("metrics", metrics.set_meter_provider, metrics.get_meter_provider, MeterProvider),
        ("logs", _logs.set_logger_provider, _logs.get_logger_provider, LoggerProvider),
    ],
)
def test_snapshot_restore_and_clear_undo_a_set_once_provider(
    signal: str, setter: object, getter: object, make: type
) -> None:
    before = getter()  # type: ignore[operator]
    snap = otel_private.snapshot()
    first = make()
    setter(first)  # type: ignore[operator]
    assert getter() is first  # type: ignore[operator]
    second = make()
    setter(second)  # set-once: ignored with a warning by the API  # type: ignore[operator]
    assert getter() is first  # type: ignore[operator]
    snap.restore((signal,))
    assert getter() is before  # type: ignore[operator]
    otel_private.clear((signal,))
    setter(second)  # type: ignore[operator]
    assert getter() is second  # type: ignore[operator]
    otel_private.reset((signal,))
    assert getter() is not second  # type: ignore[operator]
    for p in (first, second):
        p.shutdown()


def test_encode_logs_gives_the_otlp_request() -> None:
    record = ReadWriteLogRecord(
        _logs.LogRecord(body="hello", severity_number=SeverityNumber.INFO),
        resource=Resource({"service.name": "t"}),
        instrumentation_scope=InstrumentationScope("scope"),
    )
    request = otel_private.encode_logs([record])
    assert type(request).__name__ == "ExportLogsServiceRequest"
    [rl] = request.resource_logs
    assert rl.scope_logs[0].log_records[0].body.string_value == "hello"


# The Logs signal is still experimental in OTel Python: its documented API, SDK and exporter
# modules are ``opentelemetry._logs``, ``opentelemetry.sdk._logs`` and ``..._log_exporter``.
_DOCUMENTED = {"_logs", "_log_exporter"}


def _private(part: str) -> bool:
    return part.startswith("_") and not part.startswith("__") and part not in _DOCUMENTED


def _private_otel_imports(path: Path) -> list[str]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("opentelemetry"):
            names = [node.module or "", *(a.name for a in node.names)]
            parts = [part for n in names for part in n.split(".")]
            if any(_private(part) for part in parts):
                found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and node.attr.isupper():
            found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} .{node.attr}")
    return found


def test_no_module_but_otel_private_uses_private_otel_names() -> None:
    offenders = [
        hit
        for path in sorted(PACKAGE.rglob("*.py"))
        if path.name != "otel_private.py"
        for hit in _private_otel_imports(path)
    ]
    assert offenders == []


@pytest.mark.parametrize("protocol", ["grpc", "http"])
def test_watch_exporter_requests_sees_each_request_of_the_otlp_exporters(
    protocol: str, otlp_receiver: Any
) -> None:
    """Both transports are wrapped, and the wrapper sees the real request and its answer."""
    if protocol == "grpc":
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter

        exporter = OTLPSpanExporter(endpoint=otlp_receiver.grpc_endpoint, insecure=True)
    else:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
            OTLPSpanExporter as HTTPExporter,
        )

        exporter = HTTPExporter(endpoint=otlp_receiver.http_url("traces"))
    seen: list[str] = []

    def wrap(kind: str) -> Any:
        def wrapper(call: Any) -> Any:
            def watched(*args: Any, **kwargs: Any) -> Any:
                seen.append(kind)
                return call(*args, **kwargs)

            return watched

        return wrapper

    assert otel_private.watch_exporter_requests(exporter, wrap("http"), wrap("grpc"))
    span = TracerProvider().get_tracer("t").start_span("one")
    span.end()
    exporter.export([span])  # type: ignore[list-item]
    assert seen == [protocol] and len(otlp_receiver.spans) == 1
    exporter.shutdown()
    assert not otel_private.watch_exporter_requests(object(), wrap("http"), wrap("grpc"))


def test_update_provider_resource_merges_into_the_providers_resource() -> None:
    provider = TracerProvider(resource=Resource({"a": "1"}))
    assert otel_private.update_provider_resource(provider, Resource({"b": "2"}))
    assert dict(provider.resource.attributes).items() >= {"a": "1", "b": "2"}.items()
    assert not otel_private.update_provider_resource(object(), Resource({}))
