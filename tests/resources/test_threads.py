"""max_threads: the BLAS pool runs capped while the model works and is restored afterwards."""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import pytest
from threadpoolctl import ThreadpoolController, threadpool_limits

from hyperion_otel import semconv
from hyperion_otel._seams import blas as _blas_threads, ops as _ops
from hyperion_otel.errors import InvalidInputError
from hyperion_otel.resources import ResourceLimits, apply_resource_settings, set_resource_limits
from hyperion_otel.resources._scoped import ScopedCap
from hyperion_otel.runtime import GenerationConfig
from hyperion_otel.runtime.model import Model


class BlasWatcher:
    """Op listener recording the BLAS pool size at every matmul the runtime marks."""

    def __init__(self) -> None:
        self.libs = [c for c in ThreadpoolController().lib_controllers if c.user_api == "blas"]
        self.seen: list[int] = []

    def on_op_start(self, name: str, attrs: Mapping[str, Any]) -> object:
        if name == semconv.OP_MATMUL:
            self.seen.append(max(lib.num_threads for lib in self.libs))
        return None

    def on_op_end(self, token: object) -> None:
        return None


@pytest.fixture
def watcher() -> Iterator[BlasWatcher]:
    w = BlasWatcher()
    assert w.libs, "numpy is linked against a BLAS threadpoolctl knows"
    _ops.add_listener(w)
    # Two threads before, whatever the machine, so that a cap of one is visible.
    with threadpool_limits(limits=2, user_api="blas"):
        yield w
    _ops.remove_listener(w)


def pool_size(w: BlasWatcher) -> int:
    return int(max(lib.num_threads for lib in w.libs))


GREEDY = GenerationConfig(temperature=0, max_new_tokens=8)


def test_one_thread_during_generation_and_restored_after(
    model: Model, watcher: BlasWatcher
) -> None:
    before = pool_size(watcher)
    model.generate([1, 2, 3], GREEDY)
    # No limit: threads by the size of each product, never more than the pool had.
    assert watcher.seen and max(watcher.seen) <= before
    assert pool_size(watcher) == before
    watcher.seen.clear()

    set_resource_limits(model, ResourceLimits(max_threads=1))
    out = model.generate([1, 2, 3], GREEDY)
    assert len(out.token_ids) == 8
    assert watcher.seen and set(watcher.seen) == {1}
    assert pool_size(watcher) == before

    watcher.seen.clear()
    model.forward([1, 2, 3])
    assert watcher.seen and set(watcher.seen) == {1}
    assert pool_size(watcher) == before


def test_stream_restores_between_tokens(model: Model, watcher: BlasWatcher) -> None:
    before = pool_size(watcher)
    set_resource_limits(model, ResourceLimits(max_threads=1))
    with model.stream([1, 2, 3], GREEDY) as stream:
        for _ in stream:
            assert pool_size(watcher) == before  # the caller's code between tokens is not capped
    assert set(watcher.seen) == {1}


def test_a_failing_unit_of_work_still_restores(model: Model, watcher: BlasWatcher) -> None:
    before = pool_size(watcher)
    set_resource_limits(model, ResourceLimits(max_threads=1))
    with pytest.raises(InvalidInputError):
        model.generate([1, 10_000], GREEDY)  # token id outside the vocabulary
    assert pool_size(watcher) == before


def test_cap_never_raises_a_smaller_pool(model: Model, watcher: BlasWatcher) -> None:
    with threadpool_limits(limits=1, user_api="blas"):
        set_resource_limits(model, ResourceLimits(max_threads=2))
        model.generate([1, 2], GREEDY)
        assert set(watcher.seen) == {1}


def test_process_default_applies_to_models_without_own_limits(
    model: Model, watcher: BlasWatcher
) -> None:
    undo = apply_resource_settings(max_threads=1, process_metrics=False)
    try:
        model.generate([1, 2], GREEDY)
        assert set(watcher.seen) == {1}
    finally:
        undo()
    watcher.seen.clear()
    with threadpool_limits(limits=2, user_api="blas"):  # the cap is gone: 2 threads again
        saw = _blas_threads.free_cores
        _blas_threads.free_cores = lambda: 2.0  # type: ignore[assignment] - as on an idle machine
        try:
            model.forward(list(range(40)) * 5)  # 200 rows: MLP GEMMs of ~140 µs, on 2
        finally:
            _blas_threads.free_cores = saw  # type: ignore[assignment]
    assert 2 in watcher.seen


def test_concurrent_limited_models_stay_capped_and_restore(
    small_path: Any, watcher: BlasWatcher
) -> None:
    from hyperion_otel.runtime import load_model

    before = pool_size(watcher)
    a, b = load_model(str(small_path)), load_model(str(small_path))
    set_resource_limits(a, ResourceLimits(max_threads=1))
    set_resource_limits(b, ResourceLimits(max_threads=2))
    errors: list[BaseException] = []

    def run(m: Model) -> None:
        try:
            for _ in range(5):
                m.generate([1, 2, 3], GREEDY)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(m,)) for m in (a, b)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert set(watcher.seen) <= {1, 2}
    assert pool_size(watcher) == before


def is_active(cap: ScopedCap[int]) -> bool:
    return cap.active


def test_scoped_cap_smallest_wins_and_last_release_restores() -> None:
    value = [8]
    cap: ScopedCap[int] = ScopedCap(
        capture=lambda: value[0],
        apply=lambda saved, c: value.__setitem__(0, min(saved, c)),
        restore=lambda saved: value.__setitem__(0, saved),
    )
    cap.acquire(4)
    assert value == [4]
    cap.acquire(2)
    assert value == [2]
    cap.acquire(4)
    cap.release(2)
    assert value == [4]
    cap.release(4)
    assert value == [4] and is_active(cap)
    cap.release(4)
    assert value == [8] and not is_active(cap)
    cap.release(4)  # unmatched release: ignored
    assert value == [8]


def test_matmul_results_do_not_depend_on_the_cap(model: Model) -> None:
    free = model.forward([1, 2, 3, 4])
    set_resource_limits(model, ResourceLimits(max_threads=1))
    np.testing.assert_allclose(model.forward([1, 2, 3, 4]), free, rtol=1e-5, atol=1e-6)
