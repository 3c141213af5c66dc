"""``ProfilerConfig``: what a profiling session collects and how much of it it may keep."""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from hyperion_otel.errors import InvalidInputError, public

__all__ = ["ProfilerConfig"]


@public
@dataclass(frozen=True)
class ProfilerConfig:
    """Settings of a profiling session (the guide's ``HyperionProfilerConfig`` plus bounds).

    ``track_functions``: record the runtime's ops (matmul, attention, ...) as timed events.
    ``track_memory``: pool bytes over time and allocations per op.
    ``track_cache``: KV-cache block allocations, reuse and prefetches as counters.
    ``sample_interval_ms``: period of the stack sampler (0.05 .. 10000 ms, as
    ``HYPERION_PROFILE_INTERVAL_MS``).

    Bounds (every buffer is a ring that keeps the newest entries and counts the rest):
    ``max_samples`` stack samples, ``max_events`` op events (and as many traced calls),
    ``max_counter_points`` counter points, ``max_stack_depth`` frames per sample.

    ``trace_calls`` adds deterministic tracing of Python calls (``sys.setprofile``, or
    ``sys.monitoring`` on 3.12+): exact call counts and a call timeline, at a real cost
    (about 1 µs per call), so it is off by default.
    ``all_threads`` samples every thread; by default only the thread that started the
    session and threads that run ops or ``profile_span()`` blocks are sampled.
    ``adjust_switch_interval`` lowers ``sys.setswitchinterval`` to the sample interval
    while profiling (restored at stop): a sampler thread otherwise waits up to 5 ms for
    the GIL while another thread runs pure Python.
    """

    track_functions: bool = True
    track_memory: bool = True
    track_cache: bool = True
    sample_interval_ms: float = 1.0
    max_samples: int = 200_000
    max_events: int = 200_000
    max_counter_points: int = 20_000
    max_stack_depth: int = 128
    trace_calls: bool = False
    all_threads: bool = False
    adjust_switch_interval: bool = True
    counter_interval_ms: float = 10.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if f.type in ("bool", bool) and not isinstance(value, bool):
                raise InvalidInputError(
                    f"ProfilerConfig.{f.name} must be a bool, got {value!r}", field=f.name
                )
        for name, lo, hi in (
            ("sample_interval_ms", 0.05, 10_000.0),
            ("counter_interval_ms", 0.1, 60_000.0),
        ):
            value = getattr(self, name)
            if (
                isinstance(value, bool)
                or not isinstance(value, (int, float))
                or not math.isfinite(value)
                or not lo <= value <= hi
            ):
                raise InvalidInputError(
                    f"ProfilerConfig.{name} must be a number of milliseconds in "
                    f"[{lo:g}, {hi:g}], got {value!r}",
                    field=name,
                )
        for name, lo in (
            ("max_samples", 1),
            ("max_events", 1),
            ("max_counter_points", 1),
            ("max_stack_depth", 1),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < lo:
                raise InvalidInputError(
                    f"ProfilerConfig.{name} must be an int >= {lo}, got {value!r}", field=name
                )
