"""Cost of error tracking: the public-call boundary on the success path, recording on failure.

Every public call of hyperion-otel goes through ``hyperion_otel.errors.public``, so its
success-path cost is what every call pays. It is measured on real public calls, each
against the same call of the function the boundary wraps (``__wrapped__``), interleaved in
one process, on this thread's CPU time, so the differences hold on a shared machine: ``get_error_string`` (a call that
does almost nothing, so the boundary's share is largest), ``GenerationConfig(...)`` (a
validated config), ``MemoryPool.allocate`` + ``free`` (the runtime's hottest public calls)
and ``enable_generation_debug``. ``@error_boundary()``, the context-manager form offered
for an application's own entry points, is measured the same way. Recording runs only
when something failed; it is measured with no SDK (API no-ops) and with in-memory SDK
providers (span, log record and counter really produced).

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

import hyperion_otel as h
from hyperion_otel._seams import telemetry as _telemetry
from hyperion_otel.errors import ErrorType, ModelError, error_boundary, record_error


def _raw(fn: Any) -> Any:
    return fn.__wrapped__


def real_calls(pool: Any) -> dict[str, tuple[Callable[[], Any], Callable[[], Any]]]:
    """name -> (the public call, the same call without its boundary)."""
    get_error_string, raw_get_error_string = h.get_error_string, _raw(h.get_error_string)
    debug, raw_debug = h.enable_generation_debug, _raw(h.enable_generation_debug)
    config_cls = h.GenerationConfig
    raw_init = _raw(config_cls.__init__)
    allocate, free = pool.allocate, pool.free
    raw_allocate, raw_free = _raw(type(pool).allocate), _raw(type(pool).free)

    def config() -> Any:
        return config_cls(temperature=0.7, top_k=40, max_new_tokens=32)

    def config_raw() -> Any:
        obj = object.__new__(config_cls)
        raw_init(obj, temperature=0.7, top_k=40, max_new_tokens=32)
        return obj

    def alloc_free() -> None:
        free(allocate((16, 16)))

    def alloc_free_raw() -> None:
        raw_free(pool, raw_allocate(pool, (16, 16)))

    return {
        "get_error_string": (
            lambda: get_error_string(ErrorType.MODEL),
            lambda: raw_get_error_string(ErrorType.MODEL),
        ),
        "GenerationConfig": (config, config_raw),
        "allocate+free": (alloc_free, alloc_free_raw),
        "enable_generation_debug": (lambda: debug(False), lambda: raw_debug(False)),
    }


def work() -> int:
    return 1


@error_boundary()
def work_decorated() -> int:
    return 1


def record_fresh() -> None:
    record_error(ModelError("model file not found: /x", path="/x"))


def _per_call_us(fn: Callable[[], Any], n: int) -> float:
    # This thread's CPU time: other processes on the shared cores do not stretch it.
    t0 = time.thread_time()
    for _ in range(n):
        fn()
    return (time.thread_time() - t0) / n * 1e6


def _rounds(runners: dict[str, Callable[[], Any]], n: int, repeats: int) -> dict[str, list[float]]:
    samples: dict[str, list[float]] = {k: [] for k in runners}
    for _ in range(repeats):  # interleaved rounds: drift hits every runner alike
        for name, fn in runners.items():
            samples[name].append(_per_call_us(fn, n))
    return samples


def _measure(runners: dict[str, Callable[[], Any]], n: int, repeats: int) -> dict[str, float]:
    return {k: statistics.median(v) for k, v in _rounds(runners, n, repeats).items()}


def _install_sdk() -> None:
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(InMemorySpanExporter()))
    lp = LoggerProvider()
    lp.add_log_record_processor(SimpleLogRecordProcessor(InMemoryLogRecordExporter()))
    trace.set_tracer_provider(tp)
    metrics.set_meter_provider(MeterProvider(metric_readers=[InMemoryMetricReader()]))
    _logs.set_logger_provider(lp)
    _telemetry.refresh()


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short run")
    args = parser.parse_args(argv)
    n, repeats = (2_000, 3) if args.quick else (20_000, 7)

    pool = h.MemoryPool(h.MemoryConfig(initial_pool_size=1 << 20))
    runners: dict[str, Callable[[], Any]] = {}
    for name, (public_call, raw_call) in real_calls(pool).items():
        runners[name] = public_call
        runners[f"{name} (raw)"] = raw_call
    runners["error_boundary decorator"] = work_decorated
    runners["error_boundary decorator (raw)"] = work
    rounds = _rounds(runners, n, repeats)
    pool.close()
    calls: dict[str, dict[str, float]] = {}
    for name in runners:
        if name.endswith("(raw)"):
            continue
        pub, raw = rounds[name], rounds[f"{name} (raw)"]
        calls[name] = {
            "public_us": statistics.median(pub),
            "raw_us": statistics.median(raw),
            # each round compares the two variants measured side by side
            "overhead_us": statistics.median(p - r for p, r in zip(pub, raw, strict=True)),
        }
    real = [row["overhead_us"] for k, row in calls.items() if k != "error_boundary decorator"]
    nosdk = _measure({"record": record_fresh}, max(n // 10, 100), repeats)
    _install_sdk()
    with trace.get_tracer("bench").start_as_current_span("request"):
        sdk = _measure({"record": record_fresh}, max(n // 10, 100), repeats)
    return {
        "calls": calls,
        # the headline: median over the real public calls of the added cost per call
        "boundary_overhead_us": statistics.median(real),
        "boundary_overhead_max_us": max(real),
        "decorated_overhead_us": calls["error_boundary decorator"]["overhead_us"],
        "record_no_sdk_us": nosdk["record"],
        "record_sdk_us": sdk["record"],
        "record_sdk_vs_no_sdk": sdk["record"] / nosdk["record"],
    }


if __name__ == "__main__":
    r = main()
    print("| call | public µs | without boundary µs | added µs |")
    print("|---|---:|---:|---:|")
    for name, row in r["calls"].items():
        print(
            f"| {name} | {row['public_us']:.3f} | {row['raw_us']:.3f} | {row['overhead_us']:+.3f} |"
        )
    print(f"| record_error, no SDK | {r['record_no_sdk_us']:.1f} |  |  |")
    print(
        f"| record_error, in-memory SDK | {r['record_sdk_us']:.1f} "
        f"({r['record_sdk_vs_no_sdk']:.1f}x no SDK) |  |  |"
    )
