"""ProfilerConfig fields that no test held to their effect: each is set and read back
from the profile (or the process) it produced, against the default."""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable

import pytest

from hyperion_otel import profiler as prof
from hyperion_otel.memory import MemoryConfig, init_memory, shutdown_memory
from hyperion_otel.profiler import ProfilerConfig
from hyperion_otel.profiler.session import Profile
from profiler.workload import hot_python


def _profile(cfg: ProfilerConfig, work: Callable[[], None]) -> Profile:
    prof.init_profiler(cfg)
    prof.start_profiling()
    try:
        work()
    finally:
        profile = prof.stop_profiling()
    return profile


def _busy(seconds: float) -> None:
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        hot_python(2_000)


def _deep(n: int) -> None:
    if n == 0:
        _busy(0.2)
    else:
        _deep(n - 1)


@pytest.mark.parametrize("depth", [5, None])
def test_max_stack_depth(depth: int | None) -> None:
    cfg = ProfilerConfig(max_stack_depth=depth) if depth else ProfilerConfig()
    profile = _profile(cfg, lambda: _deep(40))
    longest = max(len(profile.stacks[s.stack]) for s in profile.samples)
    assert longest <= 5 if depth else longest > 40


@pytest.mark.parametrize("all_threads", [True, False])
def test_all_threads(all_threads: bool) -> None:
    other: list[int] = []

    def background() -> None:
        other.append(threading.get_ident())
        _busy(0.3)

    def work() -> None:
        t = threading.Thread(target=background, name="plain-worker")
        t.start()
        t.join()

    profile = _profile(ProfilerConfig(all_threads=all_threads), work)
    from_worker = [s for s in profile.samples if s.thread == other[0]]
    assert bool(from_worker) == all_threads


@pytest.mark.parametrize("adjust", [True, False])
def test_adjust_switch_interval(adjust: bool) -> None:
    before = sys.getswitchinterval()
    seen: list[float] = []
    _profile(
        ProfilerConfig(sample_interval_ms=1.0, adjust_switch_interval=adjust),
        lambda: seen.append(sys.getswitchinterval()),
    )
    assert (seen[0] == pytest.approx(0.001)) == adjust
    if not adjust:
        assert seen[0] == before
    assert sys.getswitchinterval() == before  # restored either way


@pytest.mark.parametrize("limit", [3, None])
def test_max_counter_points(limit: int | None) -> None:
    pool = init_memory(MemoryConfig())
    try:
        kwargs = {"counter_interval_ms": 1.0, "track_memory": True}
        cfg = (
            ProfilerConfig(max_counter_points=limit, **kwargs)
            if limit
            else ProfilerConfig(**kwargs)
        )

        def work() -> None:
            for _ in range(20):
                pool.free(pool.allocate((256,)))
                _busy(0.01)

        profile = _profile(cfg, work)
    finally:
        shutdown_memory()
    assert len(profile.counters) <= 3 if limit else len(profile.counters) > 3
