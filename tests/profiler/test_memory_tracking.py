"""track_memory: allocations charged to ops, pool statistics over time, allocator restored."""

from __future__ import annotations

from typing import Any

import numpy as np

from hyperion_otel import profiler as prof
from hyperion_otel._seams import allocator as _allocator, ops as _ops


class StatsPool:
    """A pool-like allocator exposing statistics the way a memory pool may (duck typing)."""

    def __init__(self) -> None:
        self.used = 0

    def allocate(self, shape: Any, dtype: Any = np.float32) -> np.ndarray:
        a = np.empty(shape, dtype=dtype)
        self.used += a.nbytes
        return a

    def free(self, array: np.ndarray) -> None:
        self.used -= array.nbytes

    def stats(self) -> dict[str, float]:
        return {"used_bytes": self.used, "pool_bytes": 1 << 20, "fragmentation": 0.5}


def test_allocations_are_charged_to_the_op_that_made_them() -> None:
    original = _allocator.get_allocator()
    prof.start_profiling()
    with _ops.op("attention", layer=3):
        alloc = _allocator.get_allocator()
        a = alloc.allocate((256, 256))
        b = alloc.allocate(1000, np.float64)
        with _ops.op("matmul"):
            c = alloc.allocate((8,))
        alloc.free(a)
    profile = prof.stop_profiling()
    assert _allocator.get_allocator() is original
    by_name = {e.name: e for e in profile.ops}
    assert by_name["attention"].allocations == 3  # its own two and the nested matmul's one
    assert by_name["attention"].alloc_bytes == 256 * 256 * 4 + 8000 + 32
    assert (by_name["matmul"].allocations, by_name["matmul"].alloc_bytes) == (1, 32)
    memory = [c.values for c in profile.counters if c.name == "memory"]
    assert memory[-1]["allocations"] == 3 and memory[-1]["live_bytes"] == 8000 + 32
    del b, c


def test_pool_statistics_are_read_over_time_and_the_pool_is_restored() -> None:
    pool = StatsPool()
    previous = _allocator.set_allocator(pool)
    try:
        prof.init_profiler(prof.ProfilerConfig(counter_interval_ms=1.0))
        prof.start_profiling()
        kept = [_allocator.get_allocator().allocate((1024,)) for _ in range(4)]
        assert _allocator.get_allocator().stats()["used_bytes"] == 4 * 4096  # type: ignore[attr-defined]
        profile = prof.stop_profiling()
        assert _allocator.get_allocator() is pool
        series = [c.values for c in profile.counters if c.name == "memory"]
        assert series and series[-1]["used_bytes"] == 4 * 4096
        assert series[-1]["pool_bytes"] == 1 << 20
        del kept
    finally:
        _allocator.set_allocator(previous)


def test_an_allocator_installed_during_the_session_is_not_clobbered() -> None:
    pool, original = StatsPool(), _allocator.get_allocator()
    prof.start_profiling()
    replaced = _allocator.set_allocator(pool)
    try:
        prof.stop_profiling()
        assert _allocator.get_allocator() is pool
        # the wrapper handed back by set_allocator still works: it only forwards and counts
        assert replaced.allocate((4,)).shape == (4,)
    finally:
        _allocator.set_allocator(original)


def test_no_wrapper_without_track_memory() -> None:
    original = _allocator.get_allocator()
    prof.init_profiler(prof.ProfilerConfig(track_memory=False))
    prof.start_profiling()
    assert _allocator.get_allocator() is original
    profile = prof.stop_profiling()
    assert not [c for c in profile.counters if c.name == "memory"]


def test_real_memory_pool_statistics_and_undo() -> None:
    from hyperion_otel.memory import MemoryConfig, MemoryPool

    original = _allocator.get_allocator()
    pool = MemoryPool(MemoryConfig(initial_pool_size=1 << 20, max_pool_size=8 << 20))
    pool.install()
    try:
        prof.init_profiler(prof.ProfilerConfig(counter_interval_ms=1.0))
        prof.start_profiling()
        with _ops.op("mlp"):
            arrays = [_allocator.get_allocator().allocate((256, 256)) for _ in range(3)]
        profile = prof.stop_profiling()
        assert _allocator.get_allocator() is pool
        (event,) = profile.ops
        assert (event.allocations, event.alloc_bytes) == (3, 3 * 256 * 256 * 4)
        last = [c.values for c in profile.counters if c.name == "memory"][-1]
        assert last["used_bytes"] >= 3 * 256 * 256 * 4 and last["pool_bytes"] >= last["used_bytes"]
        assert 0.0 <= last["fragmentation"] <= 1.0
        for a in arrays:
            pool.free(a)
    finally:
        pool.close()
    assert _allocator.get_allocator() is original


def test_pool_closed_during_the_session_is_not_put_back() -> None:
    from hyperion_otel.memory import MemoryConfig, MemoryPool

    original = _allocator.get_allocator()
    pool = MemoryPool(MemoryConfig(initial_pool_size=1 << 20, max_pool_size=8 << 20))
    pool.install()
    try:
        prof.start_profiling()
        pool.close()
        prof.stop_profiling()
        assert _allocator.get_allocator().allocate((3,)).shape == (3,)
    finally:
        _allocator.set_allocator(original)
