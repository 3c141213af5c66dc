"""``Profile``: the immutable result of a profiling session, and how it is built.

Times are integer nanoseconds relative to the session start (exact nesting, no float
drift); ``*_s`` properties give seconds. Stacks are tuples of indices into ``frames``,
root first.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import CodeType
from typing import TYPE_CHECKING, Any, NamedTuple

from hyperion_otel.errors import public
from hyperion_otel.profiler.config import ProfilerConfig
from hyperion_otel.profiler.ops import CounterPoint, RawOp
from hyperion_otel.profiler.sampler import RawSample
from hyperion_otel.profiler.tracer import RawCall

if TYPE_CHECKING:
    from hyperion_otel.profiler.hotspots import HotspotReport

__all__ = [
    "CallEvent",
    "CounterSample",
    "FrameInfo",
    "OpEvent",
    "Profile",
    "Sample",
    "ThreadInfo",
    "build_profile",
]


@dataclass(frozen=True)
class FrameInfo:
    """A Python function: qualified name, file and first line."""

    name: str
    file: str
    line: int


@dataclass(frozen=True)
class ThreadInfo:
    ident: int
    name: str
    index: int  # small stable number used as ``tid`` in trace files (1 = session thread)


class Sample(NamedTuple):
    t_ns: int
    thread: int
    stack: int
    weight_ns: int
    trace_id: int
    span_id: int


class OpEvent(NamedTuple):
    name: str
    thread: int
    start_ns: int
    end_ns: int
    self_ns: int
    depth: int
    attrs: Mapping[str, Any]
    allocations: int
    alloc_bytes: int
    trace_id: int
    span_id: int
    phase: str

    @property
    def duration_ns(self) -> int:
        return self.end_ns - self.start_ns

    @property
    def flops(self) -> float:
        return _count(self.attrs.get("flops"))

    @property
    def nbytes(self) -> float:
        return _count(self.attrs.get("nbytes"))


class CallEvent(NamedTuple):
    frame: int
    thread: int
    start_ns: int
    end_ns: int


class CounterSample(NamedTuple):
    t_ns: int
    name: str
    values: dict[str, float]


def _count(value: object) -> float:
    """A flops/nbytes attribute as a finite float (0 when absent or not a number)."""
    if value is None or isinstance(value, (bool, str)):
        return 0.0
    try:
        number = float(value)  # type: ignore[arg-type]  # ints, floats, numpy scalars
    except (TypeError, ValueError):
        return 0.0
    return number if math.isfinite(number) else 0.0


@public
@dataclass(frozen=True, eq=False)
class Profile:
    """Everything a session collected; render it with ``save()``."""

    profile_id: str
    config: ProfilerConfig
    start_unix_ns: int
    duration_ns: int
    pid: int
    threads: dict[int, ThreadInfo]
    frames: list[FrameInfo]
    stacks: list[tuple[int, ...]]
    samples: list[Sample]
    ops: list[OpEvent]
    calls: list[CallEvent]
    counters: list[CounterSample]
    call_counts: dict[int, int] | None  # frame index -> calls, when calls were traced
    dropped: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    stats: dict[str, float] = field(default_factory=dict)  # sampler ticks, cost, ...

    @property
    def duration_s(self) -> float:
        return self.duration_ns / 1e9

    def samples_for(
        self, *, trace_id: int | None = None, span_id: int | None = None
    ) -> list[Sample]:
        """Samples taken while the given trace / span was active on the sampled thread."""
        return [
            s
            for s in self.samples
            if (trace_id is None or s.trace_id == trace_id)
            and (span_id is None or s.span_id == span_id)
        ]

    def hotspots(self, top: int = 10) -> HotspotReport:
        from hyperion_otel.profiler.hotspots import compute_hotspots

        return compute_hotspots(self, top)

    def save(self, path: str | os.PathLike[str], format: str | None = None) -> str:
        """Write the profile (Chrome trace by default; see ``save_profile``); returns the path."""
        from hyperion_otel.profiler.output import write_profile

        return write_profile(self, path, format)


def _frame_info(code: CodeType) -> FrameInfo:
    name = getattr(code, "co_qualname", code.co_name)
    return FrameInfo(name, code.co_filename, code.co_firstlineno)


def _trim_leaf(stack: tuple[int, ...], seam: set[int]) -> tuple[int, ...]:
    """``stack`` (leaf first) without its leading ``seam`` frames."""
    k = 0
    while k < len(stack) and stack[k] in seam:
        k += 1
    return stack[k:] if k else stack


def build_profile(
    *,
    profile_id: str,
    config: ProfilerConfig,
    start_unix_ns: int,
    duration_ns: int,
    codes: list[CodeType],
    raw_stacks: list[tuple[int, ...]],
    raw_samples: Iterable[RawSample],
    raw_ops: Iterable[RawOp],
    raw_calls: Iterable[RawCall],
    raw_counters: Iterable[CounterPoint],
    call_counts: dict[CodeType, int] | None,
    thread_names: Mapping[int, str],
    first_thread: int,
    dropped: dict[str, int],
    notes: list[str],
    exclude_files: frozenset[str] = frozenset(),
    seam_files: frozenset[str] = frozenset(),
    stats: dict[str, float] | None = None,
) -> Profile:
    """Resolve interned codes to frames and put raw buffers into their public shapes.

    Samples with a frame from ``exclude_files`` are dropped; leaf frames from
    ``seam_files`` are cut off, so the profiler's per-op bookkeeping is charged to the
    code that opened the op instead of showing as a hotspot of its own.
    """
    frames = [_frame_info(c) for c in codes]
    index = {id(c): i for i, c in enumerate(codes)}

    def frame_of(code: CodeType) -> int:
        i = index.get(id(code))
        if i is None:
            i = index[id(code)] = len(frames)
            frames.append(_frame_info(code))
        return i

    # Samples taken while a thread was inside the session's own start/stop are dropped:
    # a profile should not show its profiler.
    own = {i for i, c in enumerate(codes) if c.co_filename in exclude_files}
    seam = {i for i, c in enumerate(codes) if c.co_filename in seam_files}
    skip = {i for i, stack in enumerate(raw_stacks) if own.intersection(stack)} if own else set()
    samples = [Sample(*s) for s in raw_samples if s[2] not in skip]
    ops = [OpEvent(*o) for o in raw_ops]
    calls = [CallEvent(frame_of(c), tid, t0, t1) for c, tid, t0, t1 in raw_calls]
    counts = None
    if call_counts is not None:
        counts = {frame_of(code): n for code, n in call_counts.items()}
    idents: dict[int, None] = {first_thread: None}
    for group in (samples, ops, calls):
        for item in group:
            idents.setdefault(item.thread, None)
    threads = {
        ident: ThreadInfo(ident, thread_names.get(ident, f"thread-{ident}"), n)
        for n, ident in enumerate(idents, start=1)
    }
    return Profile(
        profile_id=profile_id,
        config=config,
        start_unix_ns=start_unix_ns,
        duration_ns=duration_ns,
        pid=os.getpid(),
        threads=threads,
        frames=frames,
        stacks=[tuple(reversed(_trim_leaf(s, seam))) for s in raw_stacks],
        samples=samples,
        ops=ops,
        calls=calls,
        counters=[CounterSample(*c) for c in raw_counters],
        call_counts=counts,
        dropped=dropped,
        notes=notes,
        stats=dict(stats or {}),
    )
