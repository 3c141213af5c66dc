"""``get_resource_usage(model)``: what the process uses now, through psutil.

``cpu_percent`` covers the interval since the previous call for the same model (or since
``set_resource_limits`` for it); the first call for a model reports the average since the
process started, so no call returns psutil's meaningless first 0.0 and none blocks to
measure. ``cpu_interval_s`` says which interval the figure covers. CPU and memory are the
process's: the OS does not account them per model.
"""

from __future__ import annotations

import os
import threading
import time
import weakref
from dataclasses import dataclass

import psutil

from hyperion_otel._seams import governor as _seam
from hyperion_otel.errors import public
from hyperion_otel.memory import current_pool
from hyperion_otel.resources import _threads
from hyperion_otel.resources._governor import as_governor, governor_of
from hyperion_otel.resources._models import check_model
from hyperion_otel.resources._proc import MiB, process
from hyperion_otel.resources.limits import ResourceLimits

__all__ = ["ResourceUsage", "get_resource_usage", "reset_cpu_mark"]


@public
@dataclass(frozen=True)
class ResourceUsage:
    """The guide's ``HyperionResourceUsage``: process figures plus the model's limits.

    ``cpu_percent``: CPU share as psutil/top count it (100 = one core) over the last
    ``cpu_interval_s`` seconds; ``cpu_time_s``: user + system CPU seconds since the process
    started. ``rss_mb``/``uss_mb``/``virtual_mb``: resident, unique (``None`` where the OS
    does not tell) and virtual memory in MiB. ``threads``/``open_fds``: OS threads and file
    descriptors of the process (``open_fds`` is ``None`` on Windows). ``pool_used_bytes``/
    ``pool_limit_bytes``: the current memory pool's used bytes and budget (0 / ``None``
    without one).
    ``blas_threads``: threads the model's BLAS calls run with (its ``max_threads`` cap
    applied to the current pool size). ``throttle_s``: seconds the CPU throttle has slept.
    """

    cpu_percent: float
    cpu_interval_s: float
    cpu_time_s: float
    rss_mb: float
    uss_mb: float | None
    virtual_mb: float
    threads: int
    open_fds: int | None
    pool_used_bytes: int
    pool_limit_bytes: int | None
    blas_threads: int
    throttle_s: float
    limits: ResourceLimits


_Mark = tuple[int, float, float]  # (pid, wall time.time(), user + system CPU seconds)
_lock = threading.Lock()
_marks: weakref.WeakKeyDictionary[object, _Mark] = weakref.WeakKeyDictionary()
_process_mark: list[_Mark] = []  # get_resource_usage(None)


def _cpu_now() -> tuple[float, float]:
    t = process().cpu_times()
    return time.time(), t.user + t.system


def reset_cpu_mark(model: object | None) -> None:
    """Measure ``model``'s next ``cpu_percent`` from now (``set_resource_limits`` calls this)."""
    wall, cpu = _cpu_now()
    _swap_mark(model, (os.getpid(), wall, cpu))


def _swap_mark(model: object | None, new: _Mark) -> _Mark | None:
    with _lock:
        if model is None:
            old = _process_mark[0] if _process_mark else None
            _process_mark[:] = [new]
        else:
            old = _marks.get(model)
            _marks[model] = new
    return old


def _cpu_percent(model: object | None) -> tuple[float, float, float]:
    wall, cpu = _cpu_now()
    old = _swap_mark(model, (os.getpid(), wall, cpu))
    if old is None or old[0] != os.getpid():
        start = process().create_time()
        old = (os.getpid(), start, 0.0)
    interval = max(wall - old[1], 1e-9)
    return 100.0 * (cpu - old[2]) / interval, interval, cpu


@public
def get_resource_usage(model: object | None = None) -> ResourceUsage:
    """CPU, memory, threads, descriptors, pool and BLAS figures for ``model``'s process.

    ``model=None`` gives the same figures with the process-default limits and its own
    ``cpu_percent`` interval. Not for a hot path: USS reads the process's whole memory map.
    """
    if model is not None:
        check_model(model, "get_resource_usage")
    gov = governor_of(model) if model is not None else as_governor(_seam.default())
    limits = gov.limits if gov is not None else ResourceLimits()
    cpu_percent, interval, cpu_time = _cpu_percent(model)
    proc = process()
    with proc.oneshot():
        mem = proc.memory_info()
        threads = proc.num_threads()
        fds = proc.num_fds() if hasattr(proc, "num_fds") else None
    try:
        uss: float | None = proc.memory_full_info().uss / MiB
    except (psutil.Error, AttributeError, OSError):
        uss = None
    pool = current_pool()
    used, pool_limit = 0, None
    if pool is not None:
        stats = pool.heap_stats()
        used = stats.used_bytes
        pool_limit = stats.max_pool_bytes
    blas = _threads.blas_threads()
    if limits.max_threads is not None:
        blas = min(blas, limits.max_threads)
    return ResourceUsage(
        cpu_percent=cpu_percent,
        cpu_interval_s=interval,
        cpu_time_s=cpu_time,
        rss_mb=mem.rss / MiB,
        uss_mb=uss,
        virtual_mb=mem.vms / MiB,
        threads=threads,
        open_fds=fds,
        pool_used_bytes=used,
        pool_limit_bytes=pool_limit,
        blas_threads=blas,
        throttle_s=gov.throttle_s if gov is not None else 0.0,
        limits=limits,
    )
