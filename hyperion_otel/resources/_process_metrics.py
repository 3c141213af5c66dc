"""Process metrics with the semantic-convention names, read only when metrics are collected.

- ``process.cpu.time`` (s, counter, ``cpu.mode`` = user | system)
- ``process.cpu.utilization`` (1, gauge, ``cpu.mode``): CPU time since the previous
  collection over elapsed time x CPUs available to the process (the first collection
  covers the time since the process started)
- ``process.memory.usage`` (By, up-down counter): resident set size
- ``process.memory.virtual`` (By, up-down counter)
- ``process.thread.count`` ({thread}, up-down counter)
- ``process.unix.file_descriptor.count`` ({file_descriptor}, up-down counter; not on Windows)
- ``hyperion.resource.limit`` ({limit}, gauge, ``hyperion.resource.kind`` = cpu_percent |
  memory_mb | threads, ``gen_ai.request.model`` unless it is the process default)
- ``hyperion.resource.throttle.time`` (s, counter): seconds the CPU throttle slept

A psutil call is a system call or a /proc read, so nothing is read on the hot path: the
callbacks run at export time only. ``enable_process_metrics()`` returns an undo; the OTel API cannot remove
a callback, so undo makes the process callbacks report nothing (the next enable revives
them). The two ``hyperion.resource.*`` instruments are registered by ``set_resource_limits``
and report whatever limits are in force.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable

import psutil
from opentelemetry.metrics import CallbackOptions, Observation

from hyperion_otel import semconv
from hyperion_otel._seams import telemetry as _telemetry
from hyperion_otel.resources._governor import Governor, live_governors
from hyperion_otel.resources._proc import cpu_capacity, process

__all__ = ["enable_process_metrics", "process_metrics_enabled", "register_limit_metrics"]

_lock = threading.Lock()
_enabled = 0  # enable_process_metrics() calls not yet undone
_last_cpu: list[tuple[int, float, float, float]] = []  # (pid, wall, user, system)


def process_metrics_enabled() -> bool:
    return _enabled > 0


def _safe(read: Callable[[], list[Observation]], gated: bool = True) -> list[Observation]:
    if gated and not _enabled:
        return []
    try:
        return read()
    except (psutil.Error, OSError, AttributeError, ValueError):
        return []  # a metrics callback must never raise into the SDK


def _mode(mode: str) -> dict[str, str]:
    return {semconv.CPU_MODE: mode}


def _cpu_time(_: CallbackOptions) -> Iterable[Observation]:
    def read() -> list[Observation]:
        t = process().cpu_times()
        return [Observation(t.user, _mode("user")), Observation(t.system, _mode("system"))]

    return _safe(read)


def _cpu_utilization(_: CallbackOptions) -> Iterable[Observation]:
    def read() -> list[Observation]:
        proc = process()
        t, now, pid = proc.cpu_times(), time.time(), os.getpid()
        with _lock:
            last = _last_cpu[0] if _last_cpu and _last_cpu[0][0] == pid else None
            _last_cpu[:] = [(pid, now, t.user, t.system)]
        if last is None:
            last = (pid, proc.create_time(), 0.0, 0.0)
        span = max(now - last[1], 1e-9) * cpu_capacity()
        return [
            Observation((t.user - last[2]) / span, _mode("user")),
            Observation((t.system - last[3]) / span, _mode("system")),
        ]

    return _safe(read)


def _memory(_: CallbackOptions) -> Iterable[Observation]:
    return _safe(lambda: [Observation(process().memory_info().rss)])


def _virtual(_: CallbackOptions) -> Iterable[Observation]:
    return _safe(lambda: [Observation(process().memory_info().vms)])


def _threads(_: CallbackOptions) -> Iterable[Observation]:
    return _safe(lambda: [Observation(process().num_threads())])


def _fds(_: CallbackOptions) -> Iterable[Observation]:
    def read() -> list[Observation]:
        proc = process()
        return [Observation(proc.num_fds())] if hasattr(proc, "num_fds") else []

    return _safe(read)


def _labels(gov: Governor) -> dict[str, str]:
    return {semconv.GEN_AI_REQUEST_MODEL: gov.model_name} if gov.model_name else {}


def _limits(_: CallbackOptions) -> Iterable[Observation]:
    def read() -> list[Observation]:
        # One point per (model name, kind): of two live models with one name, the one
        # whose limits were set last.
        out: dict[tuple[str, str], Observation] = {}
        for gov in live_governors():
            lim = gov.limits
            for kind, value in (
                ("cpu_percent", lim.max_cpu_percent),
                ("memory_mb", lim.max_memory_mb),
                ("threads", lim.max_threads),
            ):
                if value is not None:
                    attrs = {**_labels(gov), semconv.HYPERION_RESOURCE_KIND: kind}
                    out[(gov.model_name or "", kind)] = Observation(value, attrs)
        return list(out.values())

    return _safe(read, gated=False)


def _throttle_time(_: CallbackOptions) -> Iterable[Observation]:
    def read() -> list[Observation]:
        # Summed per model name: one series per label set, whatever governors came and went.
        totals: dict[str, float] = {}
        for gov in live_governors():
            if gov.throttle is not None:
                key = gov.model_name or ""
                totals[key] = totals.get(key, 0.0) + gov.throttle_s
        return [
            Observation(s, {semconv.GEN_AI_REQUEST_MODEL: k} if k else {})
            for k, s in totals.items()
        ]

    return _safe(read, gated=False)


def _register() -> None:
    _telemetry.register_observable(
        semconv.METRIC_PROCESS_CPU_TIME,
        "counter",
        _cpu_time,
        "s",
        "Total CPU seconds of the process, by CPU mode",
    )
    _telemetry.register_observable(
        semconv.METRIC_PROCESS_CPU_UTILIZATION,
        "gauge",
        _cpu_utilization,
        "1",
        "CPU time since the previous collection over elapsed time and available CPUs, by mode",
    )
    _telemetry.register_observable(
        semconv.METRIC_PROCESS_MEMORY_USAGE,
        "up_down_counter",
        _memory,
        "By",
        "Resident set size of the process",
    )
    _telemetry.register_observable(
        semconv.METRIC_PROCESS_MEMORY_VIRTUAL,
        "up_down_counter",
        _virtual,
        "By",
        "Virtual memory size of the process",
    )
    _telemetry.register_observable(
        semconv.METRIC_PROCESS_THREAD_COUNT,
        "up_down_counter",
        _threads,
        "{thread}",
        "OS threads of the process",
    )
    _telemetry.register_observable(
        semconv.METRIC_PROCESS_FD_COUNT,
        "up_down_counter",
        _fds,
        "{file_descriptor}",
        "Open file descriptors of the process",
    )


def register_limit_metrics() -> None:
    """Register the limit gauge and throttle counter (they report whenever limits exist)."""
    _telemetry.register_observable(
        semconv.METRIC_RESOURCE_LIMIT,
        "gauge",
        _limits,
        "{limit}",
        "Resource limits in force, by kind (cpu_percent, memory_mb, threads)",
    )
    _telemetry.register_observable(
        semconv.METRIC_RESOURCE_THROTTLE_TIME,
        "counter",
        _throttle_time,
        "s",
        "Seconds the CPU throttle slept between units of work",
    )


def enable_process_metrics() -> Callable[[], None]:
    """Report the process metrics above from now on; returns the undo (idempotent)."""
    global _enabled
    with _lock:
        _enabled += 1
    _register()
    done = False

    def undo() -> None:
        global _enabled
        nonlocal done
        with _lock:
            if not done:
                done = True
                _enabled -= 1

    return undo
