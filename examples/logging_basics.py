"""Logging: the guide's logging calls, JSON records tied to the current trace, and rotation.

Every call of the guide's "Logging System", "Structured Logging" and "Log Rotation" in
order, then one look at what landed in the file. Run::

    python examples/logging_basics.py

Writes under ``$HYPERION_OUTPUT_DIR`` (default ``./hyperion-output``): ``hyperion_debug.log``
(JSON lines), its rotated and gzipped predecessors, and the OTLP-JSON files of the run.
"""

from __future__ import annotations

import json
from pathlib import Path

from opentelemetry import trace

import hyperion_otel as h
from hyperion_otel.logging import force_flush_logging


def main() -> None:
    settings = h.Settings.from_env()  # HYPERION_OUTPUT_DIR and friends
    out = Path(settings.output_dir)
    h.configure(settings)  # providers (spans -> out/traces.jsonl) and logging from the environment

    # Configure logging (the guide's hyperionSetLogLevel / ConfigureLogging / SetLogFile).
    h.set_log_level(h.LogLevel.DEBUG)
    h.configure_logging(h.LogOutput.FILE)  # file only while we fill it up
    log_file = out / "hyperion_debug.log"
    h.set_log_file(log_file)

    # Log categories: memory and performance on, model off.
    h.enable_memory_logging(True)
    h.enable_performance_logging(True)
    h.enable_model_logging(False)

    # Structured logging and rotation: JSON with thread ids; rotate at 16 KiB, keep 3 files.
    h.configure_structured_logging(
        h.LogConfig(format=h.LogFormat.JSON, include_timestamp=True, include_thread_id=True),
        outputs=h.LogOutput.FILE,  # the console keeps readable text
    )
    h.configure_log_rotation(h.LogRotationConfig(max_size_mb=1 / 64, max_files=3, compress=True))

    perf = h.get_logger(h.LogCategory.PERFORMANCE)
    for step in range(120):  # ~25 KiB of records: enough for a rotation
        perf.debug(
            "decode step %d took %.2f ms", step, 1.25, extra={"step": step, "padding": "x" * 80}
        )

    # Now to the console too; records made inside a span carry its trace and span ids.
    h.configure_logging(h.LogOutput.FILE | h.LogOutput.CONSOLE)
    memory = h.get_logger(h.LogCategory.MEMORY)
    tracer = trace.get_tracer("examples.logging_basics")
    with tracer.start_as_current_span("load weights"):
        memory.info("reserved %d bytes for the KV cache", 1 << 20, extra={"bytes": 1 << 20})
        h.get_logger(h.LogCategory.MODEL).info("not written: model logging is off")
        try:
            {}["missing.weight"]  # a KeyError to log
        except KeyError:
            h.log_error("weight %s not found", "missing.weight", tensor="missing.weight")

    force_flush_logging(timeout_s=5)  # rotated files are gzipped in the background
    files = sorted(p.name for p in out.glob("hyperion_debug.log*") if not p.name.endswith(".lock"))
    print(f"\nlog files in {out}: {', '.join(files)}")
    records = [json.loads(line) for line in log_file.read_text(encoding="utf-8").splitlines()]
    error = next(r for r in records if r["severity_text"] == "ERROR")
    print("the error record, as written (one JSON object per line):")
    print(json.dumps(error, indent=2)[:1500])
    assert error["trace_id"] and error["exception.type"] == "KeyError"
    assert not any("not written" in r["message"] for r in records)
    assert any(name.endswith(".gz") for name in files), files
    h.shutdown()


if __name__ == "__main__":
    main()
