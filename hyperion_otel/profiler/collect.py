"""A running profiling session: installs the hooks, collects, undoes them at stop.

Hooks and their undo, in start order (stop undoes them in reverse):
counting allocator (``track_memory``) -> op listener -> tag registry -> GIL switch
interval (``adjust_switch_interval``) -> sampler thread -> call tracer (``trace_calls``;
after the sampler, whose thread must not inherit the profile hook) -> session span.
"""

from __future__ import annotations

import os
import secrets
import sys
import threading
import time
from array import array
from collections import deque

from opentelemetry import trace

from hyperion_otel._seams import ops as _ops
from hyperion_otel.errors import PerformanceError
from hyperion_otel.profiler import context, emit
from hyperion_otel.profiler._freethreading import require_gil
from hyperion_otel.profiler.config import ProfilerConfig
from hyperion_otel.profiler.derive import derive_ops, kv_counters, tag_samples
from hyperion_otel.profiler.memory import (
    CountingAllocator,
    install_counting,
    read_memory_series,
    uninstall_counting,
)
from hyperion_otel.profiler.ops import AllocCounts, CounterPoint, OpRecorder
from hyperion_otel.profiler.sampler import Sampler
from hyperion_otel.profiler.session import Profile, build_profile
from hyperion_otel.profiler.tracer import CallTracer, TracerBusyError

__all__ = ["Session"]

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_TRACE_EXCLUDE = (_PACKAGE_DIR, os.path.abspath(_ops.__file__))
HOTSPOTS_LOGGED = 10
# Code objects of these files are the session's own start/stop (see build_profile).
_OWN_FILES = frozenset(
    os.path.join(_PACKAGE_DIR, name) for name in ("collect.py", "api.py", "sampler.py")
)
# The op seam and the profiler's listeners on it (see build_profile).
_SEAM_FILES = frozenset(
    (
        os.path.abspath(_ops.__file__),
        *(os.path.join(_PACKAGE_DIR, n) for n in ("ops.py", "memory.py")),
    )
)


class Session:
    """One profiling session; ``start()`` once, then ``snapshot()`` any time, ``stop()`` once."""

    def __init__(self, config: ProfilerConfig) -> None:
        self.config = config
        self.profile_id = secrets.token_hex(8)
        self.tags = context.SessionTags(self.profile_id)
        # Memory counter points as (t_ns, series names, values), ~280 B each: a dict per
        # point cost ~1 KB, ~20 MB for a full ring of the default size; names are shared.
        self._memory_points: deque[tuple[int, tuple[str, ...], array[float]]] = deque(
            maxlen=config.max_counter_points
        )
        self._series_names: dict[tuple[str, ...], tuple[str, ...]] = {}
        self.start_thread = threading.get_ident()
        self.notes: list[str] = []
        self._t0 = 0
        self._unix0 = 0
        self._alloc: CountingAllocator | None = None
        self._recorder: OpRecorder | None = None
        self._tracer: CallTracer | None = None
        self._sampler: Sampler | None = None
        self._switch: tuple[float, float] | None = None  # (previous, ours)
        self._session_span: trace.Span | None = None
        self.running = False

    # --- lifecycle -------------------------------------------------------------------------
    def start(self) -> None:
        """Install every hook; if any step fails, the ones already installed are undone."""
        try:
            self._start()
        except BaseException:
            self._undo()
            raise

    def _start(self) -> None:
        require_gil()
        cfg = self.config
        self._t0 = time.perf_counter_ns()
        self._unix0 = time.time_ns()
        self.tags.enroll_current_thread()
        counts: AllocCounts | None = None
        if cfg.track_memory:
            counts = AllocCounts()
            self._alloc = install_counting(counts)
        self._recorder = OpRecorder(
            self.tags,
            max_events=cfg.max_events,
            record_ops=cfg.track_functions,
            track_cache=cfg.track_cache,
            allocs=counts,
        )
        _ops.add_listener(self._recorder)
        context.activate(self.tags)
        interval_s = cfg.sample_interval_ms / 1000.0
        if cfg.adjust_switch_interval:
            previous = sys.getswitchinterval()
            if previous > interval_s:
                sys.setswitchinterval(interval_s)
                self._switch = (previous, sys.getswitchinterval())
        self._sampler = Sampler(
            self.tags,
            interval_s=interval_s,
            max_samples=cfg.max_samples,
            max_stack_depth=cfg.max_stack_depth,
            all_threads=cfg.all_threads,
            on_tick=self._read_memory if cfg.track_memory else None,
            tick_every_ns=int(cfg.counter_interval_ms * 1e6),
        )
        self._recorder.sampler = self._sampler
        try:
            self._sampler.start(self._t0)
        except RuntimeError as exc:  # "can't start new thread": a thread limit was reached
            raise PerformanceError(f"cannot start the profiler's sampler thread: {exc}") from exc
        if cfg.trace_calls:
            tracer = CallTracer(
                t0_ns=self._t0,
                max_events=cfg.max_events,
                exclude_prefixes=_TRACE_EXCLUDE,
                exclude_threads=self._sampler.thread_idents(),
            )
            try:
                tracer.start()
            except TracerBusyError as exc:
                raise PerformanceError(
                    f"cannot trace calls (trace_calls=True): {exc}; stop the other profiler "
                    "or set trace_calls=False",
                ) from exc
            self._tracer = tracer
        self._session_span = emit.start_session_span(self.profile_id, cfg.sample_interval_ms)
        self.running = True

    def _read_memory(self, t_ns: int) -> None:
        series = read_memory_series(self._alloc)
        if series:
            names = tuple(series)
            names = self._series_names.setdefault(names, names)  # a few distinct ones
            self._memory_points.append((t_ns, names, array("d", series.values())))

    def _undo(self) -> None:
        if self._sampler is not None:
            self._sampler.stop()
        if self._switch is not None:
            previous, ours = self._switch
            self._switch = None
            if sys.getswitchinterval() == ours:  # nobody changed it meanwhile
                sys.setswitchinterval(previous)
        if self._tracer is not None:
            self._tracer.stop()
        context.activate(None)
        if self._recorder is not None:
            _ops.remove_listener(self._recorder)
        if self._alloc is not None:
            uninstall_counting(self._alloc)

    def stop(self) -> Profile:
        if not self.running:
            raise PerformanceError("this profiling session is not running")
        self.running = False
        end = time.perf_counter_ns()
        self._undo()
        if self.config.track_memory:
            self._read_memory(end - self._t0)
        profile = self._build(end)
        span, self._session_span = self._session_span, None
        if span is not None:
            emit.end_session_span(
                span, len(profile.samples), len(profile.ops), sum(profile.dropped.values())
            )
            emit.log_hotspots(span, profile.hotspots, HOTSPOTS_LOGGED)
        return profile

    # --- results ---------------------------------------------------------------------------
    def snapshot(self) -> Profile:
        """The profile so far, without stopping."""
        return self._build(time.perf_counter_ns())

    def _build(self, end_ns: int) -> Profile:
        sampler, recorder, tracer = self._sampler, self._recorder, self._tracer
        codes, stacks, samples = sampler.merged() if sampler else ([], [], [])
        ops = derive_ops(recorder.tokens(), self._t0) if recorder else []
        samples = tag_samples(samples, ops)
        counters: list[CounterPoint] = [
            (t, "memory", dict(zip(names, values, strict=True)))
            for t, names, values in list(self._memory_points)
        ]
        if self.config.track_cache:
            counters = sorted(counters + kv_counters(ops), key=lambda c: c[0])
            counters = counters[-self.config.max_counter_points :]
        dropped = {
            "samples": sampler.dropped if sampler else 0,
            "ops": recorder.dropped if recorder else 0,
            "calls": tracer.dropped if tracer else 0,
        }
        notes = list(self.notes)
        if sampler is not None:
            if sampler.truncated:
                notes.append(
                    f"{sampler.truncated} stacks cut at {self.config.max_stack_depth} frames"
                )
            if sampler.errors:
                notes.append(f"sampler hit {sampler.errors} internal errors")
            if sampler.ticks:
                busy_us = sampler.busy_ns / sampler.ticks / 1e3
                notes.append(f"sampler: {sampler.ticks} ticks, {busy_us:.1f} us per tick")
        if tracer is not None:
            notes.append(f"calls traced with {tracer.backend}")
        return build_profile(
            profile_id=self.profile_id,
            config=self.config,
            start_unix_ns=self._unix0,
            duration_ns=end_ns - self._t0,
            codes=codes,
            raw_stacks=stacks,
            raw_samples=samples,
            raw_ops=ops,
            raw_calls=list(tracer.calls) if tracer else [],
            raw_counters=counters,
            call_counts=tracer.call_counts() if tracer else None,
            thread_names=self._thread_names(),
            first_thread=self.start_thread,
            dropped=dropped,
            notes=notes,
            exclude_files=_OWN_FILES,
            seam_files=_SEAM_FILES,
            stats=self._stats(),
        )

    def _stats(self) -> dict[str, float]:
        sampler = self._sampler
        if sampler is None:
            return {}
        return {
            "sampler_ticks": float(sampler.ticks),
            "sampler_busy_s": sampler.busy_ns / 1e9,
            "samples_taken": float(sampler.taken),
            "samples_inline": float(sampler.inline),
            "samples_reused": float(sampler.reused),
            "samples_same_frame": float(sampler.same_frame),
            "stacks": float(len(sampler.stacks)),
        }

    def _thread_names(self) -> dict[int, str]:
        names = dict(self.tags.thread_names)
        for t in threading.enumerate():
            if t.ident is not None:
                names.setdefault(t.ident, t.name)
        return names
