"""Bounded queues: with the collector down or hung, memory stays flat however much the
application emits (the batch queues drop, and count, what they cannot hold)."""

from __future__ import annotations

import gc
import tracemalloc
from pathlib import Path

import psutil
import pytest
from opentelemetry._logs import SeverityNumber

import hyperion_otel.sdk as sdk
from hyperion_otel._seams import telemetry as _telemetry
from reliability.collectors import faulty_collector, settings_for

_MiB = 1024 * 1024
FILL = 2600  # more than a batch queue holds (2048)
MORE = 10_000


def _emit(n: int) -> None:
    tracer, otel_logger = _telemetry.tracer(), _telemetry.logger()
    for i in range(n):
        with tracer.start_as_current_span("request", attributes={"i": i, "route": "/generate"}):
            otel_logger.emit(body=f"record {i}", severity_number=SeverityNumber.INFO)


def _check_accounting(tel: sdk.Telemetry, report: sdk.ShutdownReport | None) -> None:
    assert report is not None
    for signal in ("traces", "logs"):
        # every one counted (failed, dropped from the full queue, or cut at shutdown)
        assert report.lost[signal] + report.unconfirmed[signal] == FILL + MORE, report
    for st in tel.stats:
        if st.signal != "metrics":
            assert st.dropped >= MORE, st  # a full queue drops, and says so


def test_rss_is_flat_over_10k_spans_and_logs_with_the_collector_down(tmp_path: Path) -> None:
    proc = psutil.Process()
    with faulty_collector("down", "grpc") as endpoint:
        tel = sdk.configure(settings_for(endpoint, "grpc", tmp_path))
        _emit(FILL)
        gc.collect()
        rss_full = proc.memory_info().rss
        _emit(MORE)
        gc.collect()
        rss_after = proc.memory_info().rss
        report = sdk.shutdown()
    growth = rss_after - rss_full
    print(f"\nqueue RSS (down, grpc): +{growth / _MiB:.2f} MiB over {MORE} more spans+logs")
    # Unbounded queues would hold ~4.5 KiB per span+log here: ~44 MiB for 10k.
    assert growth < 8 * _MiB, growth
    _check_accounting(tel, report)


@pytest.mark.slow
@pytest.mark.parametrize("fault", ["down", "hang"])
def test_traced_memory_is_flat_over_10k_spans_and_logs(fault: str, tmp_path: Path) -> None:
    with faulty_collector(fault, "http/protobuf") as endpoint:
        tel = sdk.configure(settings_for(endpoint, "http/protobuf", tmp_path))
        tracemalloc.start()
        try:
            _emit(FILL)
            gc.collect()
            full = tracemalloc.get_traced_memory()[0]
            _emit(MORE)
            gc.collect()
            after, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        report = sdk.shutdown()
    print(
        f"\nqueue memory ({fault}): full queues {full / _MiB:.2f} MiB traced, "
        f"{(after - full) / _MiB:+.3f} MiB over {MORE} more spans+logs, peak {peak / _MiB:.2f} MiB"
    )
    # Two full queues of 2048 items (plus a batch of 512 in flight) hold a few MiB.
    assert full < 32 * _MiB
    assert after - full < 1 * _MiB
    _check_accounting(tel, report)
