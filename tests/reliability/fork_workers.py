"""Worker functions for the fork/spawn tests (importable by a spawned interpreter)."""

from __future__ import annotations

import os
import threading
from typing import Any

from opentelemetry import propagate
from opentelemetry._logs import SeverityNumber

import hyperion_otel.sdk as sdk
from hyperion_otel._seams import telemetry as _telemetry


def thread_names() -> list[str]:
    return sorted(t.name for t in threading.enumerate())


def emit_child(carrier: dict[str, str], tag: str, flush: bool, q: Any) -> None:
    """A child span of the parent's context (from ``carrier``), with a log record in it."""
    ctx = propagate.extract(carrier)
    with _telemetry.tracer().start_as_current_span(f"child {tag}", context=ctx):
        _telemetry.logger().emit(body=f"log {tag}", severity_number=SeverityNumber.INFO)
    if flush:
        tel = sdk.get_telemetry()
        assert tel is not None
        tel.force_flush(5)
    q.put((tag, os.getpid(), thread_names()))


def spawn_child(carrier: dict[str, str], tag: str, env: dict[str, str], q: Any) -> None:
    """A fresh interpreter configures from its environment and never calls shutdown():
    the exit hook must deliver what it emitted."""
    os.environ.update(env)
    sdk.configure()
    emit_child(carrier, tag, False, q)


def fork_grandchild(carrier: dict[str, str], q: Any) -> None:
    """Fork once more from a forked child: threads must still not multiply."""
    import multiprocessing as mp

    p = mp.get_context("fork").Process(target=emit_child, args=(carrier, "grandchild", True, q))
    p.start()
    p.join(30)
    emit_child(carrier, "middle", True, q)
