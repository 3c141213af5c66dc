"""Memory tracking for the profiler: a counting allocator and pool statistics over time.

The counting allocator wraps whatever ``hyperion_otel._seams.allocator`` currently serves (plain
numpy or the memory pool) for the duration of a session, so the op listener can charge
allocations to the op that made them. Pool statistics are read by duck typing: the pool
may expose ``stats()``/``heap_stats()`` returning an object or mapping with byte fields.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import numpy.typing as npt

from hyperion_otel._seams import allocator as _allocator
from hyperion_otel.profiler.ops import AllocCounts

__all__ = ["CountingAllocator", "install_counting", "read_memory_series", "uninstall_counting"]

_STATS_METHODS = ("stats", "heap_stats", "get_stats", "get_heap_stats")
# Fields of the memory pool's HeapStats / MemoryDebugInfo, and common spellings.
_STATS_FIELDS = (
    "pool_bytes",
    "used_bytes",
    "free_bytes",
    "cached_bytes",
    "peak_used_bytes",
    "largest_free_block",
    "fragmentation",
    "allocation_count",
    "active_bytes",
    "peak_bytes",
    "active_allocations",
)


class CountingAllocator:
    """Forwards to ``inner`` and counts allocations and bytes in ``counts``."""

    def __init__(self, inner: _allocator.Allocator, counts: AllocCounts) -> None:
        self.inner = inner
        self.counts = counts

    def allocate(
        self, shape: tuple[int, ...] | int, dtype: npt.DTypeLike = np.float32
    ) -> npt.NDArray[np.generic]:
        array = self.inner.allocate(shape, dtype)
        counts = self.counts
        counts.count += 1
        counts.nbytes += array.nbytes
        return array

    def free(self, array: npt.NDArray[np.generic]) -> None:
        self.counts.freed_bytes += array.nbytes
        self.inner.free(array)

    def __getattr__(self, name: str) -> Any:
        # Pool-specific methods (stats, ...) stay reachable through get_allocator().
        return getattr(self.inner, name)


def install_counting(counts: AllocCounts) -> CountingAllocator:
    """Put a counting wrapper in front of the current allocator."""
    wrapper = CountingAllocator(_allocator.get_allocator(), counts)
    previous = _allocator.set_allocator(wrapper)
    wrapper.inner = previous  # whatever was really installed at the swap
    return wrapper


def uninstall_counting(wrapper: CountingAllocator) -> None:
    """Put back the wrapped allocator, unless someone replaced the wrapper meanwhile.

    If another allocator was installed while profiling (``init_memory()``), it stays;
    should it later hand the wrapper back (closing the pool), the wrapper stays installed,
    forwarding and counting only.
    """
    if _allocator.get_allocator() is wrapper:
        # A pool closed meanwhile could not put its predecessor back (we were on top of it):
        # plain numpy then, rather than an allocator that refuses to allocate.
        closed = getattr(wrapper.inner, "closed", False) is True
        _allocator.set_allocator(None if closed else wrapper.inner)


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


def _pool_stats(allocator: object) -> dict[str, float]:
    source: object = allocator
    for method in _STATS_METHODS:
        fn = getattr(allocator, method, None)
        if callable(fn):
            source = fn()
            break
    out: dict[str, float] = {}
    for field in _STATS_FIELDS:
        raw = source.get(field) if isinstance(source, Mapping) else getattr(source, field, None)
        value = _number(raw)
        if value is not None:
            out[field] = value
    return out


def read_memory_series(wrapper: CountingAllocator | None) -> dict[str, float]:
    """Current memory figures: the pool's own statistics plus what the wrapper counted."""
    current: object = _allocator.get_allocator()
    if isinstance(current, CountingAllocator):
        current = current.inner
    out = {} if isinstance(current, _allocator.NumpyAllocator) else _pool_stats(current)
    if wrapper is not None:
        counts = wrapper.counts
        out["allocated_bytes"] = float(counts.nbytes)
        out["live_bytes"] = float(counts.nbytes - counts.freed_bytes)
        out["allocations"] = float(counts.count)
    return out
