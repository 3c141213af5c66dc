"""Leak reports: pool allocations still live since a checkpoint, grouped by site.

``check_memory_leaks()`` lists what is live in the current pool (since the last
``set_leak_checkpoint()``, or since the pool began), grouped by allocation stack, largest
first, at most ``max_sites`` groups (the rest are counted, not listed). ``leak_check()`` is
the same as a ``with`` scope: its report covers what was allocated inside and is still live
at exit. Each report with leaks is also logged at WARNING on the stdlib logger
``hyperion.memory`` (the logging system forwards it to OTLP), with the totals as attributes.

``include_numpy=True`` adds numpy arrays made *outside* the pool, found through tracemalloc's
numpy domain (``np.lib.tracemalloc_domain``): a checkpoint or scope starts tracemalloc if it
is not running (and stops it again when the scope ends or the checkpoint is closed). Pool
segments themselves are filtered out. Tracing costs ~+15-50% on allocation-heavy code.
"""

from __future__ import annotations

import logging
import os
import threading
import tracemalloc
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from hyperion_otel import semconv
from hyperion_otel.errors import InvalidInputError, public
from hyperion_otel.memory import _arena
from hyperion_otel.memory.current import current_pool
from hyperion_otel.memory.pool import MemoryPool
from hyperion_otel.memory.tracker import group_by_site, site_of

__all__ = [
    "DEFAULT_MAX_SITES",
    "LeakCheckpoint",
    "LeakSite",
    "MemoryLeakReport",
    "check_memory_leaks",
    "leak_check",
    "set_leak_checkpoint",
]

DEFAULT_MAX_SITES = 20
DEFAULT_NUMPY_DEPTH = 16
_NUMPY_DIR = os.path.dirname(np.__file__)
_log = logging.getLogger("hyperion.memory")


@dataclass(frozen=True)
class LeakSite:
    """Live memory that shares one allocation site (one stack)."""

    site: str  # "file:line" of the allocating line, or "<untracked dtype[shape]>"
    nbytes: int
    count: int
    trace: str  # traceback-style, most recent call last ("" when unknown)
    source: str = "pool"  # "pool" or "numpy" (tracemalloc domain)
    example_ids: tuple[int, ...] = ()


@public
@dataclass(frozen=True)
class MemoryLeakReport:
    """Leaks grouped by site, largest first; ``omitted_*`` count the sites beyond the bound."""

    leaks: tuple[LeakSite, ...] = ()
    total_bytes: int = 0
    total_count: int = 0
    omitted_sites: int = 0
    since_allocation_id: int = 0
    numpy_leaks: tuple[LeakSite, ...] = ()
    numpy_bytes: int = 0
    notes: tuple[str, ...] = field(default=())

    @property
    def has_leaks(self) -> bool:
        return bool(self.total_count or self.numpy_bytes)

    def format(self) -> str:
        lines = [
            f"{self.total_bytes} bytes in {self.total_count} live pool allocation(s) at "
            f"{len(self.leaks) + self.omitted_sites} site(s) since allocation #{self.since_allocation_id}"
        ]
        for leak in (*self.leaks, *self.numpy_leaks):
            lines.append(
                f"- {leak.nbytes} bytes in {leak.count} allocation(s) at {leak.site} [{leak.source}]"
            )
            if leak.trace:
                lines.append(leak.trace)
        if self.omitted_sites:
            lines.append(f"... and {self.omitted_sites} more site(s)")
        lines.extend(f"note: {n}" for n in self.notes)
        return "\n".join(lines)

    __str__ = format


class LeakCheckpoint:
    """Where a leak check starts: an allocation id and, with numpy included, a tracemalloc snapshot."""

    def __init__(self, include_numpy: bool = False, numpy_depth: int = DEFAULT_NUMPY_DEPTH) -> None:
        pool = current_pool()
        self.allocation_id = pool.last_allocation_id if pool is not None else 0
        # Allocation ids are per pool: the checkpoint only applies to the pool it was taken on.
        self.pool: weakref.ref[MemoryPool] | None = weakref.ref(pool) if pool is not None else None
        self.include_numpy = include_numpy
        self.started_tracemalloc = False
        self.snapshot: tracemalloc.Snapshot | None = None
        if include_numpy:
            if not tracemalloc.is_tracing():
                tracemalloc.start(numpy_depth)
                self.started_tracemalloc = True
            self.snapshot = _numpy_snapshot()
        self.report: MemoryLeakReport | None = None

    def close(self) -> None:
        """Stop tracemalloc if this checkpoint started it."""
        if self.started_tracemalloc:
            self.started_tracemalloc = False
            tracemalloc.stop()
        self.snapshot = None


_lock = threading.Lock()
_checkpoint: LeakCheckpoint | None = None


def set_leak_checkpoint(include_numpy: bool = False) -> LeakCheckpoint:
    """Make later ``check_memory_leaks()`` calls report only what is allocated from now on."""
    global _checkpoint
    cp = LeakCheckpoint(include_numpy)
    with _lock:
        old, _checkpoint = _checkpoint, cp
    if old is not None:
        old.close()
    return cp


def clear_leak_checkpoint() -> None:
    """Forget the default checkpoint (stopping tracemalloc if it started it)."""
    global _checkpoint
    with _lock:
        old, _checkpoint = _checkpoint, None
    if old is not None:
        old.close()


@contextmanager
def leak_check(
    include_numpy: bool = False, max_sites: int = DEFAULT_MAX_SITES, log: bool = True
) -> Iterator[LeakCheckpoint]:
    """Scope whose ``.report`` (set at exit) lists what was allocated inside and is still live."""
    cp = LeakCheckpoint(include_numpy)
    try:
        yield cp
    finally:
        try:
            cp.report = check_memory_leaks(cp, max_sites=max_sites, log=log)
        finally:
            cp.close()


@public
def check_memory_leaks(
    checkpoint: LeakCheckpoint | None = None,
    *,
    max_sites: int = DEFAULT_MAX_SITES,
    include_numpy: bool | None = None,
    log: bool = True,
) -> MemoryLeakReport:
    """Live allocations since ``checkpoint`` (default: the last ``set_leak_checkpoint()``)."""
    if not isinstance(max_sites, int) or isinstance(max_sites, bool) or max_sites < 0:
        raise InvalidInputError(
            f"max_sites must be an int >= 0, got {max_sites!r}", value=repr(max_sites)
        )
    cp = checkpoint if checkpoint is not None else _checkpoint
    notes: list[str] = []
    pool = current_pool()
    since = 0
    if cp is not None and pool is not None:
        if cp.pool is not None and cp.pool() is pool:
            since = cp.allocation_id
        else:
            notes.append("the checkpoint was taken on another pool: reporting everything live")
    leaks: list[LeakSite] = []
    total_bytes = total_count = omitted = 0
    if pool is None:
        notes.append("no memory pool is current (init_memory was not called)")
    else:
        if not pool.tracking:
            notes.append("allocation tracking is off: sites are unknown")
        groups = group_by_site(pool.live_records(since))
        for g in groups:
            total_bytes += g.nbytes
            total_count += g.count
        omitted = max(0, len(groups) - max_sites)
        stacks = pool.stacks
        for g in groups[:max_sites]:
            trace = stacks.format(g.example.stack) if g.example.stack >= 0 else ""
            leaks.append(
                LeakSite(
                    site_of(g.example, stacks),
                    g.nbytes,
                    g.count,
                    trace,
                    example_ids=(g.example.id,),
                )
            )
    want_numpy = include_numpy if include_numpy is not None else bool(cp and cp.include_numpy)
    numpy_leaks: list[LeakSite] = []
    if want_numpy:
        numpy_leaks = _numpy_leaks(cp.snapshot if cp is not None else None, max_sites, notes)
    report = MemoryLeakReport(
        leaks=tuple(leaks),
        total_bytes=total_bytes,
        total_count=total_count,
        omitted_sites=omitted,
        since_allocation_id=since,
        numpy_leaks=tuple(numpy_leaks),
        numpy_bytes=sum(n.nbytes for n in numpy_leaks),
        notes=tuple(notes),
    )
    if log and report.has_leaks:
        _emit(report)
    return report


def _numpy_snapshot() -> tracemalloc.Snapshot:
    return tracemalloc.take_snapshot().filter_traces(
        [
            tracemalloc.DomainFilter(True, np.lib.tracemalloc_domain),
            tracemalloc.Filter(False, _arena.__file__),
        ]
    )


def _numpy_leaks(
    baseline: tracemalloc.Snapshot | None, max_sites: int, notes: list[str]
) -> list[LeakSite]:
    if not tracemalloc.is_tracing():
        notes.append("tracemalloc is not tracing: numpy allocations outside the pool are not seen")
        return []
    snap = _numpy_snapshot()
    if baseline is not None:
        stats = [
            (s.traceback, s.size_diff, s.count_diff) for s in snap.compare_to(baseline, "traceback")
        ]
    else:
        stats = [(s.traceback, s.size, s.count) for s in snap.statistics("traceback")]
    stats = sorted((s for s in stats if s[1] > 0), key=lambda s: -s[1])
    out = []
    for tb, size, count in stats[:max_sites]:
        # Frames are oldest first; the site is the innermost frame outside numpy itself.
        user = [f for f in tb if not f.filename.startswith(_NUMPY_DIR)] or list(tb)
        site = f"{user[-1].filename}:{user[-1].lineno}"
        trace = "\n".join(tb.format(most_recent_first=False))
        out.append(LeakSite(site, size, max(count, 0), trace, source="numpy"))
    return out


def _emit(report: MemoryLeakReport) -> None:
    top = (
        report.leaks[0].site
        if report.leaks
        else (report.numpy_leaks[0].site if report.numpy_leaks else "")
    )
    _log.warning(
        "memory leak check: %s",
        report.format(),
        extra={
            semconv.HYPERION_MEMORY_LEAKED_BYTES: report.total_bytes + report.numpy_bytes,
            semconv.HYPERION_MEMORY_LEAKED_ALLOCATIONS: report.total_count,
            semconv.HYPERION_MEMORY_LEAK_SITE: top,
        },
    )
