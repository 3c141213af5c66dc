"""Deterministic tracing of Python calls: exact call counts and a call timeline.

Python 3.12+ uses ``sys.monitoring`` (tool ``PROFILER_ID``; all threads at once).
Older Pythons, or when that tool id is taken, use ``sys.setprofile`` for the starting
thread and ``threading.setprofile`` for threads started meanwhile. ``stop()`` undoes all
of it: the previous hooks are put back, and threads that still carry the callback drop
it themselves at their next event. Only the standard library is used here.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import deque
from types import CodeType, FrameType
from typing import Any

__all__ = ["CallTracer", "RawCall", "TracerBusyError"]

# (code, thread ident, start_ns, end_ns); times relative to the session start.
RawCall = tuple[CodeType, int, int, int]


class TracerBusyError(RuntimeError):
    """Another profile hook is installed; the session refuses to replace it."""


class CallTracer:
    def __init__(
        self,
        *,
        t0_ns: int,
        max_events: int,
        exclude_prefixes: tuple[str, ...],
        exclude_threads: frozenset[int] = frozenset(),
    ) -> None:
        self.calls: deque[RawCall] = deque(maxlen=max_events)
        self.recorded = 0
        self.backend = ""
        self._t0 = t0_ns
        self._exclude = exclude_prefixes
        self._exclude_threads = exclude_threads  # sys.monitoring sees every thread
        self._codes: dict[int, tuple[CodeType, bool]] = {}  # id -> (code kept alive, traced?)
        self._counts: dict[int, int] = {}
        self._stacks: dict[int, list[tuple[CodeType, int]]] = {}
        self._active = False
        self._prev_sys: Any = None
        self._prev_threading: Any = None
        self._tool: int | None = None

    @property
    def dropped(self) -> int:
        return self.recorded - len(self.calls)

    def call_counts(self) -> dict[CodeType, int]:
        return {self._codes[k][0]: n for k, n in list(self._counts.items())}

    def _traced(self, code: CodeType) -> bool:
        entry = self._codes.get(id(code))
        if entry is None:
            entry = (code, not code.co_filename.startswith(self._exclude))
            self._codes[id(code)] = entry
        return entry[1]

    def _enter(self, code: CodeType) -> None:
        if not self._traced(code):
            return
        tid = threading.get_ident()
        if tid in self._exclude_threads:
            return
        stack = self._stacks.get(tid)
        if stack is None:
            stack = self._stacks[tid] = []
        stack.append((code, time.perf_counter_ns()))
        key = id(code)
        self._counts[key] = self._counts.get(key, 0) + 1

    def _exit(self, code: CodeType) -> None:
        t1 = time.perf_counter_ns()
        stack = self._stacks.get(threading.get_ident())
        if not stack or stack[-1][0] is not code:
            return  # entered before tracing started, or excluded
        _, t0 = stack.pop()
        self.calls.append((code, threading.get_ident(), t0 - self._t0, t1 - self._t0))
        self.recorded += 1

    # --- sys.setprofile backend ------------------------------------------------------------
    def _profile_cb(self, frame: FrameType, event: str, arg: object) -> None:
        if not self._active:
            sys.setprofile(None)  # a thread that got the hook while we ran drops it now
            return
        if event == "call":
            self._enter(frame.f_code)
        elif event == "return":
            self._exit(frame.f_code)

    # --- sys.monitoring backend (3.12+) ----------------------------------------------------
    def _mon_start(self, code: CodeType, offset: int, *rest: object) -> None:
        self._enter(code)

    def _mon_end(self, code: CodeType, offset: int, *rest: object) -> None:
        self._exit(code)

    def _start_monitoring(self) -> bool:
        mon: Any = getattr(sys, "monitoring", None)  # absent before 3.12
        if mon is None:
            return False
        tool = mon.PROFILER_ID
        if mon.get_tool(tool) is not None:
            return False
        mon.use_tool_id(tool, "hyperion-otel")
        ev = mon.events
        for event in (ev.PY_START, ev.PY_RESUME, ev.PY_THROW):
            mon.register_callback(tool, event, self._mon_start)
        for event in (ev.PY_RETURN, ev.PY_YIELD, ev.PY_UNWIND):
            mon.register_callback(tool, event, self._mon_end)
        mon.set_events(
            tool,
            ev.PY_START | ev.PY_RESUME | ev.PY_THROW | ev.PY_RETURN | ev.PY_YIELD | ev.PY_UNWIND,
        )
        self._tool = tool
        return True

    def _stop_monitoring(self) -> None:
        mon: Any = getattr(sys, "monitoring")  # noqa: B009
        tool, self._tool = self._tool, None
        ev = mon.events
        mon.set_events(tool, 0)
        for event in (
            ev.PY_START,
            ev.PY_RESUME,
            ev.PY_THROW,
            ev.PY_RETURN,
            ev.PY_YIELD,
            ev.PY_UNWIND,
        ):
            mon.register_callback(tool, event, None)
        mon.free_tool_id(tool)

    def start(self, *, prefer_monitoring: bool = True) -> None:
        self._active = True
        if prefer_monitoring and self._start_monitoring():
            self.backend = "sys.monitoring"
            return
        current = sys.getprofile()
        if current is not None:
            self._active = False
            raise TracerBusyError(f"another profiler hook is installed: {current!r}")
        self._prev_sys = current
        self._prev_threading = threading.getprofile()
        sys.setprofile(self._profile_cb)
        threading.setprofile(self._profile_cb)
        self.backend = "sys.setprofile"

    def stop(self) -> None:
        if not self._active:
            return
        self._active = False
        if self._tool is not None:
            self._stop_monitoring()
            return
        if sys.getprofile() == self._profile_cb:
            sys.setprofile(self._prev_sys)
        if threading.getprofile() == self._profile_cb:
            threading.setprofile(self._prev_threading)
