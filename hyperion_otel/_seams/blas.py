"""The BLAS thread seam: how many threads each matrix product of the runtime runs with.

OpenBLAS (numpy's BLAS) splits every large enough GEMM/GEMV across all its threads and
waits for the slowest. On a machine whose cores are busy with other work, one worker that
the scheduler leaves waiting stalls the whole product for a time slice: measured here on
2 cores beside two busy loops, ``builtin:tiny`` took 570-600 ms to its first token with 2
threads against 25-29 ms with 1; idle, a GPT-2-small decode step is ~1.8x faster on 2.

So the runtime asks, per product, for threads by the time it would take one thread
(``use``, ``estimate_us``): one for short products, where a second thread saves less than
waking it costs, and otherwise as many as there are cores that other processes leave free
(``free_cores``, from the CPU time ``/proc/stat`` counts minus this process's own, over the
last ``WINDOW_S``). The time counts the multiply-adds and the weights streamed from
memory, not the multiply-adds alone: measured here, x[16, 192] @ w[192, 192].T and
x[1, 768] @ w[768, 768].T both make 0.59 M multiply-adds, but the first (37k weights,
compute bound) took 26 µs on one thread and 24 on two, the second (2.4 MB of weights to
stream) 60 µs on one and 18 on two (181 and 94 with its weights out of cache). Inside a unit of work
(``enter_unit``/``exit_unit``) the count set is never above the pools' size at the unit's
start, which already carries any cap in force (``HYPERION_MAX_THREADS``,
``set_resource_limits``, ``OPENBLAS_NUM_THREADS``), and the sizes from before come back
when the unit ends. Setting a count is one ctypes call (~0.6 µs), made only when the
count changes.
"""

from __future__ import annotations

import os
import resource
import threading
import time
from types import TracebackType
from typing import Any, ClassVar

from threadpoolctl import ThreadpoolController

__all__ = [
    "MACS_PER_US",
    "MIN_PARALLEL_US",
    "STREAMED_PER_US",
    "WINDOW_S",
    "BlasUnit",
    "available_cores",
    "blas_libraries",
    "current_threads",
    "estimate_us",
    "enter_unit",
    "exit_unit",
    "free_cores",
    "refresh",
    "threads_for",
    "use",
]

# One thread's speed, to estimate a product's time from its multiply-adds (compute) and
# the elements it streams (a linear's weights, read once per product). Measured on this
# 2-core Xeon (OpenBLAS 0.3.31, SkylakeX kernels), x @ w.T on one thread: x[16, 192] @
# w[384, 192] (1.18 M multiply-adds) in 49.5-51.6 µs; x[1, 768] @ w[2304, 768] (1.77 M
# weights) in 246 µs from cache, 483 µs from memory. The cache rate makes the estimate a
# lower bound: a product near the line whose weights come from memory gets one thread.
MACS_PER_US = 24_000
STREAMED_PER_US = 8_000
# Products estimated shorter run on one thread. Below it a second thread saved at most
# 3 µs (x[16, 192] @ w[192, 192]: 26.3 µs on one, 23.5 on two) and nothing on GEMVs of a
# few hundred k weights (x[1, 192] @ w[1024, 192]: 11.9 µs on one and on two), against a
# sleeping worker's wake-up: 0.45-7 ms with the other core partly busy. Above it, 16-row
# GEMMs of 50-150 µs took 0.60-0.75x the time on two threads, GEMVs 0.29-0.56x.
MIN_PARALLEL_US = 50.0
WINDOW_S = 0.25  # the load of other processes is measured over windows this long
_STALE_S = 2.0  # an estimate older than this is replaced by an instant reading

_lock = threading.Lock()
_controller: ThreadpoolController | None = None


def blas_libraries() -> list[Any]:
    """threadpoolctl's controllers of the loaded BLAS/OpenMP libraries (enumerated once)."""
    global _controller
    c = _controller
    if c is None:
        with _lock:
            c = _controller
            if c is None:
                c = _controller = ThreadpoolController()
    return list(c.lib_controllers)


def refresh() -> None:
    """Enumerate the loaded BLAS/OpenMP libraries again on next use."""
    global _controller
    with _lock:
        _controller = None


def _allowed_cpus() -> list[int]:
    try:
        return sorted(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # pragma: no cover - not Linux
        return list(range(os.cpu_count() or 1))


def _cgroup_cores() -> float | None:
    """The cgroup v2 CPU quota in cores (``cpu.max``), or None without one."""
    try:
        with open("/sys/fs/cgroup/cpu.max", encoding="ascii") as f:
            quota, period = f.read().split()[:2]
    except (OSError, ValueError):
        return None
    if quota == "max":
        return None
    try:
        return max(1.0, int(quota) / int(period))
    except (ValueError, ZeroDivisionError):
        return None


def available_cores() -> float:
    """Cores this process may use: its CPU affinity, bounded by a cgroup quota."""
    n = float(len(_allowed_cpus()) or 1)
    quota = _cgroup_cores()
    return min(n, quota) if quota is not None else n


class _Load:
    """Cores busy with other processes' work, from ``/proc/stat`` against our own CPU time."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.cpus = {f"cpu{i}" for i in _allowed_cpus()}
        self.t = 0.0  # when the current window began
        self.busy = 0.0  # busy CPU seconds of the allowed CPUs at that time
        self.own = 0.0  # this process's CPU seconds at that time
        self.others: float | None = None
        self.cores = 1.0  # ``available_cores()``, read again with every new estimate
        self.measured = 0.0  # when ``others`` was last computed
        self.hz = float(os.sysconf("SC_CLK_TCK")) if hasattr(os, "sysconf") else 100.0

    def _read(self) -> tuple[float, int] | None:
        """(busy CPU seconds of the allowed CPUs, runnable threads system-wide)."""
        try:
            with open("/proc/stat", "rb") as f:
                text = f.read()
        except OSError:
            return None
        busy, running = 0, 0
        for line in text.split(b"\n"):
            if line.startswith(b"cpu") and not line.startswith(b"cpu "):
                parts = line.split()
                if parts[0].decode() in self.cpus:
                    v = [int(x) for x in parts[1:9]]
                    busy += sum(v) - v[3] - v[4]  # all but idle and iowait (steal is busy)
            elif line.startswith(b"procs_running"):
                running = int(line.split()[1])
        return busy / self.hz, running

    def others_busy(self) -> float:
        """Cores' worth of CPU that other processes used lately (0 where unknown)."""
        now = time.monotonic()
        if self.others is not None and now - self.t < WINDOW_S and now - self.measured < _STALE_S:
            return self.others
        with self.lock:
            read = self._read()
            if read is None:
                return 0.0
            busy, running = read
            self.cores = available_cores()  # a syscall and a file: once a window, not per unit
            ru = resource.getrusage(resource.RUSAGE_SELF)
            own = ru.ru_utime + ru.ru_stime
            if self.others is None or now - self.measured >= _STALE_S:
                # No recent window: the threads runnable right now, less the one asking.
                self.others = float(max(0, running - 1))
            else:
                wall = now - self.t
                self.others = max(0.0, ((busy - self.busy) - (own - self.own)) / wall)
            self.t, self.busy, self.own, self.measured = now, busy, own, now
            return self.others


_load = _Load()


def free_cores() -> float:
    """Cores not used by other processes lately (at least 1)."""
    others = _load.others_busy()
    return max(1.0, (_load.cores if _load.others is not None else available_cores()) - others)


class _Unit:
    """State of the units of work in progress (BLAS thread counts belong to the process)."""

    lock = threading.Lock()
    depth = 0
    saved: ClassVar[list[tuple[Any, int]]] = []  # (library, its thread count before the first unit)
    top = 1  # the largest pool's size then: no product runs on more
    free = 1  # threads for a large product in the units now running
    applied = 0  # the count set last (0: none set)


def enter_unit() -> None:
    """Begin a unit of work (forward, prefill, one decode step); pair with ``exit_unit``."""
    u = _Unit
    with u.lock:
        if u.depth == 0:
            u.saved = [(lib, int(lib.num_threads)) for lib in blas_libraries()]
            u.top = max((n for _, n in u.saved), default=1)
            u.applied = u.top
        u.depth += 1
        top = u.top
    u.free = 1 if top <= 1 else max(1, min(top, int(free_cores() + 0.5)))


def estimate_us(macs: int, streamed: int = 0) -> float:
    """One thread's time for a product, in microseconds: ``macs`` multiply-adds, and
    ``streamed`` elements read from memory (a linear's weights; 0 where the operands are
    small enough to stay in cache)."""
    return macs / MACS_PER_US + streamed / STREAMED_PER_US


def threads_for(macs: int, streamed: int = 0) -> int:
    """The thread count ``use`` sets for such a product in the unit now running: one below
    ``MIN_PARALLEL_US``, else the free cores at the unit's start (never above the pools'
    size then)."""
    return 1 if estimate_us(macs, streamed) < MIN_PARALLEL_US else _Unit.free


def use(macs: int, streamed: int = 0) -> None:
    """Before a product of ``macs`` multiply-adds streaming ``streamed`` elements (the
    weights of ``x @ w.T``): set the thread count it should run with (``threads_for``).
    Outside a unit it does nothing."""
    u = _Unit
    # ``threads_for`` inlined (a test holds them equal): a call per product shows on
    # builtin:tiny's products of ~10 µs.
    n = 1 if macs / MACS_PER_US + streamed / STREAMED_PER_US < MIN_PARALLEL_US else u.free
    if n == u.applied:
        return
    with u.lock:
        if u.depth == 0:
            return
        for lib, before in u.saved:
            lib.set_num_threads(min(n, before))
        u.applied = n


def exit_unit() -> None:
    """End a unit of work; the outermost one puts back the pools' sizes from before."""
    u = _Unit
    with u.lock:
        u.depth -= 1
        if u.depth > 0:
            return
        for lib, before in u.saved:
            if u.applied < before:
                lib.set_num_threads(before)
        u.saved, u.applied = [], 0


def current_threads() -> int:
    """The thread count the last product of a running unit was given (0 outside units)."""
    return _Unit.applied if _Unit.depth else 0


class BlasUnit:
    """``enter_unit``/``exit_unit`` as a context manager (stateless: one can be shared)."""

    __slots__ = ()

    def __enter__(self) -> BlasUnit:
        enter_unit()
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        exit_unit()
