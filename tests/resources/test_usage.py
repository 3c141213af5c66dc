"""get_resource_usage agrees with psutil and threadpoolctl, and handles the first call."""

from __future__ import annotations

import os
import time
from typing import Any

import psutil
import pytest
from threadpoolctl import ThreadpoolController

from hyperion_otel.errors import InvalidInputError
from hyperion_otel.memory import MemoryConfig, init_memory
from hyperion_otel.resources import ResourceLimits, get_resource_usage, set_resource_limits
from hyperion_otel.runtime import GenerationConfig
from hyperion_otel.runtime.model import Model

MiB = 1024 * 1024


def busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    x = 0
    while time.perf_counter() < end:
        x += 1


def test_memory_threads_and_fds_agree_with_psutil(model: Model) -> None:
    proc = psutil.Process()
    usage = get_resource_usage(model)
    mem = proc.memory_info()
    assert usage.rss_mb == pytest.approx(mem.rss / MiB, rel=0.1, abs=8)
    assert usage.virtual_mb == pytest.approx(mem.vms / MiB, rel=0.1, abs=16)
    assert usage.uss_mb is not None and 0 < usage.uss_mb <= usage.rss_mb + 1
    assert abs(usage.threads - proc.num_threads()) <= 1
    assert usage.open_fds is not None and abs(usage.open_fds - proc.num_fds()) <= 2
    t = proc.cpu_times()
    assert usage.cpu_time_s == pytest.approx(t.user + t.system, abs=0.1)


def test_first_call_reports_the_average_since_process_start(model: Model) -> None:
    usage = get_resource_usage(model)
    proc = psutil.Process()
    age = time.time() - proc.create_time()
    assert usage.cpu_interval_s == pytest.approx(age, abs=1.0)
    t = proc.cpu_times()
    assert usage.cpu_percent == pytest.approx(100 * (t.user + t.system) / age, abs=5)
    assert usage.cpu_percent > 0  # never psutil's meaningless first 0.0


def test_cpu_percent_covers_the_time_since_the_previous_call(model: Model) -> None:
    proc = psutil.Process()
    get_resource_usage(model)
    proc.cpu_percent(None)  # psutil's own interval starts now too
    busy(0.5)
    ours = get_resource_usage(model).cpu_percent
    theirs = proc.cpu_percent(None)
    assert ours == pytest.approx(theirs, abs=15)
    assert ours > 10  # a busy loop shows up, however loaded the machine is
    idle = get_resource_usage(model)
    assert idle.cpu_interval_s < 0.5


def test_set_resource_limits_restarts_the_cpu_interval(model: Model) -> None:
    get_resource_usage(model)
    time.sleep(0.2)
    set_resource_limits(model, ResourceLimits(max_threads=1))
    assert get_resource_usage(model).cpu_interval_s < 0.2


def test_models_and_the_process_keep_separate_intervals(model: Model, small_path: Any) -> None:
    from hyperion_otel.runtime import load_model

    other = load_model(str(small_path))
    get_resource_usage(model)
    time.sleep(0.15)
    get_resource_usage(other)
    assert get_resource_usage(model).cpu_interval_s >= 0.15
    assert get_resource_usage(other).cpu_interval_s < 0.15
    assert get_resource_usage(None).limits == ResourceLimits()


def test_blas_threads_in_effect(model: Model) -> None:
    blas = [c.num_threads for c in ThreadpoolController().lib_controllers if c.user_api == "blas"]
    assert get_resource_usage(model).blas_threads == max(blas)
    set_resource_limits(model, ResourceLimits(max_threads=1))
    assert get_resource_usage(model).blas_threads == 1


def test_pool_usage(model: Model) -> None:
    assert get_resource_usage(model).pool_used_bytes == 0
    assert get_resource_usage(model).pool_limit_bytes is None
    pool = init_memory(MemoryConfig(initial_pool_size=MiB, max_pool_size=256 * MiB))
    held = pool.allocate((256, 1024))
    usage = get_resource_usage(model)
    assert usage.pool_used_bytes >= held.nbytes
    assert usage.pool_limit_bytes == 256 * MiB
    model.generate([1, 2, 3], GenerationConfig(temperature=0, max_new_tokens=2))
    pool.free(held)


def test_throttle_time_is_reported(model: Model) -> None:
    set_resource_limits(model, ResourceLimits(max_cpu_percent=5))
    model.generate([1, 2, 3], GenerationConfig(temperature=0, max_new_tokens=20))
    usage = get_resource_usage(model)
    assert usage.throttle_s > 0
    assert usage.limits.max_cpu_percent == 5


def test_rejects_what_is_not_a_model() -> None:
    with pytest.raises(InvalidInputError, match="expects a Model"):
        get_resource_usage("model")  # type: ignore[arg-type]


def test_usage_is_fork_safe(model: Model) -> None:
    get_resource_usage(model)
    pid = os.fork()
    if pid == 0:  # child: figures are its own, not the parent's cached process
        try:
            ok = (
                get_resource_usage(model).cpu_interval_s < 5
                and get_resource_usage(None).threads >= 1
            )
            os._exit(0 if ok else 1)
        except BaseException:
            os._exit(2)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
