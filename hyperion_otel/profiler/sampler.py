"""The stack sampler: one daemon thread reading the Python stacks of the profiled threads.

Per tick it does only dict lookups: code objects are interned by ``id`` (the table keeps
them alive, so ids stay unique) and whole stacks, as tuples of frame indices, are interned
too; a sample is then a small tuple in a bounded ring. Names, files and lines are resolved
once, at stop. Each sample's weight is the wall time since the previous tick, so ticks
delayed by the GIL or by load still add up to the real elapsed time.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import deque
from collections.abc import Callable
from types import CodeType, FrameType

from hyperion_otel.profiler.context import NO_TAG, SessionTags

__all__ = ["RawSample", "Sampler"]

# (t_ns, thread ident, stack index, weight_ns, trace_id, span_id)
RawSample = tuple[int, int, int, int, int, int]

SAMPLER_THREAD_NAME = "hyperion-profiler-sampler"


_SLEEP_MAX_S = 0.02  # waits longer than this use Event.wait, so stop() never waits long


class Sampler:
    """Samples at ``interval_s`` until ``stop()``; every structure it fills is bounded."""

    def __init__(
        self,
        tags: SessionTags,
        *,
        interval_s: float,
        max_samples: int,
        max_stack_depth: int,
        all_threads: bool,
        on_tick: Callable[[int], None] | None = None,
        tick_every_ns: int = 10_000_000,
    ) -> None:
        self.tags = tags
        self.interval_s = interval_s
        self.max_stack_depth = max_stack_depth
        self.all_threads = all_threads
        self.codes: list[CodeType] = []
        self.stacks: list[tuple[int, ...]] = []  # leaf first
        self.samples: deque[RawSample] = deque(maxlen=max_samples)
        self.taken = 0
        self.ticks = 0
        self.truncated = 0
        self.errors = 0
        self.busy_ns = 0
        self._code_index: dict[int, int] = {}
        self._stack_index: dict[tuple[int, ...], int] = {}
        self._on_tick = on_tick
        self._tick_every_ns = tick_every_ns
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0 = 0

    def start(self, t0_ns: int) -> None:
        self._t0 = t0_ns
        self._thread = threading.Thread(target=self._run, name=SAMPLER_THREAD_NAME, daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 2.0) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout_s)

    def thread_idents(self) -> frozenset[int]:
        thread = self._thread
        return frozenset() if thread is None or thread.ident is None else frozenset({thread.ident})

    @property
    def dropped(self) -> int:
        return self.taken - len(self.samples)

    def _intern_stack(self, frame: FrameType | None) -> int:
        code_index = self._code_index
        codes = self.codes
        key: list[int] = []
        depth = self.max_stack_depth
        while frame is not None:
            if depth == 0:
                self.truncated += 1
                break
            depth -= 1
            code = frame.f_code
            idx = code_index.get(id(code))
            if idx is None:
                idx = code_index[id(code)] = len(codes)
                codes.append(code)
            key.append(idx)
            frame = frame.f_back
        stack = tuple(key)
        sidx = self._stack_index.get(stack)
        if sidx is None:
            sidx = self._stack_index[stack] = len(self.stacks)
            self.stacks.append(stack)
        return sidx

    def _tick(self, t: int, weight: int, me: int) -> None:
        frames = sys._current_frames()
        tags = self.tags.tags
        # list(set) is a C-level copy: atomic under the GIL while other threads enroll.
        tids = [t for t in frames if t != me] if self.all_threads else list(self.tags.targets)
        append = self.samples.append
        for tid in tids:
            frame = frames.get(tid)
            if frame is None:
                continue
            trace_id, span_id = tags.get(tid, NO_TAG)
            append((t - self._t0, tid, self._intern_stack(frame), weight, trace_id, span_id))
            self.taken += 1
        del frames

    def _run(self) -> None:
        clock = time.perf_counter_ns
        me = threading.get_ident()
        interval_ns = int(self.interval_s * 1e9)
        last = self._t0
        next_tick = last + interval_ns
        next_hook = last
        stopped = self._stop.is_set
        wait = self._stop.wait
        sleep = time.sleep
        while True:
            # time.sleep costs ~4 µs less per wake-up than Event.wait, which matters at
            # 1000 wake-ups a second; long waits stay interruptible so stop() is quick.
            delay = max(0, next_tick - clock()) / 1e9
            if delay > _SLEEP_MAX_S:
                if wait(delay):
                    break
            else:
                sleep(delay)
                if stopped():
                    break
            t = clock()
            next_tick = max(next_tick + interval_ns, t + interval_ns // 2)
            try:
                self._tick(t, t - last, me)
                if self._on_tick is not None and t >= next_hook:
                    next_hook = t + self._tick_every_ns
                    self._on_tick(t - self._t0)
            except Exception:  # noqa: BLE001 - the sampler must never take the host down
                self.errors += 1
            last = t
            self.ticks += 1
            self.busy_ns += clock() - t
