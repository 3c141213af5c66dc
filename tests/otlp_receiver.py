"""A real OTLP receiver for tests: OTLP/gRPC and OTLP/HTTP (protobuf or JSON) on 127.0.0.1.

It decodes every export request, keeps the raw requests and flattened views (spans,
metrics, logs) in thread-safe lists, and can be switched at run time into a fault mode
that a collector can show in the wild (hang, slow, error status, connection reset).

    with OTLPReceiver() as rx:
        exporter = OTLPSpanExporter(endpoint=rx.grpc_endpoint, insecure=True)  # gRPC
        exporter = http.OTLPSpanExporter(endpoint=rx.http_url("traces"))        # HTTP
        ...
        span = rx.wait_for_spans(1)[0]
        rx.set_fault("status", http_status=503, retry_after_s=0.1)
"""

from __future__ import annotations

import functools
import gzip
import socket
import struct
import threading
import time
import zlib
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Literal

import grpc
from google.protobuf import json_format
from google.protobuf.message import DecodeError, Message
from google.rpc.error_details_pb2 import RetryInfo  # type: ignore[import-untyped]
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2 as logs_svc
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2 as metrics_svc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2 as trace_svc

from otlp_decode import (
    REQUEST_TYPES,
    DataPoint,
    ReceivedLog,
    ReceivedMetric,
    ReceivedSpan,
    Signal,
    SpanEvent,
    SpanLink,
    flatten,
    parse_otlp_json,
)

__all__ = [
    "MODES",
    "DataPoint",
    "Fault",
    "Mode",
    "OTLPReceiver",
    "ReceivedLog",
    "ReceivedMetric",
    "ReceivedRequest",
    "ReceivedSpan",
    "Signal",
    "SpanEvent",
    "SpanLink",
    "closed_port",
    "flatten",
    "parse_otlp_json",
]

Mode = Literal["ok", "hang", "slow", "late", "status", "reset"]
MODES: tuple[Mode, ...] = ("ok", "hang", "slow", "late", "status", "reset")

_RESPONSE_TYPES: dict[str, type[Message]] = {
    "traces": trace_svc.ExportTraceServiceResponse,
    "metrics": metrics_svc.ExportMetricsServiceResponse,
    "logs": logs_svc.ExportLogsServiceResponse,
}
_GRPC_SERVICES: dict[Signal, str] = {
    "traces": trace_svc.DESCRIPTOR.services_by_name["TraceService"].full_name,
    "metrics": metrics_svc.DESCRIPTOR.services_by_name["MetricsService"].full_name,
    "logs": logs_svc.DESCRIPTOR.services_by_name["LogsService"].full_name,
}
_HTTP_PATHS: dict[str, Signal] = {
    "/v1/traces": "traces",
    "/v1/metrics": "metrics",
    "/v1/logs": "logs",
}


@dataclass(frozen=True)
class Fault:
    """What the receiver does with each request. ``ok`` accepts and answers at once."""

    mode: Mode = "ok"
    delay_s: float = 0.0  # slow: wait this long, then accept; late: accept, then wait to answer
    http_status: int = 503  # status
    grpc_status: grpc.StatusCode = grpc.StatusCode.UNAVAILABLE  # status
    retry_after_s: float | None = None  # status: Retry-After header / gRPC RetryInfo trailer


@dataclass(frozen=True)
class ReceivedRequest:
    transport: Literal["grpc", "http"]
    signal: Signal
    mode: Mode  # fault mode in force when the request arrived
    headers: dict[str, str]  # lower-case names
    message: Message | None  # Export*ServiceRequest; None if not read (reset) or undecodable
    encoding: Literal["protobuf", "json"] = "protobuf"


@contextmanager
def closed_port() -> Iterator[int]:
    """A loopback port that refuses connections while the context lasts.

    The socket is bound (so no other test can take the port) but never listens, so a
    connect gets an immediate RST: a collector that is down.
    """
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind(("127.0.0.1", 0))
        yield s.getsockname()[1]
    finally:
        s.close()


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # we join our own connection threads in close_connections()

    def __init__(self, receiver: OTLPReceiver) -> None:
        self.receiver = receiver
        self._conn_lock = threading.Lock()
        self._conns: dict[socket.socket, threading.Thread] = {}
        super().__init__(("127.0.0.1", 0), _HTTPHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        t = threading.Thread(
            target=self.process_request_thread,
            args=(request, client_address),
            name="otlp-receiver-http-conn",
            daemon=True,
        )
        with self._conn_lock:
            self._conns[request] = t
        t.start()

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._conn_lock:
                self._conns.pop(request, None)

    def close_connections(self, timeout_s: float) -> None:
        """Unblock keep-alive reads and hung handlers, then join their threads."""
        with self._conn_lock:
            conns = dict(self._conns)
        for sock in conns:
            with suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        deadline = time.monotonic() + timeout_s
        for t in conns.values():
            t.join(max(0.0, deadline - time.monotonic()))


class _HTTPHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, like a real collector
    server: _HTTPServer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep test output clean

    def _reply(
        self,
        status: int,
        body: bytes,
        ctype: str = "text/plain",
        extra: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (extra or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(body)

    def _read_body(self, partial: bool = False) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks = []
            while size := int(self.rfile.readline().split(b";")[0].strip() or b"0", 16):
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
                if partial:
                    return b"".join(chunks)
            self.rfile.readline()
            return b"".join(chunks)
        n = int(self.headers.get("Content-Length") or 0)
        if n > self.server.receiver.max_body_bytes:
            raise ValueError(f"body of {n} bytes exceeds max_body_bytes")
        return self.rfile.read(n // 2 if partial else n)

    def _reset(self) -> None:
        # SO_LINGER 0 makes close() send a TCP RST instead of a FIN.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True

    def do_GET(self) -> None:
        self._reply(405, b"OTLP receiver accepts POST only")

    def do_POST(self) -> None:
        rx = self.server.receiver
        signal = _HTTP_PATHS.get(self.path.split("?")[0])
        if signal is None:
            self._reply(404, b"unknown path")
            return
        fault = rx.fault
        headers = {k.lower(): v for k, v in self.headers.items()}
        if fault.mode == "reset":
            self._read_body(partial=True)
            rx._arrived("http", signal, headers, None, fault, "protobuf")
            self._reset()
            return
        is_json = headers.get("content-type", "").split(";")[0].strip() == "application/json"
        try:
            body = self._read_body()
            enc = headers.get("content-encoding", "").lower()
            if enc == "gzip":
                body = gzip.decompress(body)
            elif enc == "deflate":
                body = zlib.decompress(body)
            if is_json:
                message = parse_otlp_json(signal, body)
            else:
                message = REQUEST_TYPES[signal]()
                message.ParseFromString(body)
        except (ValueError, DecodeError, OSError, EOFError, zlib.error) as e:
            rx._arrived("http", signal, headers, None, fault, "json" if is_json else "protobuf")
            self.close_connection = True  # the body may be unread: the stream is out of step
            self._reply(400, f"bad OTLP request: {e}".encode())
            return
        rx._arrived("http", signal, headers, message, fault, "json" if is_json else "protobuf")
        if fault.mode == "late":
            rx._accept(signal, message)  # stored at once; the answer comes after delay_s
        if not rx._delay(fault):
            self.close_connection = True  # stopping: drop the request unanswered
            return
        if fault.mode == "status":
            extra = (
                {} if fault.retry_after_s is None else {"Retry-After": f"{fault.retry_after_s:g}"}
            )
            self._reply(fault.http_status, b"fault injected by OTLPReceiver", extra=extra)
            return
        if fault.mode != "late":
            rx._accept(signal, message)
        response = _RESPONSE_TYPES[signal]()
        if is_json:
            self._reply(200, json_format.MessageToJson(response).encode(), "application/json")
        else:
            self._reply(200, response.SerializeToString(), "application/x-protobuf")


class OTLPReceiver:
    """OTLP/gRPC and OTLP/HTTP receiver on 127.0.0.1 with ephemeral ports.

    Every request is recorded in ``requests`` (whatever the fault mode); only the ones
    accepted (modes ``ok``, ``slow`` and ``late``) feed ``spans``, ``metrics`` and ``logs``.
    Each list keeps at most ``max_records`` entries (oldest dropped first).
    """

    def __init__(
        self, *, max_records: int = 100_000, max_body_bytes: int = 64 << 20, grpc_workers: int = 16
    ) -> None:
        self.max_records = max_records
        self.max_body_bytes = max_body_bytes
        self._grpc_workers = grpc_workers
        self._cond = threading.Condition(threading.RLock())
        self._fault = Fault()
        self._stopping = threading.Event()
        self._counts: dict[str, int] = dict.fromkeys(MODES, 0)
        self._requests: deque[ReceivedRequest] = deque(maxlen=max_records)
        self._spans: deque[ReceivedSpan] = deque(maxlen=max_records)
        self._metrics: deque[ReceivedMetric] = deque(maxlen=max_records)
        self._logs: deque[ReceivedLog] = deque(maxlen=max_records)
        self._grpc_server: Any = None
        self._executor: ThreadPoolExecutor | None = None
        self._http: _HTTPServer | None = None
        self._http_thread: threading.Thread | None = None
        self._grpc_port = self._http_port = 0
        self._started = False

    # lifecycle ---------------------------------------------------------------------------
    def start(self) -> OTLPReceiver:
        if self._started:
            raise RuntimeError("OTLPReceiver.start() called twice")
        self._started = True
        self._executor = ThreadPoolExecutor(
            self._grpc_workers, thread_name_prefix="otlp-receiver-grpc"
        )
        server = grpc.server(
            self._executor,
            options=[
                ("grpc.so_reuseport", 0),
                ("grpc.max_receive_message_length", self.max_body_bytes),
            ],
        )
        server.add_generic_rpc_handlers([self._grpc_service(sig) for sig in _GRPC_SERVICES])
        self._grpc_port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        self._grpc_server = server
        self._http = _HTTPServer(self)
        self._http_port = self._http.server_address[1]
        self._http_thread = threading.Thread(
            target=self._http.serve_forever, args=(0.05,), name="otlp-receiver-http", daemon=True
        )
        self._http_thread.start()
        return self

    def stop(self) -> None:
        """Stop both servers, abandoning hung/slow requests; joins every thread it started."""
        self._stopping.set()
        if self._http is not None:
            self._http.shutdown()
            self._http.server_close()
            self._http.close_connections(timeout_s=1.0)
            assert self._http_thread is not None
            self._http_thread.join(1.0)
            self._http = None
        if self._grpc_server is not None:
            self._grpc_server.stop(grace=None).wait(1.0)
            self._grpc_server = None
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def __enter__(self) -> OTLPReceiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # endpoints ---------------------------------------------------------------------------
    @property
    def grpc_endpoint(self) -> str:
        """``http://127.0.0.1:PORT`` for the gRPC exporters (pass ``insecure=True``)."""
        if not self._grpc_port:
            raise RuntimeError("OTLPReceiver not started")
        return f"http://127.0.0.1:{self._grpc_port}"

    @property
    def http_endpoint(self) -> str:
        """Base URL ``http://127.0.0.1:PORT`` (what OTEL_EXPORTER_OTLP_ENDPOINT takes)."""
        if not self._http_port:
            raise RuntimeError("OTLPReceiver not started")
        return f"http://127.0.0.1:{self._http_port}"

    def http_url(self, signal: Signal) -> str:
        """Full per-signal URL, what the HTTP exporters' ``endpoint=`` argument takes."""
        return f"{self.http_endpoint}/v1/{signal}"

    # faults ------------------------------------------------------------------------------
    @property
    def fault(self) -> Fault:
        return self._fault

    def set_fault(self, mode: Mode = "ok", **options: Any) -> None:
        """Switch fault mode for requests arriving from now on, e.g.
        ``set_fault("status", http_status=429, retry_after_s=0.2)``, ``set_fault("slow",
        delay_s=2)`` (answer, and store, after 2 s), ``set_fault("late", delay_s=2)`` (store at
        once, answer after 2 s: a backend that holds what the exporter gave up on), ``set_fault("hang")``, ``set_fault("reset")``, ``set_fault()`` (ok).
        Requests already hanging stay hung until ``stop()``."""
        if mode not in MODES:
            raise ValueError(f"fault mode {mode!r} is not one of {MODES}")
        self._fault = Fault(mode, **options)

    @property
    def request_counts(self) -> dict[str, int]:
        """Requests received per fault mode (both transports, every signal)."""
        with self._cond:
            return dict(self._counts)

    # recorded data -----------------------------------------------------------------------
    @property
    def requests(self) -> list[ReceivedRequest]:
        with self._cond:
            return list(self._requests)

    @property
    def headers(self) -> list[dict[str, str]]:
        """Headers (gRPC metadata) of every request received, in arrival order."""
        with self._cond:
            return [r.headers for r in self._requests]

    @property
    def spans(self) -> list[ReceivedSpan]:
        with self._cond:
            return list(self._spans)

    @property
    def metrics(self) -> list[ReceivedMetric]:
        """Every metric of every accepted export: a periodic reader sends a name many times."""
        with self._cond:
            return list(self._metrics)

    @property
    def logs(self) -> list[ReceivedLog]:
        with self._cond:
            return list(self._logs)

    def metric(self, name: str) -> ReceivedMetric | None:
        """The latest export of metric ``name``, or None."""
        with self._cond:
            return next((m for m in reversed(self._metrics) if m.name == name), None)

    def clear(self) -> None:
        """Forget everything received so far (counts too); the fault mode stays."""
        with self._cond:
            self._requests.clear()
            self._spans.clear()
            self._metrics.clear()
            self._logs.clear()
            self._counts = dict.fromkeys(MODES, 0)

    # waiting -----------------------------------------------------------------------------
    def wait_for(self, predicate: Callable[[], bool], timeout: float = 5.0) -> bool:
        """Block until ``predicate()`` is true (re-checked on every request); False on timeout."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
        return True

    def wait_for_spans(
        self, n: int = 1, timeout: float = 5.0, name: str | None = None
    ) -> list[ReceivedSpan]:
        """At least ``n`` spans (named ``name`` if given); AssertionError on timeout."""

        def matching() -> list[ReceivedSpan]:
            return [s for s in self.spans if name is None or s.name == name]

        if not self.wait_for(lambda: len(matching()) >= n, timeout):
            what = f"{n} spans" + (f" named {name!r}" if name else "")
            got = [s.name for s in self.spans]
            raise AssertionError(f"expected >= {what} within {timeout}s; got {got}")
        return matching()

    def wait_for_logs(self, n: int = 1, timeout: float = 5.0) -> list[ReceivedLog]:
        """At least ``n`` log records; AssertionError on timeout."""
        if not self.wait_for(lambda: len(self._logs) >= n, timeout):
            raise AssertionError(
                f"expected >= {n} log records within {timeout}s; got {[r.body for r in self.logs]}"
            )
        return self.logs

    def wait_for_metric(
        self, name: str, timeout: float = 5.0, where: Callable[[ReceivedMetric], bool] | None = None
    ) -> ReceivedMetric:
        """Latest export of ``name`` (satisfying ``where`` if given); AssertionError on timeout."""

        def found() -> bool:
            m = self.metric(name)
            return m is not None and (where is None or where(m))

        if not self.wait_for(found, timeout):
            names = sorted({m.name for m in self.metrics})
            raise AssertionError(
                f"metric {name!r} not received (as wanted) within {timeout}s; got {names}"
            )
        m = self.metric(name)
        assert m is not None
        return m

    # request handling (called from server threads) ----------------------------------------
    def _arrived(
        self,
        transport: Literal["grpc", "http"],
        signal: Signal,
        headers: dict[str, str],
        message: Message | None,
        fault: Fault,
        encoding: Literal["protobuf", "json"],
    ) -> None:
        with self._cond:
            self._counts[fault.mode] += 1
            self._requests.append(
                ReceivedRequest(transport, signal, fault.mode, headers, message, encoding)
            )
            self._cond.notify_all()

    def _delay(self, fault: Fault) -> bool:
        """Apply hang/slow; False means the receiver is stopping and must not answer."""
        if fault.mode == "hang":
            self._stopping.wait()
            return False
        if fault.mode in ("slow", "late"):
            return not self._stopping.wait(fault.delay_s)
        return not self._stopping.is_set()

    def _accept(self, signal: Signal, message: Message) -> None:
        items = flatten(signal, message)
        with self._cond:
            targets: dict[str, deque[Any]] = {
                "traces": self._spans,
                "metrics": self._metrics,
                "logs": self._logs,
            }
            targets[signal].extend(items)
            self._cond.notify_all()

    def _grpc_service(self, signal: Signal) -> grpc.GenericRpcHandler:
        export = grpc.unary_unary_rpc_method_handler(
            functools.partial(self._grpc_export, signal),
            request_deserializer=REQUEST_TYPES[signal].FromString,
            response_serializer=_RESPONSE_TYPES[signal].SerializeToString,
        )
        return grpc.method_handlers_generic_handler(_GRPC_SERVICES[signal], {"Export": export})

    def _grpc_export(
        self, signal: Signal, request: Message, context: grpc.ServicerContext
    ) -> Message:
        fault = self._fault
        headers = {
            k.lower(): v if isinstance(v, str) else v.hex()
            for k, v in context.invocation_metadata()
        }
        self._arrived(
            "grpc", signal, headers, None if fault.mode == "reset" else request, fault, "protobuf"
        )
        if fault.mode == "late":
            self._accept(signal, request)  # stored at once; the answer comes after delay_s
        if not self._delay(fault):
            context.abort(grpc.StatusCode.UNAVAILABLE, "OTLPReceiver stopping")
        if fault.mode == "status":
            if fault.retry_after_s is not None:
                info = RetryInfo()
                info.retry_delay.FromNanoseconds(int(fault.retry_after_s * 1e9))
                context.set_trailing_metadata(
                    (("google.rpc.retryinfo-bin", info.SerializeToString()),)
                )
            context.abort(fault.grpc_status, "fault injected by OTLPReceiver")
        if fault.mode == "reset":
            # grpcio hides the socket; a peer reset surfaces to clients as UNAVAILABLE.
            context.abort(
                grpc.StatusCode.UNAVAILABLE, "connection reset (simulated by OTLPReceiver)"
            )
        if fault.mode != "late":
            self._accept(signal, request)
        return _RESPONSE_TYPES[signal]()
