"""Duty-cycle CPU throttle: sleep between units of work so the CPU share stays at the limit.

CPU share is process CPU time (all threads, ``time.process_time``: user + system, ns
resolution) over wall time, in percent of one core as ``top`` and psutil count it (100 =
one core busy; N cores give up to 100*N). After each unit of work (a prefill, a decode
step, a forward) the throttle looks back over a sliding window of wall time (1 s by
default) and sleeps just long enough that CPU/wall over that window comes down to the
limit: ``sleep = cpu_in_window / limit - wall_in_window``.

Accuracy: over a run of many short units the share lands near the limit (the resources
tests hold it to the limit with a tolerance); a limit above what the machine gives the
process unthrottled is simply not reached. It errs high when one unit of work
is long compared with the window (the CPU is known only after the unit ran, so the window
holding it is over the limit until the sleep that follows) and low when the process does not
get the CPU it asks for. Everything else the process runs meanwhile counts against the
limit too (exporter threads, other models), because the OS accounts CPU per process.
A single sleep is capped (``max_sleep_s``) so a mis-set limit cannot hang the caller.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

__all__ = ["CpuThrottle"]

Mark = tuple[float, float]  # (wall seconds, process CPU seconds)


class CpuThrottle:
    """Keeps process CPU / wall time at or under ``max_cpu_percent`` over ``window_s``."""

    def __init__(
        self,
        max_cpu_percent: float,
        window_s: float = 1.0,
        max_sleep_s: float = 5.0,
        max_marks: int = 256,
        *,
        wall: Callable[[], float] = time.perf_counter,
        cpu: Callable[[], float] = time.process_time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.share = max_cpu_percent / 100.0
        self.window_s = window_s
        self.max_sleep_s = max_sleep_s
        self._wall, self._cpu, self._sleep = wall, cpu, sleep
        self._lock = threading.Lock()
        # Marks taken after each unit (and its sleep); the bound keeps memory fixed when
        # units are tiny (the effective window then shrinks to max_marks units).
        self._marks: deque[Mark] = deque(maxlen=max_marks)
        self.slept_s = 0.0

    def begin(self) -> Mark:
        """Mark the start of a unit of work (the reference when the window holds no mark)."""
        return (self._wall(), self._cpu())

    def end(self, start: Mark) -> float:
        """Sleep as the limit requires after the unit begun at ``start``; returns seconds slept."""
        with self._lock:
            t, c = self._wall(), self._cpu()
            marks = self._marks
            horizon = t - self.window_s
            while marks and marks[0][0] < horizon:
                marks.popleft()
            ref = marks[0] if marks and marks[0][0] <= start[0] else start
            need = (c - ref[1]) / self.share - (t - ref[0])
        slept = 0.0
        if need > 0:
            need = min(need, self.max_sleep_s)
            t0 = self._wall()
            self._sleep(need)
            slept = self._wall() - t0
        with self._lock:
            self._marks.append((self._wall(), self._cpu()))
            self.slept_s += slept
        return slept
