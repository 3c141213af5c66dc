"""The profiler needs the GIL: it refuses to start on a free-threaded build running without it.

What relies on the GIL, and why it is not simply made lock-free-safe here:

- ``Sampler``: profiled threads and the sampler thread share per-thread slots without a lock
  (a thread claims a stretch of time by ``list.pop`` on its slot, stacks are interned with
  ``dict.setdefault``). Each operation is atomic on both builds, but the sampler also reads
  other threads' frames from ``sys._current_frames()`` while they run; under the GIL those
  frames cannot change mid-read, without it they can.
- ``ops.AllocCounts`` and the recorder's counters are bumped with ``+=`` from many threads:
  a lost update under the GIL is rare (a switch between load and store), without it common.
- ``adjust_switch_interval`` tunes the GIL hand-over; it means nothing without a GIL.

Free-threaded CPython (3.13t/3.14t) with the GIL enabled (``PYTHON_GIL=1`` or ``-X gil=1``)
behaves as a normal build, so only a process actually running without the GIL is refused.
"""

from __future__ import annotations

import sys

from hyperion_otel.errors import ConfigError

__all__ = ["gil_enabled", "require_gil"]


def gil_enabled() -> bool:
    """False only on a free-threaded build that runs without the GIL."""
    check = getattr(sys, "_is_gil_enabled", None)
    return True if check is None else bool(check())


def require_gil() -> None:
    if not gil_enabled():
        raise ConfigError(
            "the profiler needs the GIL, and this free-threaded Python runs without it; "
            "start Python with PYTHON_GIL=1 (or -X gil=1) to profile",
            feature="profiler",
        )
