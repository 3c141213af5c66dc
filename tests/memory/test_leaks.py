"""Leak reports: kept tensors found with their file and line, freed ones not; checkpoints and
scopes; grouping and bounds; the log record; numpy arrays outside the pool via tracemalloc."""

from __future__ import annotations

import logging
import sys
import tracemalloc

import numpy as np
import pytest

from hyperion_otel import semconv
from hyperion_otel.memory import (
    MemoryConfig,
    check_memory_leaks,
    init_memory,
    leak_check,
    set_leak_checkpoint,
)


def line() -> int:
    return sys._getframe(1).f_lineno


def make_kv(pool, n):
    return [pool.allocate((4, 16), np.float32) for _ in range(n)]


def test_leak_report_names_the_kept_tensor_and_not_the_freed_ones():
    pool = init_memory(MemoryConfig(track_allocations=True, track_stack_traces=True))
    freed = pool.allocate((100,), np.float32)
    kept = pool.allocate((8, 8), np.float32)
    kept_line = line() - 1  # the allocation is on the line above
    pool.free(freed)
    report = check_memory_leaks(log=False)
    assert report.has_leaks and (report.total_count, report.total_bytes) == (1, 256)
    (leak,) = report.leaks
    assert leak.site == f"{__file__}:{kept_line}"
    assert f'File "{__file__}", line {kept_line}, in test_leak_report_names' in leak.trace
    assert leak.count == 1 and leak.nbytes == 256 and leak.source == "pool"
    assert "400" not in report.format()  # the freed 400-byte tensor is nowhere
    del kept


def test_scope_reports_only_what_was_allocated_inside_and_kept():
    pool = init_memory(MemoryConfig(track_allocations=True))
    before = pool.allocate(10)
    with leak_check(log=False) as scope:
        temp = pool.allocate(20)
        kept = pool.allocate(30)
        kept_line = line() - 1  # the allocation is on the line above
        pool.free(temp)
    report = scope.report
    assert report is not None
    assert [(leak.site, leak.nbytes) for leak in report.leaks] == [(f"{__file__}:{kept_line}", 120)]
    assert report.since_allocation_id == 1
    del before, kept


def test_checkpoint_groups_by_site_largest_first_and_bounds_the_sites():
    pool = init_memory(MemoryConfig(track_allocations=True, track_stack_traces=True))
    old = pool.allocate(1000)
    set_leak_checkpoint()
    small = pool.allocate(1)
    blocks = make_kv(pool, 3)  # one site, three allocations
    big = pool.allocate(500)
    report = check_memory_leaks(log=False)
    assert [(leak.nbytes, leak.count) for leak in report.leaks] == [(2000, 1), (768, 3), (4, 1)]
    assert "make_kv" in report.leaks[1].trace
    bounded = check_memory_leaks(max_sites=1, log=False)
    assert len(bounded.leaks) == 1 and bounded.omitted_sites == 2
    assert bounded.total_count == 5 and "and 2 more site(s)" in bounded.format()
    del old, small, blocks, big


def test_a_report_with_leaks_is_logged_on_hyperion_memory(caplog):
    pool = init_memory(MemoryConfig(track_allocations=True))
    with caplog.at_level(logging.WARNING, logger="hyperion.memory"):
        with leak_check():
            pass  # nothing kept: nothing logged
        assert not caplog.records
        kept = pool.allocate(64)
        kept_line = line() - 1  # the allocation is on the line above
        check_memory_leaks()
    (rec,) = [r for r in caplog.records if r.name == "hyperion.memory"]
    assert rec.levelno == logging.WARNING
    assert f"{__file__}:{kept_line}" in rec.getMessage()
    assert getattr(rec, semconv.HYPERION_MEMORY_LEAKED_BYTES) == 256
    assert getattr(rec, semconv.HYPERION_MEMORY_LEAKED_ALLOCATIONS) == 1
    assert getattr(rec, semconv.HYPERION_MEMORY_LEAK_SITE) == f"{__file__}:{kept_line}"
    del kept


def test_untracked_leaks_are_grouped_by_dtype_and_shape():
    pool = init_memory(MemoryConfig())
    kept = [pool.allocate((2, 3), np.float64) for _ in range(2)]
    report = check_memory_leaks(log=False)
    assert [(leak.site, leak.count) for leak in report.leaks] == [("<untracked float64[2, 3]>", 2)]
    assert any("tracking is off" in n for n in report.notes)
    del kept


def test_numpy_arrays_outside_the_pool_are_seen_through_tracemalloc():
    assert not tracemalloc.is_tracing()
    init_memory(MemoryConfig(track_allocations=True))
    with leak_check(include_numpy=True, log=False) as scope:
        assert tracemalloc.is_tracing()
        temp = np.ones(1 << 16)
        del temp
        kept = np.ones(1 << 20)
        kept_line = line() - 1  # the allocation is on the line above
    assert not tracemalloc.is_tracing()  # the scope started it, the scope stopped it
    report = scope.report
    assert report is not None
    top = report.numpy_leaks[0]
    assert top.source == "numpy" and top.site == f"{__file__}:{kept_line}"
    assert top.nbytes == kept.nbytes == 8 * (1 << 20)
    assert report.numpy_bytes >= kept.nbytes
    assert all(leak.nbytes < 1 << 16 for leak in report.numpy_leaks[1:])


def test_numpy_path_without_tracing_says_so_and_a_running_tracemalloc_is_left_running():
    report = check_memory_leaks(include_numpy=True, log=False)
    assert any("no memory pool" in n for n in report.notes)
    assert any("tracemalloc is not tracing" in n for n in report.notes)
    tracemalloc.start(4)
    try:
        with leak_check(include_numpy=True, log=False) as scope:
            kept = np.zeros(1 << 18)
        assert tracemalloc.is_tracing()
        assert scope.report is not None and scope.report.numpy_bytes >= kept.nbytes
    finally:
        tracemalloc.stop()


def test_max_sites_must_be_a_non_negative_int():
    from hyperion_otel.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="max_sites"):
        check_memory_leaks(max_sites=-1)


def test_a_checkpoint_of_another_pool_does_not_hide_allocations():
    init_memory(MemoryConfig(track_allocations=True)).allocate(10)
    set_leak_checkpoint()
    pool = init_memory(MemoryConfig(track_allocations=True))
    kept = pool.allocate(5)
    report = check_memory_leaks(log=False)
    assert report.total_count == 1 and report.since_allocation_id == 0
    assert any("another pool" in n for n in report.notes)
    del kept
