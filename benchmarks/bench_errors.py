"""Cost of error tracking: ``error_boundary`` on the success path, ``record_error`` on failure.

The boundary wraps every public entry point, so its success-path cost is what every call
pays; recording runs only when something failed. Everything is measured interleaved in
one process against a baseline call of the same function without a boundary, so the
ratios hold on a noisy machine. Recording is measured with no SDK (API no-ops) and with
in-memory SDK providers (span, log record and counter really produced).

    python benchmarks/bench_errors.py [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry import _logs, metrics, trace
from opentelemetry.sdk._logs import LoggerProvider
from opentelemetry.sdk._logs.export import InMemoryLogRecordExporter, SimpleLogRecordProcessor
from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from hyperion_otel._seams import telemetry as _telemetry
from hyperion_otel.errors import ModelError, error_boundary, record_error


def work() -> int:
    return 1


@error_boundary()
def work_decorated() -> int:
    return 1


def work_in_with() -> int:
    with error_boundary():
        return 1


def record_fresh() -> None:
    record_error(ModelError("model file not found: /x", path="/x"))


def _per_call_us(fn: Callable[[], Any], n: int) -> float:
    t0 = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - t0) / n * 1e6


def _measure(runners: dict[str, Callable[[], Any]], n: int, repeats: int) -> dict[str, float]:
    samples: dict[str, list[float]] = {k: [] for k in runners}
    for _ in range(repeats):  # interleaved rounds: drift hits every runner alike
        for name, fn in runners.items():
            samples[name].append(_per_call_us(fn, n))
    return {k: statistics.median(v) for k, v in samples.items()}


def _install_sdk() -> None:
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    lp = LoggerProvider()
    lp.add_log_record_processor(SimpleLogRecordProcessor(InMemoryLogRecordExporter()))
    trace.set_tracer_provider(tp)
    metrics.set_meter_provider(MeterProvider(metric_readers=[InMemoryMetricReader()]))
    _logs.set_logger_provider(lp)
    _telemetry.refresh()


def main(argv: Sequence[str] | None = None) -> dict[str, float]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short run")
    args = parser.parse_args(argv)
    n, repeats = (2_000, 3) if args.quick else (20_000, 7)

    ok = _measure({"baseline": work, "decorated": work_decorated, "with": work_in_with}, n, repeats)
    nosdk = _measure({"record": record_fresh}, max(n // 10, 100), repeats)
    _install_sdk()
    with trace.get_tracer("bench").start_as_current_span("request"):
        sdk = _measure({"record": record_fresh}, max(n // 10, 100), repeats)
    return {
        "baseline_us": ok["baseline"],
        "decorated_us": ok["decorated"],
        "with_us": ok["with"],
        "decorated_overhead_us": ok["decorated"] - ok["baseline"],
        "with_overhead_us": ok["with"] - ok["baseline"],
        "record_no_sdk_us": nosdk["record"],
        "record_sdk_us": sdk["record"],
        "record_sdk_vs_no_sdk": sdk["record"] / nosdk["record"],
    }


if __name__ == "__main__":
    r = main()
    print("| measure | µs per call |")
    print("|---|---|")
    print(f"| plain call (baseline) | {r['baseline_us']:.2f} |")
    print(
        f"| `@error_boundary()` call, no error | {r['decorated_us']:.2f} (+{r['decorated_overhead_us']:.2f}) |"
    )
    print(
        f"| `with error_boundary():` no error | {r['with_us']:.2f} (+{r['with_overhead_us']:.2f}) |"
    )
    print(f"| record_error, no SDK | {r['record_no_sdk_us']:.1f} |")
    print(
        f"| record_error, in-memory SDK | {r['record_sdk_us']:.1f} ({r['record_sdk_vs_no_sdk']:.1f}x no SDK) |"
    )
