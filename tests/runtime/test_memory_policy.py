"""The memory optimizer changes what the runtime does, measurably, on the real pool:

- tradeoff >= 0.75 keeps a model's workspaces and KV blocks: a second request makes no new
  pool allocation; it also reserves a request's whole KV cache before prefill, so decoding
  allocates nothing;
- tradeoff 0: nothing stays reserved between requests (no live allocation, the pool back to
  its initial size);
- in-place off gives each layer its own activation buffers: more allocations and bytes per
  request, the same tokens.
Each test fails if its knob is ignored. Figures: ``python -m benchmarks --only memory_policy``.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from hyperion_otel.memory import (
    MemoryConfig,
    MemoryOptimizerConfig,
    MemoryPool,
    configure_memory_optimizer,
    init_memory,
    shutdown_memory,
)
from hyperion_otel.memory.optimizer import reset_memory_optimizer
from hyperion_otel.runtime import CacheConfig, GenerationConfig, Model, load_model
from hyperion_otel.runtime.model import configure_cache_optimization

INITIAL = 64 * 1024  # small, so that a request must grow the pool
CFG = GenerationConfig(temperature=0.0, max_new_tokens=20, stop_token_ids=())


@pytest.fixture
def pool() -> Iterator[MemoryPool]:
    p = init_memory(MemoryConfig(initial_pool_size=INITIAL, max_pool_size=256 << 20))
    yield p
    shutdown_memory()
    reset_memory_optimizer()


@pytest.fixture(scope="module")
def model() -> Model:
    return load_model("builtin:tiny")


def _allocations(pool: MemoryPool) -> int:
    return pool.debug_info().total_allocations


def _fresh(model: Model) -> Model:
    # A model of its own per test: what a model keeps lives with the model.
    m = load_model("builtin:tiny")
    configure_cache_optimization(m, CacheConfig(block_size=4))
    return m


@pytest.mark.parametrize("tradeoff", [0.5, 1.0])
def test_a_second_request_allocates_nothing_only_when_buffers_are_kept(
    pool: MemoryPool, model: Model, tradeoff: float
) -> None:
    configure_memory_optimizer(MemoryOptimizerConfig(memory_speed_tradeoff=tradeoff))
    m = _fresh(model)
    n0 = _allocations(pool)
    first = m.generate("hello", CFG)
    n1 = _allocations(pool)
    second = m.generate("hello", CFG)
    n2 = _allocations(pool)
    assert second.token_ids == first.token_ids  # kept buffers change no result
    assert n1 - n0 > 0
    if tradeoff >= 0.75:
        assert n2 - n1 == 0, (n1 - n0, n2 - n1)
        assert pool.heap_stats().used_bytes > 0  # held for the next request
    else:
        assert n2 - n1 == n1 - n0  # everything allocated again
        assert pool.heap_stats().used_bytes == 0


@pytest.mark.parametrize("tradeoff", [0.0, 1.0])
def test_tradeoff_0_leaves_nothing_reserved_between_requests(
    pool: MemoryPool, model: Model, tradeoff: float
) -> None:
    configure_memory_optimizer(MemoryOptimizerConfig(memory_speed_tradeoff=tradeoff))
    m = _fresh(model)
    m.generate("hello there", CFG)
    stats = pool.heap_stats()
    if tradeoff == 0.0:
        assert stats.used_bytes == 0 and stats.pool_bytes == INITIAL, stats
    else:
        assert stats.used_bytes > 0 and stats.pool_bytes > INITIAL, stats


@pytest.mark.parametrize("tradeoff", [0.5, 1.0])
def test_reserve_up_front_means_decode_allocates_nothing(
    pool: MemoryPool, model: Model, tradeoff: float
) -> None:
    configure_memory_optimizer(MemoryOptimizerConfig(memory_speed_tradeoff=tradeoff))
    m = _fresh(model)
    stream = m.stream("hi", CFG)
    next(stream)  # prefill done, first token out
    after_prefill = _allocations(pool)
    rest = list(stream)
    assert len(rest) >= 8  # enough decode steps to need several 4-token KV blocks
    during_decode = _allocations(pool) - after_prefill
    if tradeoff >= 0.75:
        assert during_decode == 0
    else:
        assert during_decode >= 2  # KV blocks as the sequence grows (after the decode workspace)


def test_in_place_off_gives_every_layer_its_own_buffers(pool: MemoryPool, model: Model) -> None:
    counts = {}
    tokens = {}
    for in_place in (True, False):
        configure_memory_optimizer(MemoryOptimizerConfig(enable_in_place_ops=in_place))
        m = _fresh(model)
        n0, b0 = _allocations(pool), pool.debug_info().total_bytes
        tokens[in_place] = m.generate("hello", CFG).token_ids
        counts[in_place] = (_allocations(pool) - n0, pool.debug_info().total_bytes - b0)
    layers = model.config.n_layers
    # Two workspaces per request (prefill, decode): 4 buffers per layer instead of 4 shared.
    assert counts[False][0] - counts[True][0] == 2 * 4 * (layers - 1), counts
    assert counts[False][1] > counts[True][1]
    assert tokens[True] == tokens[False]
