"""Log file throughput and rotation stalls: ours against the usual Python choices.

Same record everywhere: a 1 KiB message and 3 extra fields (str, int, float), logged at
INFO through a stdlib ``Logger`` into a size-rotating file (10 MiB, 3 backups), one
thread, same process, runners interleaved over rounds (best round counts) so the ratios
hold on a noisy machine. Runners:

* ``ours``: ``LogFileHandler`` + ``JsonFormatter`` (the JSON schema with timestamp,
  severity, logger, category, message, code.*, attributes), gzip of rotated files on
  the background thread, multi-process locking on (the default);
* ``ours, single-process``: the same with ``multiprocess=False`` (no per-write flock);
* ``stdlib + python-json-logger``: ``RotatingFileHandler`` + pythonjsonlogger's
  ``JsonFormatter`` with asctime, levelname, name, message, pathname, lineno, funcName
  (the baseline of the ratios);
* ``structlog JSON``: structlog (level, ISO timestamp, JSONRenderer) into the same
  ``RotatingFileHandler``;
* ``stdlib plain text``: ``RotatingFileHandler`` with the default text format, no JSON.

Rotation stall: per-call latency of ``logger.info`` while the file rotates with
compression (ours), against the logging cookbook's gzip rotator on
``RotatingFileHandler`` (compresses inside the logging call).

    python benchmarks/bench_logging.py [--quick] [--records N] [--rounds N]
"""

from __future__ import annotations

import argparse
import gzip
import logging
import logging.handlers
import os
import shutil
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

from hyperion_otel.logging import JsonFormatter, LogFileHandler

MESSAGE = "x" * 1024
EXTRA = {"request_id": "req-4f2a9c", "tokens": 128, "latency_ms": 12.5}
MiB = 1024 * 1024
_seq = iter(range(1_000_000))

Emit = Callable[[], None]


def _logger(handler: logging.Handler) -> logging.Logger:
    lg = logging.getLogger(f"bench.{next(_seq)}")
    lg.setLevel(logging.INFO)
    lg.propagate = False
    lg.addHandler(handler)
    return lg


def _stdlib_rotating(path: str, max_bytes: int) -> logging.handlers.RotatingFileHandler:
    return logging.handlers.RotatingFileHandler(path, maxBytes=max_bytes, backupCount=3)


def make_ours(path: str, max_bytes: int, multiprocess: bool = True) -> tuple[Emit, logging.Handler]:
    h = LogFileHandler(
        path,
        max_bytes=max_bytes,
        max_files=4,
        compress=True,
        multiprocess=multiprocess,
        formatter=JsonFormatter(),
    )
    lg = _logger(h)
    return (lambda: lg.info(MESSAGE, extra=EXTRA)), h


def make_pjl(path: str, max_bytes: int) -> tuple[Emit, logging.Handler]:
    from pythonjsonlogger.json import JsonFormatter as PJLFormatter

    h = _stdlib_rotating(path, max_bytes)
    h.setFormatter(
        PJLFormatter(
            "%(asctime)s %(levelname)s %(name)s %(message)s %(pathname)s %(lineno)d %(funcName)s"
        )
    )
    lg = _logger(h)
    return (lambda: lg.info(MESSAGE, extra=EXTRA)), h


def make_structlog(path: str, max_bytes: int) -> tuple[Emit, logging.Handler]:
    import structlog

    h = _stdlib_rotating(path, max_bytes)
    h.setFormatter(logging.Formatter("%(message)s"))
    lg = _logger(h)
    slog = structlog.wrap_logger(
        lg,
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    return (lambda: slog.info(MESSAGE, **EXTRA)), h


def make_plain(path: str, max_bytes: int) -> tuple[Emit, logging.Handler]:
    h = _stdlib_rotating(path, max_bytes)
    h.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    lg = _logger(h)
    return (lambda: lg.info(MESSAGE, extra=EXTRA)), h


RUNNERS: dict[str, Callable[[str, int], tuple[Emit, logging.Handler]]] = {
    "ours": make_ours,
    "ours, single-process": lambda p, m: make_ours(p, m, multiprocess=False),
    "stdlib + python-json-logger": make_pjl,
    "structlog JSON": make_structlog,
    "stdlib plain text": make_plain,
}
BASELINE = "stdlib + python-json-logger"


def _close(handler: logging.Handler) -> None:
    for lg in list(logging.root.manager.loggerDict.values()):
        if isinstance(lg, logging.Logger) and handler in lg.handlers:
            lg.removeHandler(handler)
    handler.close()


def throughput(
    make: Callable[[str, int], tuple[Emit, logging.Handler]], n: int, max_bytes: int
) -> float:
    """Records per second for ``n`` records into a fresh directory."""
    d = tempfile.mkdtemp(prefix="bench-log-")
    try:
        emit, handler = make(os.path.join(d, "app.log"), max_bytes)
        for _ in range(200):  # warm caches
            emit()
        t0 = time.perf_counter()
        for _ in range(n):
            emit()
        dt = time.perf_counter() - t0
        _close(handler)
        return n / dt
    finally:
        shutil.rmtree(d, ignore_errors=True)


class _CountingHandler(LogFileHandler):
    """Counts rotations and times each one (the part of a call that rotation adds)."""

    rotations = 0
    rotate_ms: list[float]
    rotate_cpu_ms: list[float]

    def _rotate(self, incoming: int) -> None:
        before = self._ident
        t0, c0 = time.perf_counter_ns(), time.thread_time_ns()
        super()._rotate(incoming)
        if self._ident != before:
            self.rotations += 1
            self.rotate_ms.append((time.perf_counter_ns() - t0) / 1e6)
            # CPU time of this thread: the rotation's own cost, without preemption by
            # other processes on a shared machine.
            self.rotate_cpu_ms.append((time.thread_time_ns() - c0) / 1e6)


def _cookbook_gzip(path: str, max_bytes: int, rotated: list[int]) -> tuple[Emit, logging.Handler]:
    """The logging cookbook's compressing rotator: gzip inside the logging call."""
    h = _stdlib_rotating(path, max_bytes)

    def rotator(source: str, dest: str) -> None:
        rotated.append(1)
        with open(source, "rb") as sf, gzip.open(dest, "wb", compresslevel=9) as df:
            shutil.copyfileobj(sf, df)
        os.remove(source)

    h.rotator = rotator
    h.namer = lambda name: name + ".gz"
    h.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    lg = _logger(h)
    return (lambda: lg.info(MESSAGE, extra=EXTRA)), h


def _summary(lat_ms: list[float]) -> dict[str, float]:
    if not lat_ms:
        return {"n": 0.0, "p50_ms": 0.0, "p99_ms": 0.0, "p99.9_ms": 0.0, "max_ms": 0.0}
    s = sorted(lat_ms)
    return {
        "n": float(len(s)),
        "p50_ms": s[len(s) // 2],
        "p99_ms": s[int(len(s) * 0.99)],
        "p99.9_ms": s[int(len(s) * 0.999)],
        "max_ms": s[-1],
    }


def stalls(kind: str, n: int, max_bytes: int) -> dict[str, Any]:
    """Per-call latencies (ms): calls that rotated vs. all others (which run while the
    background compression of ``ours`` is busy). ``kind``: ours, cookbook, or floor
    (ours without rotation: the machine's own noise)."""
    d = tempfile.mkdtemp(prefix="bench-stall-")
    try:
        path = os.path.join(d, "app.log")
        cookbook_rotations: list[int] = []
        counting: _CountingHandler | None = None
        if kind == "cookbook":
            emit, h = _cookbook_gzip(path, max_bytes, cookbook_rotations)
        else:
            counting = _CountingHandler(
                path, max_bytes=0 if kind == "floor" else max_bytes, max_files=4, compress=True
            )
            counting.rotate_ms = []
            counting.rotate_cpu_ms = []
            h = counting
            lg = _logger(h)

            def emit() -> None:
                lg.info(MESSAGE, extra=EXTRA)

        def rotations() -> int:
            return counting.rotations if counting is not None else len(cookbook_rotations)

        rotating: list[float] = []
        other: list[float] = []
        clock = time.perf_counter_ns
        for _ in range(n):
            r0 = rotations()
            t0 = clock()
            emit()
            dt = (clock() - t0) / 1e6
            (rotating if rotations() != r0 else other).append(dt)
        _close(h)
        return {
            "rotations": rotations(),
            "rotating_calls": _summary(rotating),
            "other_calls": _summary(other),
            "rotate_step_ms": _summary(counting.rotate_ms if counting is not None else []),
            "rotate_step_cpu_ms": _summary(counting.rotate_cpu_ms if counting is not None else []),
        }
    finally:
        shutil.rmtree(d, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="short run (seconds)")
    ap.add_argument("--records", type=int, default=None, help="records per runner and round")
    ap.add_argument("--rounds", type=int, default=None)
    args = ap.parse_args(argv)
    n = args.records or (20_000 if args.quick else 100_000)
    rounds = args.rounds or (2 if args.quick else 3)
    max_bytes = 10 * MiB
    best: dict[str, float] = {}
    for _ in range(rounds):
        for name, make in RUNNERS.items():
            best[name] = max(best.get(name, 0.0), throughput(make, n, max_bytes))
    base = best[BASELINE]
    stall_n = 25_000 if args.quick else 60_000
    stall_bytes = 2 * MiB if args.quick else 10 * MiB
    stall = {kind: stalls(kind, stall_n, stall_bytes) for kind in ("ours", "cookbook", "floor")}
    return {
        "records": n,
        "rounds": rounds,
        "records_per_s": best,
        "ratio_vs_baseline": {k: v / base for k, v in best.items()},
        "rotation_size_mib": stall_bytes / MiB,
        "stall": stall,
    }


def _print(res: dict[str, Any]) -> None:
    print(
        f"### Log file throughput ({res['records']} records x best of {res['rounds']} rounds,"
        " 1 KiB message + 3 fields, 10 MiB rotation)\n"
    )
    print("| runner | records/s | vs python-json-logger |")
    print("|---|---:|---:|")
    for name, rate in res["records_per_s"].items():
        print(f"| {name} | {rate:,.0f} | {res['ratio_vs_baseline'][name]:.2f}x |")
    print(
        f"\n### Logging-thread latency around rotations ({res['rotation_size_mib']:g} MiB files, gzip)\n"
    )
    print(
        "| handler | rotations | rotate step p50 / worst ms | rotate step CPU worst ms |"
        " worst rotating call ms | other calls p99.9 ms | other calls worst ms |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|")
    labels = {
        "ours": "ours (rename + background gzip level 1)",
        "cookbook": "cookbook gzip rotator (gzip level 9 in the call)",
        "floor": "ours, rotation off (noise floor)",
    }
    for kind, label in labels.items():
        s = res["stall"][kind]
        rot = s["rotating_calls"]
        other = s["other_calls"]
        st = s["rotate_step_ms"]
        step = f"{st['p50_ms']:.3f} / {st['max_ms']:.3f}" if st["n"] else "-"
        cpu = f"{s['rotate_step_cpu_ms']['max_ms']:.3f}" if st["n"] else "-"
        print(
            f"| {label} | {s['rotations']} | {step} | {cpu} | {rot['max_ms']:.3f} |"
            f" {other['p99.9_ms']:.3f} | {other['max_ms']:.3f} |"
        )


if __name__ == "__main__":
    _print(main())
