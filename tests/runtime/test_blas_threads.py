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
    """Op listener: (rows, BLAS pool size) at every matmul the runtime marks."""

    def __init__(self) -> None:
        self.libs = [c for c in ThreadpoolController().lib_controllers if c.user_api == "blas"]
        self.seen: list[tuple[int, int]] = []

    def on_op_start(self, name: str, attrs: Mapping[str, Any]) -> object:
        if name == semconv.OP_MATMUL:
            rows, k, n = attrs["shape"]
            self.seen.append((rows * k * n, max(lib.num_threads for lib in self.libs)))
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
    small = [n for macs, n in watch.seen if macs < _blas_threads.MIN_PARALLEL_MACS]
    large = [n for macs, n in watch.seen if macs >= _blas_threads.MIN_PARALLEL_MACS]
    assert small and set(small) == {1}  # every decode GEMV of builtin:tiny
    assert large and max(large) <= 2  # the prefill GEMMs: free cores, within the pool
    assert _pool(watch) == 2  # the caller's pool size between and after units


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
