"""On a free-threaded build running without the GIL the profiler refuses to start, by name."""

from __future__ import annotations

import sys
import threading

import pytest

import hyperion_otel as hl
from hyperion_otel.profiler._freethreading import gil_enabled


def test_this_interpreter_has_the_gil() -> None:
    assert gil_enabled()


def test_without_the_gil_start_profiling_is_refused_and_nothing_is_left(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    before = (threading.active_count(), sys.getprofile(), sys.getswitchinterval())
    monkeypatch.setattr(sys, "_is_gil_enabled", lambda: False, raising=False)
    hl.init_profiler(hl.ProfilerConfig(sample_interval_ms=1))
    with pytest.raises(hl.ConfigError, match="PYTHON_GIL=1"):
        hl.start_profiling()
    assert (threading.active_count(), sys.getprofile(), sys.getswitchinterval()) == before
    monkeypatch.undo()
    hl.start_profiling()  # with the GIL it starts
    hl.stop_profiling()
