"""What keeps the sampler cheap must not change what a profile says.

A thread that uses no CPU between two of the sampler thread's samples (it waits, or the
machine is busy) keeps its stack: the sampler reuses it instead of walking the frames,
and backs off meanwhile. Its samples must still say where it waited, for as long as it
waited.
"""

from __future__ import annotations

import threading
import time
import weakref

import numpy as np
import pytest

from hyperion_otel import profiler as prof
from hyperion_otel._seams import ops as _ops
from hyperion_otel.profiler import sampler
from hyperion_otel.profiler.context import SessionTags
from profiler.workload import hot_python


def waiting_here(event: threading.Event, seconds: float) -> None:
    event.wait(seconds)


def _weight_by_thread_and_function(profile: prof.Profile, name: str) -> tuple[int, int]:
    """(weight of the session thread's samples, of those with ``name`` on the stack)."""
    frame = next(i for i, f in enumerate(profile.frames) if f.name.split(".")[-1] == name)
    total = inside = 0
    for s in profile.samples:
        if profile.threads[s.thread].index != 1:
            continue
        total += s.weight_ns
        if frame in profile.stacks[s.stack]:
            inside += s.weight_ns
    return total, inside


@pytest.mark.skipif(sampler._cpu_clock_of is None, reason="no per-thread CPU clock here")
def test_a_waiting_thread_keeps_its_stack_and_its_time() -> None:
    with prof.profiling(prof.ProfilerConfig(sample_interval_ms=1.0)) as handle:
        waiting_here(threading.Event(), 0.4)
    profile = handle.profile
    assert profile is not None
    total, inside = _weight_by_thread_and_function(profile, "waiting_here")
    assert inside >= 0.9 * 0.4e9, (inside, profile.stats)
    assert total <= profile.duration_ns + 1_000_000
    # The frames were walked once or a few times; every other sample reused the stack.
    assert profile.stats["samples_reused"] >= 0.5 * len(profile.samples), profile.stats
    # Reused samples do not hold the sampler thread at full rate: it backs off.
    assert profile.stats["sampler_ticks"] < 0.5 * profile.duration_ns / 1e6, profile.stats


def test_a_thread_that_runs_is_walked_every_time() -> None:
    def burn(seconds: float) -> None:
        deadline = time.perf_counter() + seconds
        while time.perf_counter() < deadline:
            hot_python(5_000)

    with prof.profiling(prof.ProfilerConfig(sample_interval_ms=1.0)) as handle:
        burn(0.3)
    profile = handle.profile
    assert profile is not None
    total, inside = _weight_by_thread_and_function(profile, "burn")
    assert inside >= 0.9 * total > 0
    # CPU moved between any two ticks that found the thread running: no reuse (a tick
    # can land while the machine has it preempted, hence not exactly 0).
    assert profile.stats["samples_reused"] <= 0.2 * len(profile.samples), profile.stats


def sorting_here(data: np.ndarray, seconds: float, keep: object = None) -> None:
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        np.sort(data)  # one C call of ~0.1 s: the same top frame for many ticks


class _Marker:
    pass


def test_a_thread_in_one_long_c_call_keeps_its_stack_without_a_walk() -> None:
    data = np.random.default_rng(0).random(1_500_000)
    marker = _Marker()
    gone = weakref.ref(marker)

    with prof.profiling(prof.ProfilerConfig(sample_interval_ms=1.0)) as handle:
        sorting_here(data, 0.4, marker)  # the held frame has it as a local
        del marker
    profile = handle.profile
    assert profile is not None
    total, inside = _weight_by_thread_and_function(profile, "sorting_here")
    assert inside >= 0.9 * 0.4e9, (inside, profile.stats)
    assert total <= profile.duration_ns + 1_000_000
    # Ticks inside np.sort found the same frame as the tick before: the stack was kept.
    assert profile.stats["samples_same_frame"] >= 0.3 * profile.stats["samples_taken"] > 0
    # The frames held for that check went with the session.
    assert gone() is None


def ops_here(seconds: float) -> None:
    deadline = time.perf_counter() + seconds
    while time.perf_counter() < deadline:
        with _ops.op("matmul"):
            hot_python(300)


def via_a(seconds: float, keep: object = None) -> None:
    ops_here(seconds)


def via_b(seconds: float) -> None:
    ops_here(seconds)


def test_samples_at_op_ends_keep_each_caller_apart_and_hold_no_frame_after() -> None:
    # The thread samples itself at op ends, keeping the stack of the op block's caller
    # between samples: a block reached from two callers in turn must still be charged
    # to each caller, and the caller frames it held must go with the session.
    marker = _Marker()
    gone = weakref.ref(marker)
    with prof.profiling(prof.ProfilerConfig(sample_interval_ms=1.0)) as handle:
        for _ in range(8):
            via_b(0.02)
            via_a(0.02, marker)  # last: its frame is the one held at the end
        del marker
    profile = handle.profile
    assert profile is not None
    assert profile.stats["samples_inline"] > 0.5 * len(profile.samples), profile.stats
    index = {f.name.split(".")[-1]: i for i, f in enumerate(profile.frames)}
    a, b, here = index["via_a"], index["via_b"], index["ops_here"]
    weight = {a: 0, b: 0}
    for sample in profile.samples:
        stack = profile.stacks[sample.stack]
        if here in stack:
            assert (a in stack) != (b in stack), [profile.frames[i].name for i in stack]
            weight[a if a in stack else b] += sample.weight_ns
    assert weight[a] > 0.1e9 and weight[b] > 0.1e9, weight
    assert 0.6 < weight[a] / weight[b] < 1.6, weight
    assert gone() is None


def test_the_clock_of_a_thread_is_noted_by_that_thread_only() -> None:
    tags = SessionTags("id")
    s = sampler.Sampler(
        tags, interval_s=0.001, max_samples=10, max_stack_depth=8, all_threads=False
    )
    seen: list[int | None] = []

    def run() -> None:
        s.note_thread_clock()
        me = threading.get_ident()
        seen.append(s._thread_cpu_ns(me))

    t = threading.Thread(target=run)
    t.start()
    t.join()
    assert t.ident is not None
    if sampler._cpu_clock_of is not None:
        assert isinstance(seen[0], int) and seen[0] > 0
    # A thread that has ended (or is still leaving, after join): no error either way.
    deadline = time.monotonic() + 5
    while s._thread_cpu_ns(t.ident) is not None and time.monotonic() < deadline:
        time.sleep(0.01)
    assert s._thread_cpu_ns(t.ident) is None
    assert s._thread_cpu_ns(threading.get_ident()) is None  # never noted
