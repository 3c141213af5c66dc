"""Make a run's local telemetry for the report tests: ``python make_run.py CHECKPOINT OUTDIR``.

A dozen generate calls with memory tracking (a few pool arrays kept alive on purpose, so the
leak report has a site), one failing call, a profiled call saved as Chrome trace and as
speedscope, and a leak check; metrics exported every 50 ms so memory has a time series.
Runs in its own process so the tests' OTel globals stay untouched.
"""

from __future__ import annotations

import contextlib
import sys
import time

from hyperion_otel import sdk
from hyperion_otel.errors import HyperionError
from hyperion_otel.memory import check_memory_leaks, current_pool
from hyperion_otel.profiler import profiling
from hyperion_otel.runtime import GenerationConfig, load_model


def main(checkpoint: str, out: str) -> None:
    sdk.configure(
        output_dir=out,
        memory_tracking=True,
        metric_export_interval_ms=50,
        log_outputs=("file", "otlp"),
        traces_exporter=("otlp_file",),
        metrics_exporter=("otlp_file",),
        logs_exporter=("otlp_file",),
    )
    model = load_model(checkpoint)
    pool = current_pool()
    assert pool is not None
    kept = []
    for i in range(6):
        model.generate(f"request {i}", GenerationConfig(max_new_tokens=4 + 2 * i, seed=i))
        kept.append(pool.allocate((32, 16)))  # "leaked" on purpose
        time.sleep(0.06)
    with contextlib.suppress(HyperionError):
        model.generate([10**6], GenerationConfig(max_new_tokens=2))  # a failed request
    with profiling() as handle:
        model.generate("profile this", GenerationConfig(max_new_tokens=24, temperature=0.0))
    assert handle.profile is not None
    handle.profile.save(f"{out}/profile.json")
    handle.profile.save(f"{out}/profile.speedscope.json")
    check_memory_leaks()
    time.sleep(0.1)
    sdk.shutdown()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
