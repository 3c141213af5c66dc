"""Fork and spawn: workers keep exporting spans and logs with the right resource, their
spans are children of the parent's across the process boundary (W3C traceparent), and
a forked child runs exactly one of each telemetry thread."""

from __future__ import annotations

import multiprocessing as mp
import os
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import propagate

import hyperion_otel.sdk as sdk
from hyperion_otel._seams import telemetry as _telemetry
from hyperion_otel.settings import Settings
from reliability.collectors import PROTOCOLS, endpoint_of
from reliability.fork_workers import emit_child, fork_grandchild, spawn_child, thread_names

from otlp_receiver import OTLPReceiver

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="POSIX fork")

SERVICE = "fork-test"
# Threads the pipelines run: exactly one each, in the parent and in every forked child.
TELEMETRY_THREADS = [
    "OtelBatchLogRecordProcessor",
    "OtelBatchSpanRecordProcessor",
    "OtelPeriodicExportingMetricReader",
]


def _configure(rx: OTLPReceiver, protocol: str, tmp_path: Path) -> None:
    sdk.configure(
        Settings(
            otlp_endpoint=endpoint_of(rx, protocol),
            otlp_protocol=protocol,
            service_name=SERVICE,
            output_dir=str(tmp_path),
            log_outputs=(),
        )
    )


def _parent_span() -> tuple[dict[str, str], Any]:
    with _telemetry.tracer().start_as_current_span("parent") as span:
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
    assert "traceparent" in carrier
    return carrier, span.get_span_context()


def _run(ctx_name: str, target: Any, *args: Any) -> None:
    p = mp.get_context(ctx_name).Process(target=target, args=args)
    p.start()
    p.join(60)
    assert p.exitcode == 0


def _drain(q: Any, n: int) -> dict[str, tuple[int, list[str]]]:
    out = {}
    for _ in range(n):
        tag, pid, names = q.get(timeout=30)
        out[tag] = (pid, names)
    return out


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_forked_and_spawned_workers_export_as_children_of_the_parent(
    otlp_receiver: OTLPReceiver, protocol: str, tmp_path: Path
) -> None:
    _configure(otlp_receiver, protocol, tmp_path)
    carrier, parent = _parent_span()
    q = mp.get_context("spawn").Queue()
    _run("fork", emit_child, carrier, "fork", True, q)
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": endpoint_of(otlp_receiver, protocol),
        "OTEL_EXPORTER_OTLP_PROTOCOL": protocol,
        "OTEL_SERVICE_NAME": SERVICE,
        "HYPERION_OUTPUT_DIR": str(tmp_path / "spawned"),
        "HYPERION_LOG_OUTPUT": "",
    }
    _run("spawn", spawn_child, carrier, "spawn", env, q)
    pids = {tag: pid for tag, (pid, _names) in _drain(q, 2).items()}
    sdk.shutdown()

    spans = {s.name: s for s in otlp_receiver.wait_for_spans(3)}
    assert set(spans) == {"parent", "child fork", "child spawn"}
    for tag in ("fork", "spawn"):
        child = spans[f"child {tag}"]
        assert child.trace_id == spans["parent"].trace_id
        assert child.parent_span_id == spans["parent"].span_id
        assert child.resource["service.name"] == SERVICE
    assert spans["child spawn"].resource["process.pid"] == pids["spawn"]
    logs = {r.body: r for r in otlp_receiver.wait_for_logs(2)}
    assert set(logs) == {"log fork", "log spawn"}
    assert logs["log fork"].span_id == spans["child fork"].span_id  # correlated in the child
    assert logs["log spawn"].resource["process.pid"] == pids["spawn"]
    assert spans["parent"].trace_id == f"{parent.trace_id:032x}"


def test_forked_worker_resource_names_the_child_process(
    otlp_receiver: OTLPReceiver, tmp_path: Path
) -> None:
    _configure(otlp_receiver, "http/protobuf", tmp_path)
    carrier, _ = _parent_span()
    q = mp.get_context("spawn").Queue()
    _run("fork", emit_child, carrier, "fork", True, q)
    pid = _drain(q, 1)["fork"][0]
    sdk.shutdown()
    (child,) = otlp_receiver.wait_for_spans(1, name="child fork")
    assert child.resource["process.pid"] == pid


def test_forked_worker_telemetry_is_delivered_without_an_explicit_flush(
    otlp_receiver: OTLPReceiver, tmp_path: Path
) -> None:
    _configure(otlp_receiver, "http/protobuf", tmp_path)
    carrier, _ = _parent_span()
    q = mp.get_context("spawn").Queue()
    _run("fork", emit_child, carrier, "fork", False, q)
    _drain(q, 1)
    sdk.shutdown()
    otlp_receiver.wait_for_spans(1, name="child fork", timeout=1)


def test_no_duplicated_background_threads_after_fork(
    otlp_receiver: OTLPReceiver, tmp_path: Path
) -> None:
    _configure(otlp_receiver, "http/protobuf", tmp_path)
    ours = [n for n in thread_names() if n.startswith("Otel")]
    assert ours == TELEMETRY_THREADS
    carrier, _ = _parent_span()
    q = mp.get_context("spawn").Queue()
    _run("fork", emit_child, carrier, "first", True, q)
    _run("fork", emit_child, carrier, "second", True, q)
    _run("fork", fork_grandchild, carrier, q)
    seen = _drain(q, 4)
    assert set(seen) == {"first", "second", "middle", "grandchild"}
    for tag, (_pid, names) in seen.items():
        # Only the forking thread survives a fork; the SDK restarts one worker per pipeline.
        assert names == sorted(["MainThread", *TELEMETRY_THREADS]), (tag, names)
    assert [n for n in thread_names() if n.startswith("Otel")] == TELEMETRY_THREADS
    sdk.shutdown()
    assert len(otlp_receiver.wait_for_spans(5)) == 5  # parent + 4 children all arrived
