"""Exporter faults against a real local collector: shutdown keeps its budget, every item
is accounted for, the loss is reported once (a warning and ``hyperion.telemetry.dropped``
by signal), and the application thread never waits for the collector.

``tests/foundation/test_configure.py`` covers down/hang with the default 2 s budget;
this file runs every fault on both transports (fast, shorter budget), the 2 s default
for every fault (slow), and what happens while the application runs.
"""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import grpc
import pytest
from opentelemetry._logs import SeverityNumber

import hyperion_otel.sdk as sdk
from hyperion_otel import semconv
from hyperion_otel._seams import telemetry as _telemetry
from reliability.collectors import (
    FAULTS,
    PROTOCOLS,
    faulty_collector,
    settings_for,
    warnings_matching,
)

from otlp_receiver import OTLPReceiver

SLACK_S = 0.5  # scheduling slack on a shared 2-core machine


def _emit(spans: int, logs: int) -> None:
    tracer = _telemetry.tracer()
    for i in range(spans):
        with tracer.start_as_current_span("work", attributes={"i": i}):
            pass
    otel_logger = _telemetry.logger()
    for i in range(logs):
        otel_logger.emit(body=f"record {i}", severity_number=SeverityNumber.INFO)
    _telemetry.counter("hyperion.test.requests", "{request}").add(1)


def _named(line: str, unit: str) -> int:
    return sum(int(n) for n in re.findall(rf"(\d+) {unit} via", line))


def _check_shutdown(
    fault: str, protocol: str, tmp_path: Path, budget_s: float, caplog: Any, capsys: Any
) -> sdk.ShutdownReport:
    with faulty_collector(fault, protocol) as endpoint:
        sdk.configure(settings_for(endpoint, protocol, tmp_path, shutdown_timeout_s=budget_s))
        t0 = time.monotonic()
        _emit(spans=300, logs=40)
        emit_s = time.monotonic() - t0
        start = time.monotonic()
        report = sdk.shutdown()
        elapsed = time.monotonic() - start
    assert report is not None
    with capsys.disabled():  # the figure, for -s
        print(
            f"\nshutdown {protocol} {fault}: {elapsed:.2f} s of {budget_s:g} s, "
            f"outcomes {report.outcomes}"
        )
    assert emit_s < 5.0, f"emitting blocked on the collector ({emit_s:.2f}s)"
    assert elapsed <= budget_s + SLACK_S, (fault, protocol, elapsed)
    assert report.duration_s <= budget_s + SLACK_S
    # Nothing reached a working collector, and every item is accounted for.
    for signal, n in (("traces", 300), ("logs", 40)):
        by = report.outcomes[signal]
        assert by["delivered"] == 0 and sum(by.values()) == n, report
        assert report.lost[signal] + report.unconfirmed[signal] == n, report
        assert set(by) - {"delivered"} >= set(EXPECTED[fault][protocol]), report
        assert {o for o, k in by.items() if k} <= set(EXPECTED[fault][protocol]), (signal, by)
    assert report.total_lost + report.total_unconfirmed > 340, report
    # Reported exactly once: one warning on the `hyperion` logger naming each signal...
    (warning,) = warnings_matching(caplog, "shutdown took")
    # Each part of the line names its count: they add up to what each signal lost.
    assert _named(warning, "spans") == 300 and _named(warning, "log records") == 40, warning
    assert _named(warning, "metric points") == report.total_lost + report.total_unconfirmed - 340
    # ... and no per-batch warnings during shutdown (those are the runtime's, rate-limited).
    assert warnings_matching(caplog, "failed to export") == []
    assert capsys.readouterr().err.count("shutdown took") <= 1
    return report


# Outcomes each fault may give (a request cut by the budget is unconfirmed; batches not yet
# sent when it runs out are dropped). gRPC answers the receiver's UNAVAILABLE the way it
# reports a lost connection, so there it is "failed"; HTTP sees a status: "refused".
_CUT = ("unconfirmed", "dropped")
EXPECTED: dict[str, dict[str, tuple[str, ...]]] = {
    "down": {"grpc": ("failed", "dropped"), "http/protobuf": ("failed", "dropped")},
    "hang": {"grpc": _CUT, "http/protobuf": _CUT},
    "slow": {"grpc": _CUT, "http/protobuf": _CUT},
    "503": {"grpc": ("failed", *_CUT), "http/protobuf": ("refused", *_CUT)},
    "429": {"grpc": ("refused", *_CUT), "http/protobuf": ("refused", *_CUT)},
    "reset": {"grpc": ("failed", *_CUT), "http/protobuf": ("failed", *_CUT)},
    "unavailable": {"grpc": ("failed", *_CUT), "http/protobuf": ("refused", *_CUT)},
}


@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("fault", list(FAULTS))
def test_every_fault_shutdown_within_budget_and_loss_reported_once(
    fault: str, protocol: str, tmp_path: Path, hyperion_warnings: Any, capsys: Any
) -> None:
    _check_shutdown(fault, protocol, tmp_path, 0.5, hyperion_warnings, capsys)


@pytest.mark.slow
@pytest.mark.parametrize("protocol", PROTOCOLS)
@pytest.mark.parametrize("fault", list(FAULTS))
def test_every_fault_with_the_default_2s_budget(
    fault: str, protocol: str, tmp_path: Path, hyperion_warnings: Any, capsys: Any
) -> None:
    report = _check_shutdown(fault, protocol, tmp_path, 2.0, hyperion_warnings, capsys)
    assert report.duration_s <= 2.0 + SLACK_S


def _points_by_outcome(reader: Any, signal: str) -> dict[str, float]:
    """``hyperion.telemetry.dropped`` for ``signal`` from an in-memory reader, by outcome."""
    data = reader.get_metrics_data()
    out: dict[str, float] = {}
    for rm in data.resource_metrics if data else []:
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                if m.name != semconv.METRIC_TELEMETRY_DROPPED:
                    continue
                assert m.unit == semconv.UNIT_TELEMETRY_DROPPED
                for p in m.data.data_points:
                    if p.attributes.get(semconv.HYPERION_SIGNAL) == signal:
                        outcome = str(p.attributes[semconv.HYPERION_TELEMETRY_OUTCOME])
                        out[outcome] = out.get(outcome, 0.0) + p.value
    return out


def _dropped_by_signal(rx: OTLPReceiver) -> dict[str, float]:
    metric = rx.metric(semconv.METRIC_TELEMETRY_DROPPED)
    out: dict[str, float] = {}
    for p in metric.points if metric is not None else []:
        sig = str(p.attributes[semconv.HYPERION_SIGNAL])
        out[sig] = out.get(sig, 0.0) + float(p.value)
    return out


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_runtime_failures_counted_by_signal_in_a_working_metrics_pipeline(
    protocol: str, tmp_path: Path, hyperion_warnings: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Spans and logs go to a dead collector, metrics to a working one: the working
    pipeline carries ``hyperion.telemetry.dropped`` by signal, equal to what the
    exporters failed; one warning while running (rate-limited), one summary at shutdown."""
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")
    monkeypatch.setenv("OTEL_BLRP_SCHEDULE_DELAY", "50")
    with faulty_collector("down", protocol) as dead, OTLPReceiver() as good:
        good_endpoint = good.grpc_endpoint if protocol == "grpc" else good.http_url("metrics")
        tel = sdk.configure(
            settings_for(
                dead,
                protocol,
                tmp_path,
                otlp_metrics_endpoint=good_endpoint,
                otlp_timeout_s=0.3,  # the exporter gives up on a batch after this
                metric_export_interval_ms=100,
            )
        )
        traces = next(s for s in tel.stats if s.signal == "traces")
        logs = next(s for s in tel.stats if s.signal == "logs")
        for _burst in range(3):
            _emit(spans=100, logs=20)
            deadline = time.monotonic() + 10
            while traces.in_flight or logs.in_flight or traces.failed < traces.accepted:
                assert time.monotonic() < deadline, (traces, logs)
                time.sleep(0.05)
        assert (traces.failed, logs.failed) == (300, 60)

        def counted() -> bool:
            got = _dropped_by_signal(good)
            return got.get("traces") == 300 and got.get("logs") == 60

        assert good.wait_for(counted, timeout=10), _dropped_by_signal(good)
        # Many failed batches, one warning per signal (the rest wait a minute).
        running = warnings_matching(hyperion_warnings, "failed to export")
        assert len(running) == 2, running
        assert any("traces" in w for w in running) and any("logs" in w for w in running)
        report = sdk.shutdown()
    assert report is not None
    assert report.lost == {"traces": 300, "metrics": 0, "logs": 60}
    assert len(warnings_matching(hyperion_warnings, "not delivered")) == 1


@pytest.mark.parametrize("fault", ["down", "hang"])
def test_queue_overflow_is_counted_in_the_metric(
    fault: str, tmp_path: Path, hyperion_warnings: Any
) -> None:
    """Spans dropped because the batch queue is full are lost too: the working metrics
    pipeline must count them, not only the shutdown report."""
    from opentelemetry import metrics
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    reader = InMemoryMetricReader()
    app_provider = MeterProvider(metric_readers=[reader])
    metrics.set_meter_provider(app_provider)  # the application's own, working, metrics
    try:
        with faulty_collector(fault, "http/protobuf") as endpoint:
            tel = sdk.configure(settings_for(endpoint, "http/protobuf", tmp_path))
            assert "metrics" not in tel.owned
            _emit(spans=5000, logs=0)
            report = sdk.shutdown()
        assert report is not None
        by = report.outcomes["traces"]
        # The queue holds 2048: the rest are dropped at once; what is left is cut at shutdown.
        assert by["dropped"] >= 5000 - 2048 - 512, by
        assert report.lost["traces"] + report.unconfirmed["traces"] == 5000, by
        counted = _points_by_outcome(reader, "traces")
        assert counted == {o: n for o, n in by.items() if n and o != "delivered"}, counted
    finally:
        app_provider.shutdown()


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_backend_that_stores_but_answers_late_gets_unconfirmed_not_lost(
    protocol: str, tmp_path: Path, hyperion_warnings: Any, capsys: Any
) -> None:
    """The MLflow case: the backend stores each request at once and answers after the
    shutdown budget. Shutdown must abort within its budget and call those items
    unconfirmed (the receiver holds every one of them), never "not delivered"."""
    from opentelemetry import metrics
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    reader = InMemoryMetricReader()
    app_provider = MeterProvider(metric_readers=[reader])
    metrics.set_meter_provider(app_provider)  # counts the outcome after our pipelines stop
    try:
        with OTLPReceiver() as rx:
            rx.set_fault("late", delay_s=5.0)
            endpoint = rx.grpc_endpoint if protocol == "grpc" else rx.http_endpoint
            sdk.configure(settings_for(endpoint, protocol, tmp_path, shutdown_timeout_s=0.5))
            _emit(spans=9, logs=4)
            start = time.monotonic()
            report = sdk.shutdown()
            elapsed = time.monotonic() - start
            stored_spans, stored_logs = len(rx.spans), len(rx.logs)
        assert report is not None
        assert elapsed <= 0.5 + SLACK_S
        assert (stored_spans, stored_logs) == (9, 4)  # the backend holds all of them...
        assert report.outcomes["traces"] == dict.fromkeys(report.outcomes["traces"], 0) | {
            "unconfirmed": 9
        }, report  # ... and the report does not call one of them lost
        assert report.outcomes["logs"]["unconfirmed"] == 4 and report.lost["logs"] == 0, report
        (line,) = warnings_matching(hyperion_warnings, "shutdown took")
        assert "not delivered" not in line, line
        assert "unconfirmed" in line and "9 spans via otlp" in line, line
        assert _points_by_outcome(reader, "traces") == {"unconfirmed": 9}
    finally:
        app_provider.shutdown()


@pytest.mark.parametrize("protocol", PROTOCOLS)
def test_a_backend_that_answers_no_is_refused_and_counted_so(
    protocol: str, tmp_path: Path, hyperion_warnings: Any
) -> None:
    """A definitive no from the backend (HTTP 400, gRPC INVALID_ARGUMENT) is ``refused``,
    in the report and in ``hyperion.telemetry.dropped{outcome=refused}``."""
    from opentelemetry import metrics
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import InMemoryMetricReader

    reader = InMemoryMetricReader()
    app_provider = MeterProvider(metric_readers=[reader])
    metrics.set_meter_provider(app_provider)
    try:
        with OTLPReceiver() as rx:
            rx.set_fault("status", http_status=400, grpc_status=grpc.StatusCode.INVALID_ARGUMENT)
            endpoint = rx.grpc_endpoint if protocol == "grpc" else rx.http_endpoint
            sdk.configure(settings_for(endpoint, protocol, tmp_path))
            _emit(spans=7, logs=0)
            report = sdk.shutdown()
            asked = sum(1 for r in rx.requests if r.signal == "traces")
        assert report is not None and asked >= 1
        assert report.outcomes["traces"]["refused"] == 7 and report.lost["traces"] == 7, report
        assert report.timed_out is False  # an answer ends the export: no retry, no abort
        assert _points_by_outcome(reader, "traces") == {"refused": 7}
        (line,) = warnings_matching(hyperion_warnings, "shutdown took")
        assert "7 spans via otlp (refused 7" in line, line
    finally:
        app_provider.shutdown()
