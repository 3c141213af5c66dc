"""Shutdown time with a collector that is down and with one that hangs.

Every signal (traces, metrics, logs) is exported over OTLP to a loopback endpoint that
misbehaves, a few hundred spans, metric points and log records are queued, then
``shutdown()`` is timed (wall clock, from the call to its return). Collectors:

* ``dead``: a bound port that never listens, so every connect is refused at once (the
  OTel SDK alone then retries with backoff: measured here at 30 s);
* ``hanging``: a local socket server that accepts every connection and reads and answers
  nothing, so each export waits for its timeout (10 s by default).

Both protocols (gRPC and HTTP/protobuf), ``--repeats`` rounds, variants interleaved;
the figure per variant is the worst round. Goal: <= 2 s with a dead collector (the
default ``HYPERION_SHUTDOWN_TIMEOUT_S`` budget is 2 s).

    python benchmarks/bench_shutdown.py [--quick] [--repeats N] [--items N]
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import socket
import statistics
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from typing import Any

from hyperion_otel import sdk
from hyperion_otel._seams import telemetry as _telemetry
from hyperion_otel.settings import Settings

PROTOCOLS = ("grpc", "http/protobuf")
COLLECTORS = ("dead", "hanging")


@contextlib.contextmanager
def dead_collector() -> Iterator[str]:
    """Endpoint of a loopback port that refuses connections (bound, never listening)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{s.getsockname()[1]}"
    finally:
        s.close()


@contextlib.contextmanager
def hanging_collector() -> Iterator[str]:
    """Endpoint of a loopback server that accepts connections and never answers.

    Accepted sockets are kept open (not read) until the context ends, so a client
    waits for its own timeout; the accept thread stops with the context.
    """
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    srv.settimeout(0.05)
    stop = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(conn)

    t = threading.Thread(target=accept, name="bench-hanging-collector", daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{srv.getsockname()[1]}"
    finally:
        stop.set()
        t.join(2.0)
        for conn in held:
            conn.close()
        srv.close()


def _emit(items: int) -> None:
    """Queue ``items`` spans, metric points and log records through the telemetry face."""
    tracer = _telemetry.tracer()
    counter = _telemetry.counter("bench.shutdown.items")
    log = logging.getLogger("hyperion.bench_shutdown")
    for i in range(items):
        with tracer.start_as_current_span("bench.shutdown.span") as span:
            span.set_attribute("bench.i", i)
            counter.add(1, {"bench.kind": "span"})
            log.warning("bench shutdown record %d", i)


def shutdown_time(collector: str, protocol: str, items: int, out_dir: str) -> dict[str, Any]:
    """Configure every signal to ``collector`` over ``protocol``, emit, time ``shutdown()``."""
    ctx = dead_collector() if collector == "dead" else hanging_collector()
    with ctx as endpoint:
        settings = Settings(
            otlp_endpoint=endpoint,
            otlp_protocol=protocol,
            output_dir=out_dir,
            log_outputs=frozenset({"otlp"}),
        )
        sdk.configure(settings)
        try:
            _emit(items)
            # Let the batch processors start an export, as a program running for a while would.
            time.sleep(0.2)
        finally:
            t0 = time.perf_counter()
            report = sdk.shutdown()
            took = time.perf_counter() - t0
    return {
        "shutdown_s": took,
        "lost": report.total_lost if report is not None else 0,
        "timed_out": bool(report.timed_out) if report is not None else False,
    }


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="1 round, fewer items")
    ap.add_argument("--repeats", type=int, default=None)
    ap.add_argument("--items", type=int, default=None)
    ap.add_argument("--protocols", default=",".join(PROTOCOLS))
    args = ap.parse_args(argv)
    repeats = args.repeats or (1 if args.quick else 3)
    items = args.items or (100 if args.quick else 500)
    protocols = [p for p in args.protocols.split(",") if p]
    # Export failures and our "not delivered" warning are expected here: keep the output
    # to the table.
    quiet = [logging.getLogger(n) for n in ("hyperion", "opentelemetry")]
    levels = [lg.level for lg in quiet]
    for lg in quiet:
        lg.setLevel(logging.CRITICAL)
    samples: dict[str, list[dict[str, Any]]] = {}
    try:
        with tempfile.TemporaryDirectory(prefix="bench-shutdown-") as tmp:
            for r in range(repeats):
                variants = [(c, p) for c in COLLECTORS for p in protocols]
                for collector, protocol in variants if r % 2 == 0 else reversed(variants):
                    res = shutdown_time(collector, protocol, items, tmp)
                    samples.setdefault(f"{collector} {protocol}", []).append(res)
    finally:
        for lg, lvl in zip(quiet, levels, strict=True):
            lg.setLevel(lvl)
    out: dict[str, Any] = {"repeats": repeats, "items": items, "variants": {}}
    for name, runs in samples.items():
        times = [x["shutdown_s"] for x in runs]
        out["variants"][name] = {
            "worst_s": max(times),
            "median_s": statistics.median(times),
            "lost": max(x["lost"] for x in runs),
            "timed_out": any(x["timed_out"] for x in runs),
        }
    for collector in COLLECTORS:
        worst = [v["worst_s"] for k, v in out["variants"].items() if k.startswith(collector + " ")]
        out[f"{collector}_worst_s"] = max(worst) if worst else float("nan")
    return out


def _table(res: dict[str, Any]) -> str:
    lines = [
        f"### shutdown() with a misbehaving collector ({res['items']} spans + metric points + "
        f"log records queued, worst of {res['repeats']})\n",
        "| collector, protocol | worst s | median s | items not delivered | budget reached |",
        "|---|---:|---:|---:|---|",
    ]
    for name, v in res["variants"].items():
        lines.append(
            f"| {name} | {v['worst_s']:.2f} | {v['median_s']:.2f} | {v['lost']} | {v['timed_out']} |"
        )
    return "\n".join(lines)


if __name__ == "__main__":
    print(_table(main()))
