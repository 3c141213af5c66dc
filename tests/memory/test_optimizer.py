"""The memory optimizer: the policy the pool and the runtime read."""

from __future__ import annotations

import numpy as np
import pytest

from hyperion_otel._seams.allocator import MemoryPolicy, memory_policy
from hyperion_otel.errors import InvalidInputError
from hyperion_otel.memory import (
    MemoryConfig,
    MemoryOptimizer,
    MemoryOptimizerConfig,
    configure_memory_optimizer,
    get_memory_optimizer,
    init_memory,
    set_memory_speed_tradeoff,
)
from hyperion_otel.memory.optimizer import reset_memory_optimizer


def test_default_optimizer_and_configure_replaces_it():
    default = get_memory_optimizer()
    assert (default.reuse_enabled, default.in_place_enabled, default.tradeoff) == (True, True, 0.5)
    assert get_memory_optimizer() is default
    opt = configure_memory_optimizer(MemoryOptimizerConfig(False, False, 0.8))
    assert get_memory_optimizer() is opt and opt is not default
    assert (opt.reuse_enabled, opt.in_place_enabled, opt.tradeoff) == (False, False, 0.8)
    assert opt.config == MemoryOptimizerConfig(False, False, 0.8)


@pytest.mark.parametrize(
    ("value", "prealloc"), [(0.0, False), (0.5, False), (0.74, False), (0.75, True), (1, True)]
)
def test_tradeoff_meaning(value, prealloc):
    """What the runtime does with each value is checked in tests/runtime/test_memory_policy.py."""
    opt = configure_memory_optimizer()
    set_memory_speed_tradeoff(opt, value)
    assert (opt.tradeoff, opt.preallocate) == (float(value), prealloc)
    assert opt.policy == MemoryPolicy(True, prealloc, prealloc)
    assert memory_policy() == opt.policy  # what the runtime reads, through the seam
    assert opt.retained_bytes(100, 300) == 100 + int(value * 200)
    reset_memory_optimizer()
    assert memory_policy() == MemoryPolicy()  # undone


def test_bad_tradeoff_is_a_config_error_at_the_callers_line():
    opt = MemoryOptimizer()
    with pytest.raises(InvalidInputError, match=r"in \[0, 1\], got -0.1") as info:
        set_memory_speed_tradeoff(opt, -0.1)
    assert info.value.file == __file__
    with pytest.raises(InvalidInputError):
        set_memory_speed_tradeoff(opt, True)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="MemoryOptimizer"):
        set_memory_speed_tradeoff("opt", 0.5)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="MemoryOptimizerConfig"):
        configure_memory_optimizer(MemoryConfig())  # type: ignore[arg-type]
    assert opt.tradeoff == 0.5


def test_pool_follows_the_current_optimizer_from_its_next_free():
    pool = init_memory(MemoryConfig(initial_pool_size=4096, max_pool_size=4096))
    configure_memory_optimizer(MemoryOptimizerConfig(enable_tensor_reuse=True))
    a, b = pool.allocate(256), pool.allocate(256)
    pool.free(a)
    assert pool.heap_stats().cached_bytes == 1024
    configure_memory_optimizer(MemoryOptimizerConfig(enable_tensor_reuse=False))
    pool.free(b)  # no reuse any more: cached blocks go back to the free list too
    stats = pool.heap_stats()
    assert (stats.cached_bytes, stats.largest_free_block) == (0, 4096)
    assert pool.allocate((1024,), np.float32).nbytes == 4096
