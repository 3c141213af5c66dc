"""The psutil handle of this process (made again after a fork: psutil keys its state by pid)."""

from __future__ import annotations

import os
import sys
import threading

import psutil

__all__ = ["MiB", "cpu_capacity", "process", "rss_and_peak"]

MiB = 1024 * 1024

_lock = threading.Lock()
_proc: psutil.Process | None = None


def process() -> psutil.Process:
    """``psutil.Process`` of the calling process, cached per pid."""
    global _proc
    p = _proc
    if p is None or p.pid != os.getpid():
        with _lock:
            p = _proc
            if p is None or p.pid != os.getpid():
                p = _proc = psutil.Process()
    return p


def cpu_capacity() -> int:
    """Logical CPUs this process may run on (its affinity set where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _status_kib(data: bytes, key: bytes) -> int | None:
    i = data.find(key)
    if i < 0:
        return None
    end = data.find(b"kB", i)
    return int(data[i + len(key) : end]) * 1024


def rss_and_peak() -> tuple[int, int | None]:
    """Resident set size and its high-water mark for this process image, in bytes.

    On Linux both come from one read of ``/proc/self/status`` (~25 us): ``VmHWM`` is the
    peak of this process image. Elsewhere the peak is ``getrusage``'s ``ru_maxrss``, which
    also counts a parent's peak inherited through fork (so it can hide a child's own
    peaks), and is ``None`` where there is no ``getrusage`` (Windows).
    """
    try:
        with open("/proc/self/status", "rb") as f:
            data = f.read()
        rss, peak = _status_kib(data, b"VmRSS:"), _status_kib(data, b"VmHWM:")
        if rss is not None:
            return rss, peak
    except (OSError, ValueError):
        pass
    rss = int(process().memory_info().rss)
    try:
        import resource
    except ImportError:
        return rss, None
    maxrss = int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
    return rss, maxrss if sys.platform == "darwin" else maxrss * 1024  # bytes there, KiB here
