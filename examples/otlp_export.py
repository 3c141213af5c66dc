"""OTLP export: send a run's spans, metrics and logs to a collector, and what happens when the
collector is down.

With ``OTEL_EXPORTER_OTLP_ENDPOINT`` set, the telemetry goes there (a Collector, Jaeger,
Tempo, Phoenix, ...). Without it this example starts a stand-in OTLP/HTTP receiver on
127.0.0.1 that counts what arrives, so it runs anywhere. Then it points the SDK at a port
where nothing listens: generation goes on at full speed, ``shutdown()`` returns within
``HYPERION_SHUTDOWN_TIMEOUT_S`` and reports what it could not deliver. Run::

    python examples/otlp_export.py [MODEL]          # MODEL defaults to builtin:tiny
    OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4317 python examples/otlp_export.py

Check a set-up before a run with ``hyperion-otel doctor``: it sends a test span, metric
and log record to the configured endpoint and says which one was not accepted, and why.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import hyperion_otel as h


class _Sink(BaseHTTPRequestHandler):
    """Accepts OTLP/HTTP export requests and counts them per signal (``/v1/<signal>``)."""

    received: ClassVar[Counter[str]] = Counter()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.received[self.path.rsplit("/", 1)[-1]] += 1
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")  # an empty Export*ServiceResponse
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        return


@contextmanager
def local_receiver() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run(model_path: str, **overrides: object) -> tuple[float, h.ShutdownReport | None]:
    """Configure, generate three times, shut down; returns (generation seconds, report)."""
    h.configure(log_outputs=("otlp",), metric_export_interval_ms=200, **overrides)
    model = h.load_model(model_path)
    start = time.perf_counter()
    for i in range(3):
        model.generate(f"Request {i}:", h.GenerationConfig(max_new_tokens=12, seed=i))
    elapsed = time.perf_counter() - start
    h.get_logger().info("three requests done")
    return elapsed, h.shutdown()


def main() -> None:
    model_path = sys.argv[1] if len(sys.argv) > 1 else "builtin:tiny"
    settings = h.Settings.from_env()
    if settings.otlp_endpoint:
        seconds, report = run(model_path)
        # masked(): the endpoint as it may be shown, with any credentials in it as ***
        shown = settings.masked()["otlp_endpoint"]
        print(f"sent to {shown}: generation {seconds:.2f} s; shutdown {report}")
        return

    with local_receiver() as endpoint:
        seconds, report = run(model_path, otlp_endpoint=endpoint, otlp_protocol="http/protobuf")
    assert report is not None
    print(
        f"live receiver at {endpoint}: generation {seconds:.2f} s; requests received per signal: "
        f"{dict(_Sink.received)}; lost {report.total_lost} item(s)"
    )
    assert report.total_lost == 0 and set(_Sink.received) >= {"traces", "metrics", "logs"}

    dead = f"http://127.0.0.1:{free_port()}"
    seconds, report = run(
        model_path, otlp_endpoint=dead, otlp_protocol="http/protobuf", shutdown_timeout_s=1.0
    )
    assert report is not None
    print(
        f"dead collector at {dead}: generation {seconds:.2f} s (exports run on background threads); shutdown took "
        f"{report.duration_s:.2f} s and reports {report.lost} not delivered"
    )
    assert report.duration_s < 3.0


if __name__ == "__main__":
    main()
