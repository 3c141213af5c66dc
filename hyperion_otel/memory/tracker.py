"""Allocation records: what the pool knows about each live block, and how it is reported.

The pool keeps one ``Alloc`` per live allocation (it needs offset and size to free it
anyway). With tracking on, the record also carries the wall-clock time, thread, active
span context and an interned stack id (see ``_stacks``); with tracking off those fields
stay empty so the hot path does no extra work.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
from opentelemetry.trace import SpanContext

from hyperion_otel.errors import public
from hyperion_otel.memory._stacks import NO_STACK, Frame, StackTable

__all__ = ["Alloc", "AllocationInfo", "MemoryDebugInfo", "describe", "group_by_site"]


class Alloc:
    """Internal record of one live block. ``owner`` is a ``Segment`` or a ``GuardRegion``."""

    __slots__ = (
        "addr",
        "array",
        "dtype",
        "id",
        "nbytes",
        "offset",
        "owner",
        "shape",
        "size",
        "span",
        "stack",
        "thread",
        "time",
        "tracked",
    )

    def __init__(
        self,
        addr: int,
        owner: Any,
        offset: int,
        size: int,
        nbytes: int,
        alloc_id: int,
        shape: tuple[int, ...],
        dtype: np.dtype[Any],
    ) -> None:
        self.addr = addr
        self.owner = owner
        self.offset = offset  # block start inside the segment (the front canary, if any)
        self.size = size  # block bytes, including alignment padding and canaries
        self.nbytes = nbytes  # bytes the caller asked for
        self.id = alloc_id
        self.shape = shape
        self.dtype = dtype
        self.array: Any = None  # the array handed out, while live
        self.tracked = False
        self.time = 0.0
        self.thread = 0
        self.span: SpanContext | None = None
        self.stack = NO_STACK


@public
@dataclass(frozen=True)
class MemoryDebugInfo:
    """Counters of the current pool (bytes are what callers requested, not block sizes).

    ``peak_bytes`` is the highest ``active_bytes`` seen since the pool was created;
    ``total_*`` count every allocation ever made. ``tracked_allocations`` is how many live
    allocations carry a record (bounded by ``max_tracked_allocations``); ``dropped_records``
    counts allocations that got none because of that bound.
    """

    active_allocations: int = 0
    total_allocations: int = 0
    active_bytes: int = 0
    peak_bytes: int = 0
    total_bytes: int = 0
    tracking: bool = False
    stack_traces: bool = False
    tracked_allocations: int = 0
    dropped_records: int = 0
    interned_stacks: int = 0


@dataclass(frozen=True)
class AllocationInfo:
    """Public snapshot of one live allocation."""

    id: int
    nbytes: int
    shape: tuple[int, ...]
    dtype: str
    time: float | None
    thread_id: int | None
    trace_id: str | None
    span_id: str | None
    site: Frame | None
    stack: tuple[Frame, ...]

    @property
    def site_label(self) -> str:
        if self.site is None:
            return f"<untracked {self.dtype}{list(self.shape)}>"
        return f"{self.site.file}:{self.site.line} ({self.site.function})"


def _ids(span: SpanContext | None) -> tuple[str | None, str | None]:
    if span is None or not span.is_valid:
        return None, None
    return format(span.trace_id, "032x"), format(span.span_id, "016x")


def describe(rec: Alloc, stacks: StackTable) -> AllocationInfo:
    trace_id, span_id = _ids(rec.span)
    return AllocationInfo(
        id=rec.id,
        nbytes=rec.nbytes,
        shape=rec.shape,
        dtype=str(rec.dtype),
        time=rec.time if rec.tracked else None,
        thread_id=rec.thread if rec.tracked else None,
        trace_id=trace_id,
        span_id=span_id,
        site=stacks.site(rec.stack),
        stack=tuple(stacks.frames(rec.stack)),
    )


def format_trace(rec: Alloc, stacks: StackTable) -> str:
    """Header line plus the traceback-style stack of one allocation."""
    head = f"allocation #{rec.id}: {rec.dtype}{list(rec.shape)}, {rec.nbytes} bytes"
    if rec.tracked:
        when = datetime.datetime.fromtimestamp(rec.time, tz=datetime.timezone.utc)
        head += f", at {when.isoformat(timespec='milliseconds')}, thread {rec.thread}"
        trace_id, span_id = _ids(rec.span)
        if trace_id is not None:
            head += f", trace_id {trace_id}, span_id {span_id}"
    return f"{head}\nAllocated at (most recent call last):\n{stacks.format(rec.stack)}"


def site_of(rec: Alloc, stacks: StackTable) -> str:
    """Short ``file:line`` of the allocating line, or an ``<untracked ...>`` label."""
    site = stacks.site(rec.stack)
    if site is None:
        return f"<untracked {rec.dtype}{list(rec.shape)}>"
    return f"{site.file}:{site.line}"


@dataclass
class SiteGroup:
    """Live allocations that share one stack (or one untracked shape/dtype)."""

    key: tuple[Any, ...]
    example: Alloc
    nbytes: int = 0
    count: int = 0


def group_by_site(records: Iterable[Alloc]) -> list[SiteGroup]:
    """Group records by stack id (untracked ones by dtype and shape), largest first."""
    groups: dict[tuple[Any, ...], SiteGroup] = {}
    for rec in records:
        key: tuple[Any, ...] = (
            (rec.stack,) if rec.stack >= 0 else (rec.stack, str(rec.dtype), rec.shape)
        )
        g = groups.get(key)
        if g is None:
            g = groups[key] = SiteGroup(key, rec)
        g.nbytes += rec.nbytes
        g.count += 1
    return sorted(groups.values(), key=lambda g: (-g.nbytes, -g.count, g.example.id))
