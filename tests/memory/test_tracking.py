"""Allocation tracking: counters, traces with the caller's file and line, span ids, bounds,
the module-level functions with and without a pool, and configuration checks."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from opentelemetry.sdk.trace import TracerProvider

from hyperion_otel._seams import allocator as _allocator
from hyperion_otel.errors import InvalidInputError
from hyperion_otel.memory import (
    MemoryConfig,
    MemoryDebugConfig,
    MemoryOptimizerConfig,
    MemoryPool,
    check_memory_corruption,
    current_pool,
    enable_memory_debug,
    enable_stack_traces,
    get_allocation_trace,
    get_heap_stats,
    get_memory_debug_info,
    init_memory,
    shutdown_memory,
)


def line() -> int:
    """Line number of the caller."""
    return sys._getframe(1).f_lineno


def test_debug_info_counts_active_total_and_peak():
    pool = init_memory(MemoryConfig(initial_pool_size=1 << 20))
    a = pool.allocate((10,), np.float32)
    b = pool.allocate((5,), np.float64)
    pool.free(a)
    c = pool.allocate((2,), np.int8)
    info = get_memory_debug_info()
    assert (info.active_allocations, info.total_allocations) == (2, 3)
    assert (info.active_bytes, info.peak_bytes, info.total_bytes) == (42, 80, 82)
    del b, c


def _alloc_in_helper(pool):
    return pool.allocate((3, 3), np.float32), line()


def test_allocation_trace_names_this_file_and_line_most_recent_call_last():
    pool = init_memory(MemoryConfig(track_allocations=True, track_stack_traces=True))
    arr, helper_line = _alloc_in_helper(pool)
    outer_line = line() - 1  # the allocation is on the line above
    text = get_allocation_trace(arr)
    assert text.startswith("allocation #1: float32[3, 3], 36 bytes")
    inner = f'File "{__file__}", line {helper_line}, in _alloc_in_helper'
    outer = f'File "{__file__}", line {outer_line}, in test_allocation_trace_names'
    assert inner in text and outer in text
    assert text.index(outer) < text.index(inner)  # most recent call last
    # A view into the allocation finds it too.
    assert get_allocation_trace(arr[1:]) == text


def test_stack_depth_bounds_the_trace_and_site_only_without_traces():
    pool = init_memory(MemoryConfig(track_allocations=True, track_stack_traces=True, stack_depth=1))
    arr, helper_line = _alloc_in_helper(pool)
    frames = get_allocation_trace(arr).splitlines()[2:]
    assert frames == [f'  File "{__file__}", line {helper_line}, in _alloc_in_helper']
    enable_stack_traces(False)
    assert pool.tracking and not pool.stack_traces
    arr2, helper_line = _alloc_in_helper(pool)
    assert get_allocation_trace(arr2).endswith(f"line {helper_line}, in _alloc_in_helper")


def test_untracked_allocations_say_so():
    pool = init_memory(MemoryConfig())
    arr = pool.allocate(4)
    assert "allocated while tracking was off" in get_allocation_trace(arr)
    assert pool.describe(arr).site is None


def test_allocations_carry_the_active_trace_and_span_ids():
    tracer = TracerProvider().get_tracer("test")
    pool = init_memory(MemoryConfig(track_allocations=True))
    with tracer.start_as_current_span("work") as span:
        inside = pool.allocate(4)
    outside = pool.allocate(4)
    ctx = span.get_span_context()
    info = pool.describe(inside)
    assert info.trace_id == format(ctx.trace_id, "032x")
    assert info.span_id == format(ctx.span_id, "016x")
    assert info.thread_id is not None and info.time is not None
    assert f"trace_id {info.trace_id}" in get_allocation_trace(inside)
    assert pool.describe(outside).trace_id is None


def test_record_and_stack_bounds():
    pool = init_memory(
        MemoryConfig(
            track_allocations=True, track_stack_traces=True, max_tracked_allocations=2, max_stacks=1
        )
    )
    a = pool.allocate(1)
    b = pool.allocate(1)  # another line: another stack, but the table is full
    c = pool.allocate(1)  # over the record bound
    info = get_memory_debug_info()
    assert (info.tracked_allocations, info.dropped_records, info.interned_stacks) == (2, 1, 1)
    assert "stack table was full (1 stacks)" in get_allocation_trace(b)
    assert "tracking was off" in get_allocation_trace(c)
    pool.free(a)
    assert get_memory_debug_info().tracked_allocations == 1


def test_get_allocation_trace_refuses_arrays_the_pool_does_not_hold():
    with pytest.raises(InvalidInputError, match="not a live allocation"):
        get_allocation_trace(np.ones(3))
    pool = init_memory()
    arr = pool.allocate(3)
    pool.free(arr)
    with pytest.raises(InvalidInputError, match="not a live allocation"):
        get_allocation_trace(arr)
    with pytest.raises(InvalidInputError, match="numpy array"):
        get_allocation_trace("nope")  # type: ignore[arg-type]


def test_read_functions_work_without_a_pool():
    assert current_pool() is None
    assert get_memory_debug_info().total_allocations == 0
    assert get_heap_stats().pool_bytes == 0
    assert check_memory_corruption() == 0
    enable_stack_traces(False)  # nothing to turn off: creates no pool
    assert current_pool() is None


def test_enable_memory_debug_creates_installs_and_shutdown_restores():
    before = _allocator.get_allocator()
    pool = enable_memory_debug(MemoryDebugConfig(track_allocations=True, track_stack_traces=True))
    assert current_pool() is pool and _allocator.get_allocator() is pool
    assert pool.tracking and pool.stack_traces
    arr = _allocator.get_allocator().allocate((2, 2), np.float32)  # the way the runtime allocates
    assert get_memory_debug_info().active_allocations == 1
    assert f'File "{__file__}"' in get_allocation_trace(arr)
    shutdown_memory()
    assert _allocator.get_allocator() is before and current_pool() is None


def test_enable_stack_traces_on_creates_a_default_pool():
    enable_stack_traces(True)
    pool = current_pool()
    assert pool is not None and pool.tracking and pool.stack_traces
    assert pool.config == MemoryConfig()


def test_init_memory_again_closes_the_previous_pool():
    before = _allocator.get_allocator()
    first = init_memory(MemoryConfig(initial_pool_size=4096))
    second = init_memory(MemoryConfig(initial_pool_size=8192))
    assert first.closed and not second.closed
    assert _allocator.get_allocator() is second
    second.close()  # closing directly restores what was there before the first pool
    assert _allocator.get_allocator() is before and current_pool() is None


def test_closing_the_current_pool_undoes_what_init_memory_installed():
    """``pool.close()`` without ``shutdown_memory()``: no span hook, no current pool, the
    allocator from before; a pool that is no longer current leaves the new one's hook."""
    from hyperion_otel._seams import span_hooks
    from hyperion_otel.memory import current as _current_module

    hooks, before = span_hooks._hooks, _allocator.get_allocator()
    pool = init_memory(MemoryConfig(initial_pool_size=4096))
    assert span_hooks._hooks != hooks
    pool.close()
    assert span_hooks._hooks == hooks, "the memory span hook was left registered"
    assert _current_module._current is None
    assert _allocator.get_allocator() is before
    first = init_memory(MemoryConfig(initial_pool_size=4096))
    second = MemoryPool(MemoryConfig(initial_pool_size=4096))
    second.close()  # never current: changes nothing of the current pool's
    assert current_pool() is first and span_hooks._hooks != hooks
    first.close()
    assert span_hooks._hooks == hooks and _allocator.get_allocator() is before


def test_wrong_argument_types_are_invalid_input():
    with pytest.raises(InvalidInputError, match="MemoryConfig"):
        init_memory(MemoryDebugConfig())  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="MemoryDebugConfig"):
        enable_memory_debug(MemoryConfig())  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="bool"):
        enable_stack_traces("yes")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: MemoryConfig(initial_pool_size=-1), "initial_pool_size"),
        (lambda: MemoryConfig(initial_pool_size=10, max_pool_size=5), "initial_pool_size"),
        (lambda: MemoryConfig(track_allocations=1), "track_allocations"),
        (lambda: MemoryConfig(stack_depth=0), "stack_depth"),
        (lambda: MemoryConfig(max_pool_size=2.5), "max_pool_size"),
        (lambda: MemoryDebugConfig(stack_depth=1000), "stack_depth"),
        (lambda: MemoryOptimizerConfig(memory_speed_tradeoff=1.5), "memory_speed_tradeoff"),
        (
            lambda: MemoryOptimizerConfig(memory_speed_tradeoff=float("nan")),
            "memory_speed_tradeoff",
        ),
        (lambda: MemoryConfig.from_settings(pool_max_mb=-1), "pool_max_mb"),
        (lambda: MemoryConfig.from_settings(pool_initial_mb="16"), "pool_initial_mb"),
    ],
)
def test_bad_config_values_raise_invalid_input_error_naming_field_and_value(make, field):
    with pytest.raises(InvalidInputError) as info:
        make()
    assert field in info.value.message and info.value.details["field"] == field
    assert info.value.file == __file__  # points at the line that built the config


def test_config_from_settings_values():
    cfg = MemoryConfig.from_settings(
        tracking=False,
        stack_traces=True,
        stack_depth=8,
        guard_pages=False,
        check_corruption=True,
        pool_initial_mb=2,
        pool_max_mb=3,
    )
    assert cfg == MemoryConfig(
        track_allocations=True,
        track_stack_traces=True,
        stack_depth=8,
        check_corruption=True,
        initial_pool_size=2 << 20,
        max_pool_size=3 << 20,
    )
    assert MemoryConfig.from_settings() == MemoryConfig()
    unlimited = MemoryConfig.from_settings(pool_initial_mb=16.5, pool_max_mb=None)
    assert unlimited.max_pool_size > 1 << 28 and unlimited.initial_pool_size == int(
        16.5 * (1 << 20)
    )
    assert (
        MemoryConfig.from_settings(pool_initial_mb=64, pool_max_mb=8).initial_pool_size == 8 << 20
    )


def test_importing_the_package_has_no_side_effects():
    import subprocess
    from pathlib import Path

    code = (
        "import threading, faulthandler, tracemalloc\n"
        "from hyperion_otel._seams import allocator as _allocator\n"
        "before = (threading.active_count(), faulthandler.is_enabled(), tracemalloc.is_tracing(),"
        " type(_allocator.get_allocator()).__name__)\n"
        "import hyperion_otel.memory as m\n"
        "after = (threading.active_count(), faulthandler.is_enabled(), tracemalloc.is_tracing(),"
        " type(_allocator.get_allocator()).__name__)\n"
        "assert before == after == (1, False, False, 'NumpyAllocator'), (before, after)\n"
        "assert m.current_pool() is None\n"
    )
    repo = Path(__file__).resolve().parents[2]
    subprocess.run([sys.executable, "-c", code], check=True, cwd=repo, timeout=60)
