"""Pool arithmetic on crafted patterns: alignment, first fit, coalescing, fragmentation,
reuse bins, growth, budget, release of idle segments, and bad input."""

from __future__ import annotations

import contextlib
import itertools
import threading

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from hyperion_otel.errors import HyperionMemoryError, InvalidInputError
from hyperion_otel.memory import (
    MemoryConfig,
    MemoryOptimizerConfig,
    MemoryPool,
    configure_memory_optimizer,
)

KiB = 1024


def addr(a: np.ndarray) -> int:
    return a.__array_interface__["data"][0]


def plain(initial: int, maximum: int | None = None, **kw: object) -> MemoryPool:
    """A pool without reuse bins: every free goes straight to the coalescing free list."""
    return MemoryPool(
        MemoryConfig(
            initial_pool_size=initial,
            max_pool_size=maximum or initial,
            enable_optimization=False,
            **kw,
        )
    )


def test_blocks_are_64_byte_aligned_distinct_and_writable():
    with MemoryPool(MemoryConfig(initial_pool_size=64 * KiB)) as pool:
        arrays = [
            pool.allocate(shape, dt)
            for shape, dt in [
                ((3,), np.uint8),
                ((5, 7), np.float32),
                ((), np.float64),
                ((0,), np.float32),
                (11, np.int16),
                ((2, 3, 4), np.complex64),
            ]
        ]
        spans = sorted((addr(a), addr(a) + max(a.nbytes, 1)) for a in arrays)
        assert all(s % 64 == 0 for s, _ in spans)
        assert all(e1 <= s2 for (_, e1), (s2, _) in itertools.pairwise(spans))
        for a in arrays:
            assert a.flags.c_contiguous and a.flags.writeable
            a[...] = 1
        assert arrays[1].shape == (5, 7) and arrays[1].dtype == np.float32
        assert arrays[4].shape == (11,)


def test_first_fit_coalescing_and_fragmentation():
    pool = plain(4 * KiB)
    a, b, c, d = (pool.allocate((256,), np.float32) for _ in range(4))  # 1 KiB each
    assert [addr(x) - addr(a) for x in (b, c, d)] == [1024, 2048, 3072]
    s = pool.heap_stats()
    assert (s.pool_bytes, s.used_bytes, s.free_bytes, s.largest_free_block) == (4096, 4096, 0, 0)
    assert s.fragmentation == 0.0

    pool.free(b)
    pool.free(d)
    s = pool.heap_stats()
    assert (s.used_bytes, s.free_bytes, s.largest_free_block) == (2048, 2048, 1024)
    assert s.fragmentation == pytest.approx(0.5)
    # 2 KiB are free, but not in one piece, and the budget forbids growing.
    with pytest.raises(HyperionMemoryError, match="largest free block 1024"):
        pool.allocate((512,), np.float32)

    pool.free(c)  # merges with b on the left and d on the right
    s = pool.heap_stats()
    assert (s.free_bytes, s.largest_free_block, s.fragmentation) == (3072, 3072, 0.0)
    e = pool.allocate((768,), np.float32)
    assert addr(e) == addr(b)  # first fit: the lowest free address
    pool.free(a)
    pool.free(e)
    s = pool.heap_stats()
    assert (s.used_bytes, s.largest_free_block, s.allocation_count) == (0, 4096, 0)


def test_sizes_round_up_to_64_bytes():
    pool = plain(4 * KiB)
    pool.allocate((1,), np.uint8)
    pool.allocate((0,), np.float32)
    pool.allocate((65,), np.uint8)
    assert pool.heap_stats().used_bytes == 64 + 64 + 128
    assert pool.debug_info().active_bytes == 1 + 0 + 65


def test_reuse_bins_hand_back_the_same_block_and_flush_when_needed():
    configure_memory_optimizer(MemoryOptimizerConfig(enable_tensor_reuse=True))
    pool = MemoryPool(MemoryConfig(initial_pool_size=4 * KiB, max_pool_size=4 * KiB))
    a, b, c, d = (pool.allocate((256,), np.float32) for _ in range(4))
    pool.free(c)
    assert pool.heap_stats().cached_bytes == 1024
    again = pool.allocate((16, 16), np.float32)  # same block size, other shape
    assert addr(again) == addr(c)
    for x in (a, b, again, d):
        pool.free(x)
    s = pool.heap_stats()
    # Binned blocks that touch count as one free run.
    assert (s.cached_bytes, s.largest_free_block, s.fragmentation) == (4096, 4096, 0.0)
    big = pool.allocate((1024,), np.float32)  # needs the bins merged back into the free list
    assert addr(big) == addr(a)
    assert pool.heap_stats().cached_bytes == 0


def test_without_reuse_the_optimizer_is_ignored():
    configure_memory_optimizer(MemoryOptimizerConfig(enable_tensor_reuse=True))
    pool = plain(4 * KiB)
    pool.free(pool.allocate((256,), np.float32))
    assert pool.heap_stats().cached_bytes == 0


def test_growth_by_segments_up_to_the_budget_and_usage_in_the_error():
    pool = MemoryPool(
        MemoryConfig(initial_pool_size=64 * KiB, max_pool_size=256 * KiB, track_allocations=True)
    )
    first = pool.allocate((100 * KiB,), np.uint8)  # bigger than the first segment
    s = pool.heap_stats()
    assert s.segments == 2 and 64 * KiB + 100 * KiB <= s.pool_bytes <= 256 * KiB
    keep = [pool.allocate((20 * KiB,), np.uint8) for _ in range(3)]
    with pytest.raises(HyperionMemoryError) as info:
        pool.allocate((200 * KiB,), np.uint8)
    err = info.value
    assert err.details["max_pool_bytes"] == 256 * KiB
    assert err.details["used_bytes"] == 100 * KiB + 60 * KiB
    assert "max_pool_size 262144" in err.message and "uint8[204800]" in err.message
    holders = err.details["holders"]
    # The biggest holder first, named by this file and line.
    assert holders[0][1] == 100 * KiB and holders[0][0].startswith(__file__ + ":")
    assert holders[1][1:] == (60 * KiB, 3)
    assert pool.heap_stats().pool_bytes <= 256 * KiB
    del first, keep


def test_budget_caps_nest_lowest_wins_and_uncapping_restores():
    pool = MemoryPool(MemoryConfig(initial_pool_size=64 * KiB, max_pool_size=1024 * KiB))
    outer = pool.cap_budget(512 * KiB)
    inner = pool.cap_budget(128 * KiB)
    assert pool.max_pool_size == 128 * KiB
    with pytest.raises(
        HyperionMemoryError,
        match=r"budget 131072 \(capped by a resource limit; "
        r"max_pool_size 1048576\)",
    ):
        pool.allocate((100 * KiB,), np.uint8)
    pool.uncap_budget(inner)
    assert pool.max_pool_size == 512 * KiB
    a = pool.allocate((100 * KiB,), np.uint8)  # grows within the outer cap
    pool.uncap_budget(outer)
    pool.uncap_budget(outer)  # twice, or an unknown token: ignored
    assert pool.max_pool_size == 1024 * KiB
    assert pool.heap_stats().max_pool_bytes == 1024 * KiB
    # A cap below what the pool holds stops growth only; blocks held stay usable.
    held = pool.reserved_bytes
    tok = pool.cap_budget(0)
    pool.free(a)
    b = pool.allocate((100 * KiB,), np.uint8)  # reuses held space
    with pytest.raises(HyperionMemoryError):
        pool.allocate((held,), np.uint8)
    pool.uncap_budget(tok)
    del b


@pytest.mark.parametrize("bad", [-1, 1.5, "1MB", True, None])
def test_cap_budget_rejects_what_is_not_a_byte_count(bad: object) -> None:
    pool = MemoryPool(MemoryConfig(initial_pool_size=64 * KiB, max_pool_size=1024 * KiB))
    with pytest.raises(InvalidInputError, match=repr(bad).replace("(", r"\(")):
        pool.cap_budget(bad)  # type: ignore[arg-type]


def test_tradeoff_zero_releases_idle_segments_and_one_keeps_them():
    opt = configure_memory_optimizer(MemoryOptimizerConfig(memory_speed_tradeoff=0.0))
    pool = MemoryPool(MemoryConfig(initial_pool_size=64 * KiB, max_pool_size=1024 * KiB))
    big = pool.allocate((128 * KiB,), np.uint8)
    assert pool.heap_stats().segments == 2
    pool.free(big)
    s = pool.heap_stats()
    assert (s.segments, s.pool_bytes, s.cached_bytes) == (1, 64 * KiB, 0)

    opt.set_tradeoff(1.0)
    pool.free(pool.allocate((128 * KiB,), np.uint8))
    assert pool.heap_stats().segments == 2


def test_free_accepts_a_view_at_the_start_ignores_foreign_arrays_and_catches_double_free():
    pool = plain(4 * KiB)
    a = pool.allocate((4, 8), np.float32)
    pool.free(a.reshape(32))  # same first byte: frees the allocation
    assert pool.debug_info().active_allocations == 0
    pool.free(np.ones(3))  # not from this pool: left to the GC, like the numpy allocator
    with pytest.raises(HyperionMemoryError, match="double free"):
        pool.free(a)
    b = pool.allocate((4, 8), np.float32)
    with pytest.raises(HyperionMemoryError, match="not the start"):
        pool.free(b[1:])
    pool.free(b)


@pytest.mark.parametrize(
    ("shape", "dtype", "match"),
    [
        ((-1, 4), np.float32, "negative"),
        ((-1, -4), np.float32, "cannot make an array"),
        ((2,), object, "Python objects"),
        ((2,), "not-a-dtype", "not a numpy dtype"),
        ((2.5,), np.float32, "sequence of ints"),
        ("ab", np.float32, "sequence of ints"),
    ],
)
def test_bad_requests_raise_invalid_input_and_leak_nothing(shape, dtype, match):
    pool = plain(4 * KiB)
    with pytest.raises(InvalidInputError, match=match):
        pool.allocate(shape, dtype)
    assert pool.heap_stats().used_bytes == 0
    assert pool.debug_info().active_allocations == 0


def test_free_of_a_non_array_is_invalid_input():
    pool = plain(4 * KiB)
    with pytest.raises(InvalidInputError, match="numpy array"):
        pool.free([1, 2, 3])  # type: ignore[arg-type]


def test_closed_pool_refuses_allocations_and_keeps_arrays_valid():
    pool = plain(4 * KiB)
    a = pool.allocate((8,), np.float32)
    a[:] = 7
    pool.close()
    with pytest.raises(HyperionMemoryError, match="closed"):
        pool.allocate((8,), np.float32)
    pool.free(a)  # no-op after close
    assert a.sum() == 56


def test_concurrent_allocate_and_free_keep_the_books_balanced():
    pool = MemoryPool(
        MemoryConfig(initial_pool_size=256 * KiB, max_pool_size=4096 * KiB, track_allocations=True)
    )
    errors: list[BaseException] = []

    def work(seed: int) -> None:
        rng = np.random.default_rng(seed)
        live: list[np.ndarray] = []
        try:
            for _ in range(400):
                if live and rng.random() < 0.5:
                    pool.free(live.pop(int(rng.integers(len(live)))))
                else:
                    arr = pool.allocate((int(rng.integers(1, 300)),), np.float32)
                    arr[:] = seed
                    live.append(arr)
            for arr in live:
                assert (arr == seed).all()  # nobody else wrote into our blocks
                pool.free(arr)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    info, stats = pool.debug_info(), pool.heap_stats()
    assert (info.active_allocations, info.active_bytes, stats.used_bytes) == (0, 0, 0)
    assert info.total_allocations > 0 and stats.free_bytes == stats.pool_bytes


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.booleans(), st.integers(0, 40), st.integers(1, 700)), max_size=60))
def test_random_sequences_keep_the_free_list_consistent(ops):
    pool = MemoryPool(
        MemoryConfig(initial_pool_size=8 * KiB, max_pool_size=64 * KiB, enable_optimization=False)
    )
    live: list[np.ndarray] = []
    for is_free, pick, n in ops:
        if is_free and live:
            pool.free(live.pop(pick % len(live)))
        else:
            with contextlib.suppress(HyperionMemoryError):
                live.append(pool.allocate((n,), np.float32))
        stats = pool.heap_stats()
        assert stats.used_bytes + stats.free_bytes == stats.pool_bytes
        assert 0.0 <= stats.fragmentation <= 1.0
        for seg in pool._arena.segments:  # free blocks are sorted, disjoint and never touch
            blocks = [(o, seg.sizes[o]) for o in seg.starts]
            assert sorted(blocks) == blocks and len(blocks) == len(seg.sizes)
            assert all(o1 + s1 < o2 for (o1, s1), (o2, _) in itertools.pairwise(blocks))
    for arr in live:
        pool.free(arr)
    for seg in pool._arena.segments:
        assert seg.starts == [0] and seg.sizes == {0: seg.size}


def test_growth_and_release_are_logged_at_debug(caplog):
    import logging

    from hyperion_otel import semconv

    configure_memory_optimizer(MemoryOptimizerConfig(memory_speed_tradeoff=0.0))
    pool = MemoryPool(MemoryConfig(initial_pool_size=64 * KiB, max_pool_size=1024 * KiB))
    with caplog.at_level(logging.DEBUG, logger="hyperion.memory.pool"):
        pool.free(pool.allocate((128 * KiB,), np.uint8))
    grown, released = (r for r in caplog.records if r.name == "hyperion.memory.pool")
    assert grown.getMessage().startswith("memory pool grown by")
    assert getattr(grown, semconv.HYPERION_MEMORY_POOL_BYTES) == 64 * KiB + getattr(
        grown, semconv.HYPERION_MEMORY_SEGMENT_BYTES
    )
    assert (
        released.getMessage()
        == f"memory pool released by {getattr(grown, semconv.HYPERION_MEMORY_SEGMENT_BYTES)} bytes to {64 * KiB}"
    )
