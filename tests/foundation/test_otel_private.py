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
from opentelemetry.sdk.trace.export import (
    BatchSpanProcessor,
    SimpleSpanProcessor,
    SpanExporter,
    SpanExportResult,
)
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
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


# ``getattr``/``setattr``/``hasattr``/``delattr`` with a literal private name reach past the
# attribute check below; the static check cannot tell whose object it is, so every such use
# outside ``otel_private`` is an offender unless listed here: (file, name) -> why it is
# legitimate (never an OpenTelemetry object).
_REFLECTIVE = ("getattr", "setattr", "hasattr", "delattr")
NOT_OTEL: dict[tuple[str, str], str] = {
    ("hyperion_otel/logging/_setup.py", "_levelToName"): "stdlib logging's level table",
    ("hyperion_otel/logging/_setup.py", "_nameToLevel"): "stdlib logging's level table",
    ("hyperion_otel/logging/_setup.py", "_lock"): "stdlib logging's module lock",
    ("hyperion_otel/profiler/_freethreading.py", "_is_gil_enabled"): (
        "CPython's sys._is_gil_enabled (documented, 3.13+)"
    ),
    ("hyperion_otel/integrations/transformers/_request.py", "_prepare_generation_config"): (
        "a transformers model's method, read as generate() reads it"
    ),
}


def _private_name(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _reflective_private(node: ast.AST) -> str | None:
    """The literal private name of ``getattr(obj, "_x", ...)`` and its kin, else None."""
    if (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in _REFLECTIVE
        and len(node.args) >= 2
        and isinstance(node.args[1], ast.Constant)
        and isinstance(node.args[1].value, str)
        and _private_name(node.args[1].value)
    ):
        return node.args[1].value
    return None


def _private_otel_imports(path: Path) -> list[str]:
    found = []
    rel = path.relative_to(PACKAGE.parent).as_posix()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        name = _reflective_private(node)
        if name is not None and (rel, name) not in NOT_OTEL:
            found.append(f"{rel}:{node.lineno} {node.func.id}(..., {name!r})")  # type: ignore[attr-defined]
        if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("opentelemetry"):
            names = [node.module or "", *(a.name for a in node.names)]
            parts = [part for n in names for part in n.split(".")]
            if any(_private(part) for part in parts):
                found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno}")
        if isinstance(node, ast.Attribute) and node.attr.startswith("_") and node.attr.isupper():
            found.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} .{node.attr}")
    return found


def test_the_reflective_check_sees_a_literal_private_name() -> None:
    """The check itself: each spelling is caught, dunders and computed names are not."""
    source = (
        "getattr(p, '_batch_processor')\nsetattr(b, '_metrics', m)\n"
        "hasattr(c, '_SUPPRESS')\ndelattr(x, '__mangled')\n"
        "getattr(f, '__qualname__')\ngetattr(o, name)\ngetattr(o, 'public')\n"
    )
    names = [_reflective_private(n) for n in ast.walk(ast.parse(source))]
    assert [n for n in names if n] == ["_batch_processor", "_metrics", "_SUPPRESS", "__mangled"]


def test_every_allowed_reflective_use_still_exists() -> None:
    """An entry of NOT_OTEL whose use is gone is removed, so the list stays what it claims."""
    seen = {
        (path.relative_to(PACKAGE.parent).as_posix(), name)
        for path in sorted(PACKAGE.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if (name := _reflective_private(node)) is not None
    }
    assert sorted(set(NOT_OTEL) - seen) == []


def test_instrumentation_suppressed_is_true_while_an_sdk_processor_exports() -> None:
    seen: list[bool] = []

    class Watch(SpanExporter):
        def export(self, spans: Any) -> SpanExportResult:
            seen.append(otel_private.instrumentation_suppressed())
            return SpanExportResult.SUCCESS

    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(Watch()))
    provider.get_tracer("t").start_span("one").end()
    assert seen == [True]
    assert not otel_private.instrumentation_suppressed()
    provider.shutdown()


def test_wrap_batch_metrics_sees_the_drops_of_a_batch_processor() -> None:
    drops: list[tuple[int, str]] = []

    class Count:
        def __init__(self, inner: Any) -> None:
            self.inner = inner

        def drop_items(self, count: int, error_type: str = "queue_full") -> None:
            drops.append((count, error_type))
            self.inner.drop_items(count, error_type)

        def __getattr__(self, name: str) -> Any:
            return getattr(self.inner, name)

    processor = BatchSpanProcessor(InMemorySpanExporter())
    assert otel_private.wrap_batch_metrics(processor, Count)
    processor.shutdown()
    span = TracerProvider().get_tracer("t").start_span("late")
    span.end()
    processor.on_end(span)  # type: ignore[arg-type]
    assert drops == [(1, "already_shutdown")]
    assert not otel_private.wrap_batch_metrics(object(), Count)


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
