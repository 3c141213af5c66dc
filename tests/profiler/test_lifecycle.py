"""Sessions start and stop cleanly: every hook undone, every buffer bounded, misuse typed."""

from __future__ import annotations

import sys
import threading
import time

import pytest

from hyperion_otel import profiler as prof
from hyperion_otel._seams import ops as _ops
from hyperion_otel.errors import InvalidInputError, PerformanceError
from hyperion_otel.profiler.sampler import SAMPLER_THREAD_NAME
from profiler.conftest import process_state
from profiler.workload import hot_python


@pytest.mark.parametrize("trace_calls", [False, True])
def test_stop_leaves_process_as_found(trace_calls: bool) -> None:
    before = process_state()
    prof.init_profiler(prof.ProfilerConfig(trace_calls=trace_calls, sample_interval_ms=1.0))
    prof.start_profiling()
    during = process_state()
    assert threading.active_count() == before[2] + 1  # the sampler thread
    assert prof.current_profile_id() is not None and during != before
    hot_python(20_000)
    profile = prof.stop_profiling()
    assert process_state() == before
    assert SAMPLER_THREAD_NAME not in {t.name for t in threading.enumerate()}
    assert sys.getprofile() is None
    assert profile.profile_id and profile.duration_s > 0


def test_thread_started_while_tracing_drops_the_hook_itself() -> None:
    go, seen = threading.Event(), []

    def worker() -> None:
        go.wait(5)
        hot_python(10)  # first call after stop: the stale hook removes itself
        seen.append(sys.getprofile())

    prof.init_profiler(prof.ProfilerConfig(trace_calls=True))
    prof.start_profiling()
    t = threading.Thread(target=worker)
    t.start()
    prof.stop_profiling()
    go.set()
    t.join(5)
    assert seen == [None]
    assert threading.getprofile() is None


def test_refuses_to_replace_another_profiler_and_undoes_everything() -> None:
    def other(frame: object, event: str, arg: object) -> None:
        return None

    before = process_state()
    sys.setprofile(other)
    try:
        prof.init_profiler(prof.ProfilerConfig(trace_calls=True))
        with pytest.raises(PerformanceError, match="another profiler"):
            prof.start_profiling()
        assert sys.getprofile() is other
    finally:
        sys.setprofile(None)
    assert process_state() == before


def test_switch_interval_left_alone_when_someone_changed_it() -> None:
    original = sys.getswitchinterval()
    prof.start_profiling()
    assert sys.getswitchinterval() <= 0.001 + 1e-9
    sys.setswitchinterval(0.002)
    try:
        prof.stop_profiling()
        assert sys.getswitchinterval() == pytest.approx(0.002)
    finally:
        sys.setswitchinterval(original)


def test_buffers_are_bounded_and_losses_counted() -> None:
    prof.init_profiler(prof.ProfilerConfig(max_samples=5, max_events=7, sample_interval_ms=0.5))
    prof.start_profiling()
    for _ in range(50):
        with _ops.op("norm"):
            pass
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        hot_python(5_000)
        snapshot = prof.api.current_session_profile()
        if snapshot is not None and snapshot.dropped["samples"] > 0:
            break
    profile = prof.stop_profiling()
    assert len(profile.samples) <= 5 and profile.dropped["samples"] > 0
    assert len(profile.ops) == 7 and profile.dropped["ops"] == 43


def test_misuse_raises_typed_errors() -> None:
    with pytest.raises(PerformanceError, match="not running"):
        prof.stop_profiling()
    with pytest.raises(PerformanceError, match="no profile to save"):
        prof.save_profile("never.json")
    prof.start_profiling()
    try:
        with pytest.raises(PerformanceError, match="already running"):
            prof.start_profiling()
    finally:
        prof.stop_profiling()
    with pytest.raises(InvalidInputError, match="ProfilerConfig"):
        prof.init_profiler({"sample_interval_ms": 1})  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="enable_hotspot_detection expects a bool"):
        prof.enable_hotspot_detection("yes")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("field", "value", "needle"),
    [
        ("sample_interval_ms", 0, "sample_interval_ms"),
        ("sample_interval_ms", float("nan"), "sample_interval_ms"),
        ("sample_interval_ms", "1", "sample_interval_ms"),
        ("max_samples", 0, "max_samples"),
        ("max_events", 1.5, "max_events"),
        ("track_memory", 1, "track_memory"),
    ],
)
def test_config_rejects_bad_values(field: str, value: object, needle: str) -> None:
    with pytest.raises(InvalidInputError, match=needle) as info:
        prof.ProfilerConfig(**{field: value})  # type: ignore[arg-type]
    assert repr(value) in str(info.value)


def test_profiling_context_manager_saves_and_stops(tmp_path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "ctx.json"
    with prof.profiling(output=out) as handle:
        assert prof.current_profile_id() == handle.profile_id
        hot_python(10_000)
    assert not prof.is_profiling()
    assert handle.profile is not None and handle.profile.profile_id == handle.profile_id
    assert out.exists()


def test_settings_entry_point_starts_and_saves_at_undo(tmp_path) -> None:  # type: ignore[no-untyped-def]
    before = process_state()
    assert prof.start_from_settings(False, 1.0, tmp_path / "x.json")() is None
    assert not prof.is_profiling()
    with pytest.raises(InvalidInputError, match="sample_interval_ms"):
        prof.start_from_settings(True, -3.0)
    assert not prof.is_profiling()
    out = tmp_path / "shutdown.speedscope.json"
    undo = prof.start_from_settings(True, 5.0, out, max_samples=1000)
    assert prof.is_profiling()
    hot_python(10_000)
    undo()
    undo()  # idempotent
    assert out.exists() and not prof.is_profiling()
    assert prof.last_profile() is not None
    config = prof.last_profile().config  # type: ignore[union-attr]
    assert (config.sample_interval_ms, config.max_samples, config.max_events) == (5.0, 1000, 1000)
    assert process_state() == before
