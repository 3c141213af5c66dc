"""BLAS threads by the size of each product, within the pool, restored after each unit."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from threadpoolctl import ThreadpoolController, threadpool_limits

from hyperion_otel import semconv
from hyperion_otel._seams import blas as _blas_threads, ops as _ops
from hyperion_otel.runtime import GenerationConfig, load_model
from hyperion_otel.runtime.model import Model


class MatmulThreads:
    """Op listener: (estimated one-thread µs, BLAS pool size) at every matmul the runtime marks."""

    def __init__(self) -> None:
        self.libs = [c for c in ThreadpoolController().lib_controllers if c.user_api == "blas"]
        self.seen: list[tuple[int, int]] = []

    def on_op_start(self, name: str, attrs: Mapping[str, Any]) -> object:
        if name == semconv.OP_MATMUL:
            rows, k, n = attrs["shape"]
            us = _blas_threads.estimate_us(rows * k * n, k * n)  # x [rows, k] @ w[n, k].T
            self.seen.append((us, max(lib.num_threads for lib in self.libs)))
        return None

    def on_op_end(self, token: object) -> None:
        return None


@pytest.fixture
def watch() -> Iterator[MatmulThreads]:
    w = MatmulThreads()
    assert w.libs, "numpy is linked against a BLAS threadpoolctl knows"
    _ops.add_listener(w)
    try:
        with threadpool_limits(limits=2, user_api="blas"):
            yield w
    finally:
        _ops.remove_listener(w)


@pytest.fixture(scope="module")
def tiny() -> Model:
    return load_model("builtin:tiny")


def _pool(w: MatmulThreads) -> int:
    return int(max(lib.num_threads for lib in w.libs))


def test_small_products_run_on_one_thread_and_the_pool_comes_back(
    tiny: Model, watch: MatmulThreads
) -> None:
    tiny.generate(list(range(32)), GenerationConfig(temperature=0, max_new_tokens=6))
    small = [n for us, n in watch.seen if us < _blas_threads.MIN_PARALLEL_US]
    large = [n for us, n in watch.seen if us >= _blas_threads.MIN_PARALLEL_US]
    assert small and set(small) == {1}  # every decode GEMV of builtin:tiny
    assert large and max(large) <= 2  # the prefill GEMMs: free cores, within the pool
    assert _pool(watch) == 2  # the caller's pool size between and after units


# (rows, in, out) of x [rows, in] @ w[out, in].T, and whether a second thread pays.
NAMED_PRODUCTS = {
    "16 rows over 37k weights (compute bound, ~26 µs)": ((16, 192, 192), False),
    "builtin:tiny decode mlp_up (197k weights, in cache: ~12 µs)": ((1, 192, 1024), False),
    "builtin:tiny decode mlp_down": ((1, 512, 192), False),
    "builtin:tiny decode lm_head": ((1, 192, 257), False),
    "builtin:tiny prefill qkv, 16 tokens (~50 µs)": ((16, 192, 384), True),
    "builtin:tiny prefill mlp_down, 16 tokens": ((16, 512, 192), True),
    "GPT-2-small decode attn_out (memory bound, 2.4 MB)": ((1, 768, 768), True),
    "GPT-2-small decode qkv": ((1, 768, 2304), True),
    "GPT-2-small decode lm_head": ((1, 768, 50257), True),
    "GPT-2-small prefill mlp_up, 16 tokens": ((16, 768, 3072), True),
}


@pytest.mark.parametrize("name", NAMED_PRODUCTS)
def test_threads_follow_the_cost_of_the_product_not_its_multiply_adds(
    name: str, watch: MatmulThreads
) -> None:
    (rows, k, n), parallel = NAMED_PRODUCTS[name]
    assert (
        _blas_threads.estimate_us(rows * k * n, k * n) >= _blas_threads.MIN_PARALLEL_US
    ) == parallel
    with _blas_threads.BlasUnit():
        _blas_threads.use(rows * k * n, k * n)
        chosen = _blas_threads.current_threads()
        assert chosen == _blas_threads.threads_for(rows * k * n, k * n)
        free = _blas_threads.threads_for(1 << 40)  # what any long product gets now
    assert chosen == (free if parallel else 1), (name, chosen, free)
    assert _pool(watch) == 2


def test_equal_multiply_adds_differ_by_what_they_stream() -> None:
    # 16 rows of 37k weights and one row of 590k weights: both 0.59 M multiply-adds.
    gemm = _blas_threads.estimate_us(16 * 192 * 192, 192 * 192)
    gemv = _blas_threads.estimate_us(768 * 768, 768 * 768)
    assert gemm < _blas_threads.MIN_PARALLEL_US <= gemv


def test_the_pool_size_at_entry_caps_every_product(tiny: Model, watch: MatmulThreads) -> None:
    with threadpool_limits(limits=1, user_api="blas"):  # as OPENBLAS_NUM_THREADS=1 would
        tiny.forward(list(range(64)))
        assert {n for _, n in watch.seen} == {1}
        assert _pool(watch) == 1


def test_a_failing_unit_restores_the_pool(tiny: Model, watch: MatmulThreads) -> None:
    with pytest.raises(ZeroDivisionError), tiny.work():
        _blas_threads.use(10)
        assert _pool(watch) == 1
        raise ZeroDivisionError
    assert _pool(watch) == 2


def test_units_nest_and_only_the_outermost_restores(watch: MatmulThreads) -> None:
    with _blas_threads.BlasUnit():
        _blas_threads.use(10)
        with _blas_threads.BlasUnit():
            _blas_threads.use(10)
        assert _pool(watch) == 1  # still inside the outer unit
    assert _pool(watch) == 2
    _blas_threads.use(10)  # outside any unit: nothing to change
    assert _pool(watch) == 2


# Stops by itself after 30 s, or when the test process is gone.
BOUNDED_BUSY_LOOP = (
    "import os, time\n"
    "parent, end = os.getppid(), time.monotonic() + 30\n"
    "while os.getppid() == parent and time.monotonic() < end:\n"
    "    pass\n"
)


def test_cores_busy_with_other_processes_are_not_counted_free() -> None:
    cores = _blas_threads.available_cores()
    procs = [subprocess.Popen([sys.executable, "-c", BOUNDED_BUSY_LOOP]) for _ in range(int(cores))]
    try:
        time.sleep(0.3)
        _blas_threads.free_cores()  # starts a window
        time.sleep(2 * _blas_threads.WINDOW_S)
        free = _blas_threads.free_cores()  # over a window with every core busy elsewhere
    finally:
        for p in procs:
            p.kill()
        for p in procs:
            p.wait()
    assert free < cores - 0.5, (free, cores)
