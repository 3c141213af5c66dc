"""The stack sampler: one daemon thread reading the Python stacks of the profiled threads.

Per tick it does only dict lookups: code objects are interned by ``id`` (the table keeps
them alive, so ids stay unique) and whole stacks, as tuples of frame indices, are interned
too; a sample is then a small tuple in a bounded ring. Names, files and lines are resolved
once, at stop. Each sample's weight is the wall time since the previous sample of its
thread, so ticks delayed by the GIL or by load still add up to the real elapsed time.

Threads that run ops also sample themselves, at op ends (``sample_inline``, called by
the op recorder when the thread's last sample is an interval old), and while every
profiled thread keeps itself sampled that way the sampler thread backs off to one
wake-up per ``_MAX_BACKOFF`` intervals. Two reasons:

- A thread that releases and retakes the GIL in many short numpy calls starves any
  sampler thread: CPython forces a hand-over only after a whole switch interval without
  a release, and a voluntary release is retaken before the woken sampler runs (measured
  on a small model: no tick at all in 50 ms of decode).
- Each wake-up of a Python thread costs ~20-30 µs of CPU on this kind of VM before any
  work, 2-3% of a core at 1 ms; a sample taken on the thread itself costs ~10-15 µs in
  decode (a few µs with warm caches). It walks only the frames it has not seen under
  the same callers at its previous sample (``_caller_stack``).

An op-end sample sees the stack at the end of the op's block, so time spent inside a
block shorter than the interval goes to the function that opened the op (the op table
times the op itself exactly); longer blocks and code that runs no ops are sampled by
the sampler thread, which wakes at full rate again as soon as a thread goes stale.

A stale thread that used no CPU since the sampler thread's previous sample of it (it
waits, or a busy machine keeps it off the CPU) cannot have moved: that sample's stack is
reused, without ``sys._current_frames`` and the frame walk, and such samples let the
sampler keep backing off. A thread that did use CPU but is still in the frame it was in
at its previous sample (one long BLAS call: a GPT-2-small LM head takes ~15 ms) has the
same stack too: only the walk is skipped, and the sampler does not back off. A thread's
CPU clock is read through the clock id the thread noted itself (``note_thread_clock``):
asking for the clock id of a thread that has ended is undefined behaviour in C, reading
an id once had only fails.
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
# The same with the stack as code objects, leaf first (taken on the profiled thread).
InlineSample = tuple[int, int, tuple[CodeType, ...], int, int, int]

SAMPLER_THREAD_NAME = "hyperion-profiler-sampler"
# (an op block's caller frame; the chain of frames from it down, held; the stack node
# of each frame in the chain, i.e. of the stack from that frame down)
_Memo = tuple["FrameType | None", tuple[FrameType, ...], tuple[int, ...]]
_ROOT = 0  # the node of the empty stack


# Reads another thread's CPU clock (Linux, most Unixes); without it every sample walks.
_cpu_clock_of = getattr(time, "pthread_getcpuclockid", None)
_SLEEP_MAX_S = 0.02  # waits longer than this use Event.wait, so stop() never waits long
_MAX_BACKOFF = 8  # intervals between the sampler thread's wake-ups while threads self-sample


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
        self.max_stack_depth = max_stack_depth
        self.max_samples = max_samples
        self.all_threads = all_threads
        # Written by the sampler thread only.
        self.codes: list[CodeType] = []
        self.stacks: list[tuple[int, ...]] = []  # leaf first
        self.samples: deque[RawSample] = deque(maxlen=max_samples)
        # Written by the profiled threads: stacks as tuples of code objects, interned with
        # an atomic setdefault, so no lock is shared with the sampler thread (which can
        # be starved of the GIL while holding it). Merged into the tables by ``merged()``.
        self.inline_samples: deque[InlineSample] = deque(maxlen=max_samples)
        # Stacks seen at op ends, as a tree: node i is a code on top of its parent node's
        # stack, ``_nodes[i]`` that whole stack (leaf first). Keyed by (id(code), parent):
        # hashing a code object hashes its constants and names every time; ``_nodes``
        # keeps the codes alive, so no id is reused meanwhile. Shared by the profiled
        # threads: a node is appended under the lock, then published.
        self._nodes: list[tuple[CodeType, ...]] = [()]
        self._node_index: dict[tuple[int, int], int] = {}
        self._nodes_lock = threading.Lock()
        # Written by each profiled thread for itself: see ``_caller_stack``.
        self._inline_memo: dict[int, _Memo] = {}
        self.taken = 0
        self.inline = 0
        self.ticks = 0
        self.truncated = 0
        self.errors = 0
        self.busy_ns = 0
        self.reused = 0  # sampler-thread samples that reused the stack of the previous one
        self.same_frame = 0  # ... because the thread was still in the same top frame
        # Written by the sampler thread only: thread ident -> (its CPU time, stack index)
        # at this thread's previous sample of it.
        self._previous: dict[int, tuple[int, int]] = {}
        # Written by the sampler thread only: thread ident -> (its top frame at the previous
        # read, that stack's index). A thread still in the same frame (a long BLAS call, a
        # wait) has the same stack, with no walk. The frame is held so that its address
        # cannot be taken by another frame meanwhile; held until the next read of that
        # thread, at most, and dropped when the sampler stops.
        self._top: dict[int, tuple[FrameType, int]] = {}
        # thread ident -> its CPU clock id, each noted by the thread itself.
        self._cpu_clocks: dict[int, int] = {}
        self._code_index: dict[int, int] = {}
        self._stack_index: dict[tuple[int, ...], int] = {}
        self._interval_ns = max(1, int(interval_s * 1e9))
        # A thread samples itself once its last sample is this old: a little under an
        # interval, so that it gets there before the sampler thread's tick and the sampler
        # can back off.
        self._inline_age_ns = self._interval_ns * 7 // 8
        # thread ident -> [perf_counter_ns of its last sample]. A path that samples a
        # thread first pops the slot's value (list.pop is atomic) and puts the new time
        # back, so the thread and the sampler never both charge the same stretch of time;
        # a slot is never removed, so a claim in progress cannot be re-initialised.
        self._last: dict[int, list[int]] = {}
        self._last_tick = 0
        # The latest inline sample's clock plus _inline_age_ns: the op recorder compares
        # against it before paying for sys._getframe and a call (per-thread ages are
        # checked inside).
        self.inline_after = 0
        self._on_tick = on_tick
        self._tick_every_ns = tick_every_ns
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0 = 0

    def start(self, t0_ns: int) -> None:
        self.note_thread_clock()  # the thread that starts the session is a target
        self._t0 = self._last_tick = t0_ns
        self.inline_after = t0_ns + self._inline_age_ns
        self._thread = threading.Thread(target=self._run, name=SAMPLER_THREAD_NAME, daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 2.0) -> None:
        self._stop.set()
        thread, self._thread = self._thread, None
        self._inline_memo.clear()  # the frames it holds
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout_s)

    def thread_idents(self) -> frozenset[int]:
        thread = self._thread
        return frozenset() if thread is None or thread.ident is None else frozenset({thread.ident})

    @property
    def dropped(self) -> int:
        kept = min(self.max_samples, len(self.samples) + len(self.inline_samples))
        return self.taken + self.inline - kept

    def merged(self) -> tuple[list[CodeType], list[tuple[int, ...]], list[RawSample]]:
        """Copies of the code table, the stack table and all samples, inline ones included.

        Samples are copied before stacks before codes: each refers only to entries made
        before it, so the copies stay consistent while the sampler keeps running.
        """
        samples = list(self.samples)
        inline = list(self.inline_samples)
        stacks = list(self.stacks)
        codes = list(self.codes)
        if not inline:
            return codes, stacks, samples
        code_index = {id(c): i for i, c in enumerate(codes)}
        stack_index = {s: i for i, s in enumerate(stacks)}
        for t, tid, code_stack, weight, trace_id, span_id in inline:
            key: list[int] = []
            for code in code_stack:
                idx = code_index.get(id(code))
                if idx is None:
                    idx = code_index[id(code)] = len(codes)
                    codes.append(code)
                key.append(idx)
            stack = tuple(key)
            sidx = stack_index.get(stack)
            if sidx is None:
                sidx = stack_index[stack] = len(stacks)
                stacks.append(stack)
            samples.append((t, tid, sidx, weight, trace_id, span_id))
        samples.sort(key=lambda s: s[0])
        return codes, stacks, samples[-self.max_samples :]  # the newest, as each ring keeps

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

    def _claim(self, tid: int, t: int, not_after: int, first: int) -> int | None:
        """Time of ``tid``'s last sample (``first`` if it has none yet), now set to ``t``;
        ``None`` (and nothing changed) if that sample is later than ``not_after`` or
        another path is sampling the thread right now."""
        slot = self._last.get(tid)
        if slot is None:
            slot = self._last.setdefault(tid, [first])
        try:
            last = slot.pop()
        except IndexError:
            return None
        slot.append(last if last > not_after else t)
        return None if last > not_after else last

    def sample_inline(self, tid: int, frame: FrameType | None, t: int) -> None:
        """Sample the calling thread (ident ``tid``, stack from ``frame``) at clock ``t``
        if its last sample is an interval old."""
        last = self._claim(tid, t, t - self._inline_age_ns, self._last_tick)
        if last is None:
            return
        if frame is None:
            return
        # The stack is the block's frame on top of its caller's stack, which is kept per
        # thread between samples: see ``_caller_stack``.
        caller = frame.f_back
        memo = self._inline_memo.get(tid)
        if memo is None or memo[0] is not caller:
            memo = self._caller_stack(tid, caller, memo)
        stack = self._nodes[self._node(memo[2][0] if memo[2] else _ROOT, frame.f_code)]
        trace_id, span_id = self.tags.tags.get(tid, NO_TAG)
        self.inline_samples.append((t - self._t0, tid, stack, t - last, trace_id, span_id))
        self.inline += 1
        self.inline_after = t + self._inline_age_ns

    def _node(self, parent: int, code: CodeType) -> int:
        """The stack node of ``code`` called from the stack of node ``parent``."""
        key = (id(code), parent)
        node = self._node_index.get(key)
        if node is None:
            with self._nodes_lock:
                node = self._node_index.get(key)
                if node is None:
                    stack = (code, *self._nodes[parent])
                    if len(stack) > self.max_stack_depth:
                        stack = stack[: self.max_stack_depth]
                        self.truncated += 1
                    node = len(self._nodes)
                    self._nodes.append(stack)
                    self._node_index[key] = node
        return node

    def _caller_stack(self, tid: int, caller: FrameType | None, memo: _Memo | None) -> _Memo:
        """The stack under an op block whose caller is ``caller``, remembered for the
        thread's next sample.

        Between two samples a thread mostly runs under the same caller (a layer's ops
        are ~0.2-3 ms apart on GPT-2-small), or under a new frame of a caller whose own
        callers are unchanged (the next layer): the walk stops at the first frame it
        finds in the previous chain, whose frames are held so that no other frame can
        take one's address meanwhile. In decode every object touched is a cache miss (a
        GEMV streams megabytes between two ops), so this touches as few as it can.
        """
        held: tuple[FrameType, ...] = memo[1] if memo is not None else ()
        nodes: tuple[int, ...] = memo[2] if memo is not None else ()
        fresh: list[FrameType] = []
        at = len(held)
        f = caller
        while f is not None:
            for i, h in enumerate(held):
                if h is f:
                    at = i
                    break
            else:
                fresh.append(f)
                f = f.f_back
                continue
            break
        node = nodes[at] if at < len(nodes) else _ROOT
        fresh_nodes: list[int] = []
        for fr in reversed(fresh):
            node = self._node(node, fr.f_code)
            fresh_nodes.append(node)
        fresh_nodes.reverse()
        new = (caller, (*fresh, *held[at:]), (*fresh_nodes, *nodes[at:]))
        if self._thread is not None:  # not after stop(): it drops the held frames
            self._inline_memo[tid] = new
        return new

    def note_thread_clock(self) -> None:
        """Let the sampler read the calling thread's CPU clock. Called by the thread itself:
        ``pthread_getcpuclockid`` on the ident of a thread that has ended is undefined
        behaviour, while a clock id, once had, only fails to read after the thread ends."""
        if _cpu_clock_of is None:
            return
        tid = threading.get_ident()
        try:
            self._cpu_clocks[tid] = _cpu_clock_of(tid)
        except (OSError, OverflowError, ValueError):
            return

    def _thread_cpu_ns(self, tid: int) -> int | None:
        """CPU time thread ``tid`` has used, or ``None`` when that is unknown."""
        clock = self._cpu_clocks.get(tid)
        if clock is None:
            return None
        try:
            return time.clock_gettime_ns(clock)
        except OSError:  # the thread has ended
            return None

    def _due(self, tids: list[int], last_tick: int) -> list[int]:
        """The threads of ``tids`` that have not sampled themselves since ``last_tick``."""
        slots = self._last
        due: list[int] = []
        for tid in tids:
            slot = slots.get(tid)
            try:
                if slot is not None and slot[-1] > last_tick:
                    continue  # sampled itself since the previous tick
            except IndexError:
                continue  # it is sampling itself right now
            due.append(tid)
        return due

    def _stack_of(self, tid: int, frame: FrameType) -> int:
        """The stack index of ``frame`` (thread ``tid``'s top frame): walked, unless the
        thread is still in the frame it was in at the previous read."""
        top = self._top.get(tid)
        if top is not None and top[0] is frame:
            self.same_frame += 1
            return top[1]
        stack = self._intern_stack(frame)
        self._top[tid] = (frame, stack)
        return stack

    def _tick(self, t: int, me: int) -> bool:
        """Sample every target thread that has not sampled itself since the previous
        tick; false when no stack had to be read (each target sampled itself, or has
        not run since its previous sample: its next sample, whichever path takes it,
        covers the time in between at the same stack or close to it)."""
        last_tick, self._last_tick = self._last_tick, t
        frames = None
        if self.all_threads:
            frames = sys._current_frames()
            tids = [i for i in frames if i != me]
        else:
            # list(set) is a C-level copy: atomic under the GIL while other threads enroll.
            tids = list(self.tags.targets)
        due = self._due(tids, last_tick)
        if not due:
            return not tids
        tags = self.tags.tags
        append = self.samples.append
        previous = self._previous
        sampled = False
        for tid in due:
            # A thread that used no CPU since this thread's previous sample of it (it
            # waits, or the machine is busy) still has that stack: the frame walk, and
            # _current_frames (a frame object for every thread), are skipped.
            cpu = self._thread_cpu_ns(tid)
            prev = previous.get(tid)
            frame = None
            if cpu is None or prev is None or prev[0] != cpu:
                if frames is None:
                    frames = sys._current_frames()
                frame = frames.get(tid)
                if frame is None:
                    previous.pop(tid, None)
                    self._top.pop(tid, None)
                    continue
            last = self._claim(tid, t, last_tick, last_tick)
            if last is None:
                continue
            if frame is None:
                stack = prev[1]  # type: ignore[index]  # prev[0] == cpu above
                self.reused += 1
            else:
                stack = self._stack_of(tid, frame)
                sampled = True
            if cpu is not None:
                previous[tid] = (cpu, stack)
            trace_id, span_id = tags.get(tid, NO_TAG)
            append((t - self._t0, tid, stack, t - last, trace_id, span_id))
            self.taken += 1
        del frames
        return sampled

    def _run(self) -> None:
        clock = time.perf_counter_ns
        me = threading.get_ident()
        interval_ns = self._interval_ns
        next_tick = self._t0 + interval_ns
        next_hook = self._t0
        backoff = 1
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
            try:
                backoff = 1 if self._tick(t, me) else min(2 * backoff, _MAX_BACKOFF)
                if self._on_tick is not None and t >= next_hook:
                    next_hook = t + self._tick_every_ns
                    self._on_tick(t - self._t0)
            except Exception:  # noqa: BLE001 - the sampler must never take the host down
                self.errors += 1
            next_tick = max(next_tick + interval_ns * backoff, t + interval_ns // 2)
            self.ticks += 1
            self.busy_ns += clock() - t
        self._top.clear()  # frames held for the same-frame check go with the sampler
