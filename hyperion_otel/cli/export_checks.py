"""Doctor check of each export pipeline: a real test span, metric point and log record are
sent through the exporter the settings choose, and the export *result* decides the row.

The test items are built as SDK data objects by ``sdk._probe`` and handed straight to the
raw exporter from ``_pipeline.build_exporter``, so no provider is installed and nothing global changes. The
three signals are checked in parallel, each bounded by ``timeout_s`` (OTLP retries included).
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import socket
import tempfile
import threading
import time
import urllib.parse
from collections.abc import Callable
from typing import Any

from hyperion_otel.cli.checks import Check, Status
from hyperion_otel.sdk._probe import probe_items
from hyperion_otel.settings import SIGNALS, Settings

__all__ = ["check_exports"]

_ITEMS = {"traces": "span", "metrics": "metric point", "logs": "log record"}
_GRACE_S = 3.0  # beyond the export timeout, before a stuck exporter thread is abandoned
_PROBE_CONNECT_S = 0.5
_MAX_REASON = 240


class _Capture(logging.Handler):
    """Collects the OTLP exporters' own log messages per thread (they say why an export failed)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.messages: dict[int, list[str]] = {}
        self._guard = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        with self._guard:
            bucket = self.messages.setdefault(record.thread or 0, [])
            if len(bucket) < 20:
                bucket.append(record.getMessage())


@contextlib.contextmanager
def _captured_exporter_logs() -> Any:
    logger = logging.getLogger("opentelemetry.exporter")
    capture = _Capture()
    propagate = logger.propagate
    logger.addHandler(capture)
    logger.propagate = False  # the doctor's table says it, without tracebacks on stderr
    try:
        yield capture
    finally:
        logger.removeHandler(capture)
        logger.propagate = propagate


def _succeeded(result: Any) -> bool:
    return getattr(result, "name", "") == "SUCCESS"


# --- one exporter -----------------------------------------------------------------------------
def _host_port(url: str, protocol: str) -> tuple[str, int]:
    parsed = urllib.parse.urlsplit(url if "//" in url else "//" + url)
    default = 4317 if protocol == "grpc" else (443 if parsed.scheme == "https" else 80)
    return parsed.hostname or "localhost", parsed.port or default


def _tcp_probe(host: str, port: int) -> str | None:
    """None when something accepts connections there, else what went wrong."""
    try:
        with socket.create_connection((host, port), timeout=_PROBE_CONNECT_S):
            return None
    except ConnectionRefusedError:
        return "connection refused"
    except TimeoutError:
        return "connection timed out"
    except OSError as exc:
        return exc.strerror or str(exc)


def _otlp_row(settings: Settings, signal: str, ok: bool, elapsed_s: float, reason: str) -> Check:
    protocol = settings.protocol_for(signal)
    url = settings.endpoint_for(signal)
    name = f"{signal} export (otlp)"
    item = _ITEMS[signal]
    if ok:
        return Check(
            name,
            Status.PASS,
            f"test {item} accepted by {url} ({protocol}) in {1000 * elapsed_s:.0f} ms",
        )
    per_signal = bool(getattr(settings, f"otlp_{signal}_endpoint"))
    var = (
        f"OTEL_EXPORTER_OTLP_{signal.upper()}_ENDPOINT"
        if per_signal
        else "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    host, port = _host_port(url, protocol)
    probe = _tcp_probe(host, port)
    if probe is not None:
        return Check(
            name,
            Status.FAIL,
            f"{url} ({protocol}) is unreachable: {probe}; the test {item} was not delivered",
            f"start the OTLP receiver (a Collector or backend) at {host}:{port}, or point "
            f"{var} at the one you run",
        )
    headers_var = (
        f"OTEL_EXPORTER_OTLP_{signal.upper()}_HEADERS"
        if per_signal
        else "OTEL_EXPORTER_OTLP_HEADERS"
    )
    return Check(
        name,
        Status.FAIL,
        f"{url} ({protocol}) is reachable but did not accept the test {item} within "
        f"{elapsed_s:.1f} s: {reason[:_MAX_REASON] or 'export returned failure'}",
        f"check OTEL_EXPORTER_OTLP_PROTOCOL (grpc: port 4317, http/protobuf: 4318), "
        f"the URL path (/v1/{signal} for HTTP), auth in {headers_var}, and that the "
        f"backend accepts {signal}",
    )


def _file_row(settings: Settings, signal: str, export: Callable[[Any], Any]) -> Check:
    from hyperion_otel.sdk._pipeline import build_exporter

    name = f"{signal} export (file)"
    target = os.path.abspath(os.path.join(settings.output_dir, f"{signal}.jsonl"))
    anchor = os.path.abspath(settings.output_dir)
    while not os.path.exists(anchor) and os.path.dirname(anchor) != anchor:
        anchor = os.path.dirname(anchor)
    fix = "make HYPERION_OUTPUT_DIR point to a writable directory"
    if not os.path.isdir(anchor):
        return Check(
            name, Status.FAIL, f"cannot create {settings.output_dir}: {anchor} is a file", fix
        )
    try:
        scratch = tempfile.mkdtemp(prefix=".hyperion-doctor-", dir=anchor)
    except OSError as exc:
        return Check(name, Status.FAIL, f"{anchor} is not writable: {exc.strerror or exc}", fix)
    try:
        exporter = build_exporter(settings.replace(output_dir=scratch), signal, "otlp_file")
        ok = _succeeded(export(exporter))
        written = os.path.exists(os.path.join(scratch, f"{signal}.jsonl"))
    except OSError as exc:
        return Check(
            name, Status.FAIL, f"writing a test {_ITEMS[signal]} failed: {exc.strerror or exc}", fix
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if not (ok and written):
        return Check(
            name, Status.FAIL, f"the file exporter did not write a test {_ITEMS[signal]}", fix
        )
    return Check(
        name, Status.PASS, f"{target} is writable (a test {_ITEMS[signal]} was encoded and written)"
    )


# --- all signals ------------------------------------------------------------------------------
def check_exports(settings: Settings, timeout_s: float = 2.0, run_id: str = "") -> list[Check]:
    """One row per exporter of each signal, from a real export of a test item."""
    if settings.sdk_disabled:
        return [
            Check(
                "export",
                Status.WARN,
                "OTEL_SDK_DISABLED=true: nothing is exported",
                "unset OTEL_SDK_DISABLED",
            )
        ]
    from hyperion_otel.sdk._pipeline import build_exporter

    run_id = run_id or f"{os.getpid()}-{time.time_ns()}"
    items = probe_items(settings, run_id)
    quick = settings.replace(otlp_timeout_s=min(timeout_s, settings.otlp_timeout_s))
    rows: dict[tuple[str, str], Check] = {}
    workers: list[tuple[str, threading.Thread]] = []

    with _captured_exporter_logs() as capture:
        for signal in SIGNALS:
            for exporter_name in settings.exporters_for(signal):
                key = (signal, exporter_name)
                if exporter_name == "console":
                    rows[key] = Check(
                        f"{signal} export (console)", Status.PASS, f"{signal} are printed on stdout"
                    )
                elif exporter_name == "otlp_file":
                    rows[key] = _file_row(settings, signal, items[signal])
                else:

                    def work(signal: str = signal, key: tuple[str, str] = key) -> None:
                        start = time.perf_counter()
                        ok, reason = False, ""
                        try:
                            exporter = build_exporter(quick, signal, "otlp")
                            try:
                                ok = _succeeded(items[signal](exporter))
                            finally:
                                exporter.shutdown()
                        except Exception as exc:  # noqa: BLE001 - becomes the row's reason
                            reason = f"{type(exc).__name__}: {exc}"
                        elapsed = time.perf_counter() - start
                        said = capture.messages.get(threading.get_ident(), [])
                        if not reason and said:
                            # The first message says why (status, error), the last how it ended.
                            reason = (
                                said[0]
                                if len(said) == 1
                                else f"{said[0][:150]} ... {said[-1][:100]}"
                            )
                        rows[key] = _otlp_row(settings, signal, ok, elapsed, reason)

                    t = threading.Thread(target=work, name=f"hyperion-doctor-{signal}", daemon=True)
                    t.start()
                    workers.append((signal, t))
                    rows.setdefault(
                        key,
                        Check(
                            f"{signal} export (otlp)",
                            Status.FAIL,
                            f"{quick.endpoint_for(signal)}: the export did not return "
                            f"within {timeout_s + _GRACE_S:.0f} s",
                            "check the collector is not hung; lower OTEL_EXPORTER_OTLP_TIMEOUT",
                        ),
                    )
        deadline = time.monotonic() + timeout_s + _GRACE_S
        for _, t in workers:
            t.join(max(0.0, deadline - time.monotonic()))
    return [rows[k] for k in sorted(rows, key=lambda k: (SIGNALS.index(k[0]), k[1]))]
