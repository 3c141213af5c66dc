"""Writes JSON log records the way an application does, for the file_log tests.

Imported by test_filelog_collector.py and run as a script by it (one writer process
each): ``python filelog_writer.py <log file> <tag> <count> gzip|plain``.
"""

from __future__ import annotations

import sys

from opentelemetry.sdk.trace import TracerProvider

import hyperion_otel.logging as hl

MAX_SIZE_MB = 0.002  # ~2 KiB: a rotation every few records


def start_logging(path: str, compress: bool) -> None:
    hl.apply_logging_settings(
        level="trace",
        outputs="file",
        file=path,
        max_size_mb=MAX_SIZE_MB,
        max_files=1000,
        compress=compress,
        include_thread_id=True,
    )


def write_batch(tag: str, count: int) -> None:
    """``count`` records at every level, half inside a span (with user attributes of each
    JSON type), every tenth with an exception."""
    tracer = TracerProvider().get_tracer("filelog-test")
    model = hl.get_logger(hl.LogCategory.MODEL)
    memory = hl.get_logger(hl.LogCategory.MEMORY)
    levels = [lvl.stdlib for lvl in hl.LogLevel]
    for i in range(count):
        msg = f"{tag} record {i}"
        level = levels[i % len(levels)]
        extra = {"request_id": f"req-{i}", "tokens": i, "hyperion.step": i % 3, "ratio": i / 4}
        if i % 2:
            with tracer.start_as_current_span(f"span {i}"):
                model.log(level, msg, extra=extra)
        elif i % 5 == 0:
            try:
                raise ValueError(f"bad value {i}")
            except ValueError:
                memory.error(msg, exc_info=True)
        else:
            memory.log(level, msg)


if __name__ == "__main__":
    start_logging(sys.argv[1], compress=sys.argv[4] == "gzip")
    write_batch(sys.argv[2], int(sys.argv[3]))
    hl.shutdown_logging()
