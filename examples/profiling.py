"""Profiling: where generation time goes, with the guide's profiler calls, then one HTML page.

``init_profiler`` / ``start_profiling`` / ``stop_profiling`` / ``save_profile`` around a
generation (Chrome trace for Perfetto, speedscope), the hottest functions, the bottleneck
analysis of the recorded ops against this machine's measured peaks, the ``profiling()``
context manager, and finally ``hyperion-otel report``'s HTML built from the run. Run::

    python examples/profiling.py [MODEL]            # MODEL defaults to builtin:tiny

Writes under ``$HYPERION_OUTPUT_DIR`` (default ``./hyperion-output``): ``profile.json``,
``profile.speedscope.json``, ``decode.summary.json``, ``report.html`` and the run's telemetry.
"""

from __future__ import annotations

import os
import sys

import hyperion_otel as h
from hyperion_otel.report import write_report


def main() -> None:
    settings = h.Settings.from_env()
    out = settings.output_dir
    h.configure(settings, log_outputs=("file", "otlp"))
    model = h.load_model(sys.argv[1] if len(sys.argv) > 1 else "builtin:tiny")
    config = h.GenerationConfig(max_new_tokens=32, temperature=0.0)
    model.generate(
        "Warm-up", h.GenerationConfig(max_new_tokens=2)
    )  # first-call costs out of the way

    # The guide's sequence: configure, start, run, stop, save.
    h.init_profiler(
        h.ProfilerConfig(
            track_functions=True, track_memory=True, track_cache=True, sample_interval_ms=1
        )
    )
    h.start_profiling()
    gen = model.generate("def fibonacci(n):", config)
    profile = h.stop_profiling()
    chrome = h.save_profile(os.path.join(out, "profile.json"))  # Perfetto / chrome://tracing
    h.save_profile(os.path.join(out, "profile.speedscope.json"))  # https://www.speedscope.app
    print(
        f"{gen.usage.output_tokens} tokens at {gen.timings.tokens_per_s:.0f} tok/s; "
        f"{len(profile.samples)} samples, {len(profile.ops)} ops -> {chrome}"
    )

    print(h.get_hotspots(top=5))
    report = h.analyze_bottlenecks(model)  # uses the ops of the profile just taken
    print(report.recommendation)
    phases = ", ".join(f"{k} {v * 1e3:.1f} ms" for k, v in report.phases.items())
    print(f"time by phase: {phases}")

    # The same as a block; the summary format is a small JSON digest.
    with h.profiling(output=os.path.join(out, "decode.summary.json")) as handle:
        model.generate("class Stack:", h.GenerationConfig(max_new_tokens=8, temperature=0.0))
    assert handle.profile is not None and handle.profile.ops

    h.shutdown()  # flushes spans and metrics into the output directory
    page = write_report(out, os.path.join(out, "report.html"), profile=chrome)
    print(f"report: {page}")


if __name__ == "__main__":
    main()
