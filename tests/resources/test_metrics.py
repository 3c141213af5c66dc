"""Process metrics and the limit/throttle metrics, with semconv names and units: in memory,
and through the SDK over OTLP gRPC to the real test receiver."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psutil
import pytest

from hyperion_otel import sdk, semconv
from hyperion_otel.resources import (
    ResourceLimits,
    apply_resource_settings,
    enable_process_metrics,
    set_resource_limits,
)
from hyperion_otel.runtime import GenerationConfig
from hyperion_otel.runtime.model import Model
from hyperion_otel.settings import Settings
from hyperion_otel.testing import TestContext, create_test_context

PROCESS = {
    semconv.METRIC_PROCESS_CPU_TIME: ("s", "sum", True),
    semconv.METRIC_PROCESS_CPU_UTILIZATION: ("1", "gauge", None),
    semconv.METRIC_PROCESS_MEMORY_USAGE: ("By", "sum", False),
    semconv.METRIC_PROCESS_MEMORY_VIRTUAL: ("By", "sum", False),
    semconv.METRIC_PROCESS_THREAD_COUNT: ("{thread}", "sum", False),
    semconv.METRIC_PROCESS_FD_COUNT: ("{file_descriptor}", "sum", False),
}


@pytest.fixture
def ctx(reset_otel_globals: Callable[[], None]) -> Iterator[TestContext]:
    with create_test_context() as c:
        yield c


@pytest.fixture
def process_metrics() -> Iterator[None]:
    undo = enable_process_metrics()
    yield
    undo()


def by_mode(points: list[Any]) -> dict[str, float]:
    return {p.attributes[semconv.CPU_MODE]: p.value for p in points}


@pytest.mark.usefixtures("process_metrics")
def test_process_metrics_in_memory(ctx: TestContext) -> None:
    got = ctx.metrics
    for name in PROCESS:
        assert got.get(name), f"{name} not collected; got {sorted(got)}"
    proc = psutil.Process()
    t = proc.cpu_times()
    cpu = by_mode(got[semconv.METRIC_PROCESS_CPU_TIME])
    assert set(cpu) == {"user", "system"}
    assert cpu["user"] == pytest.approx(t.user, abs=0.5)
    util = by_mode(got[semconv.METRIC_PROCESS_CPU_UTILIZATION])
    assert set(util) == {"user", "system"}
    assert all(0 <= v <= 1.05 for v in util.values())
    (rss,) = got[semconv.METRIC_PROCESS_MEMORY_USAGE]
    assert rss.value == pytest.approx(proc.memory_info().rss, rel=0.2)
    (threads,) = got[semconv.METRIC_PROCESS_THREAD_COUNT]
    assert threads.value >= 1
    (fds,) = got[semconv.METRIC_PROCESS_FD_COUNT]
    assert fds.value == pytest.approx(proc.num_fds(), abs=3)


def test_undo_stops_the_process_metrics(ctx: TestContext) -> None:
    undo = enable_process_metrics()
    assert ctx.metrics.get(semconv.METRIC_PROCESS_MEMORY_USAGE)
    undo()
    assert not ctx.metrics.get(semconv.METRIC_PROCESS_MEMORY_USAGE)


def test_limit_gauge_and_throttle_counter(ctx: TestContext, model: Model) -> None:
    set_resource_limits(model, ResourceLimits(max_cpu_percent=5, max_memory_mb=1e6, max_threads=1))
    undo = apply_resource_settings(max_threads=3, process_metrics=False)
    try:
        model.generate([1, 2, 3], GenerationConfig(temperature=0, max_new_tokens=10))
        limits = {
            (
                p.attributes.get(semconv.GEN_AI_REQUEST_MODEL),
                p.attributes[semconv.HYPERION_RESOURCE_KIND],
            ): p.value
            for p in ctx.metrics[semconv.METRIC_RESOURCE_LIMIT]
        }
        assert limits[(model.name, "cpu_percent")] == 5
        assert limits[(model.name, "memory_mb")] == 1e6
        assert limits[(model.name, "threads")] == 1
        assert limits[(None, "threads")] == 3  # the process default carries no model
        throttle = ctx.metric_points(
            semconv.METRIC_RESOURCE_THROTTLE_TIME, **{semconv.GEN_AI_REQUEST_MODEL: model.name}
        )
        assert throttle and throttle[0].value > 0
    finally:
        undo()


def test_process_metrics_reach_the_receiver_with_semconv_names_and_units(
    otlp_receiver: Any, reset_otel_globals: Callable[[], None], tmp_path: Path, model: Model
) -> None:
    sdk.configure(
        Settings(
            otlp_endpoint=otlp_receiver.grpc_endpoint,
            metric_export_interval_ms=200,
            output_dir=str(tmp_path),
        )
    )
    undo = enable_process_metrics()
    try:
        set_resource_limits(model, ResourceLimits(max_cpu_percent=5))
        model.generate([1, 2, 3], GenerationConfig(temperature=0, max_new_tokens=5))
        for name, (unit, kind, monotonic) in PROCESS.items():
            m = otlp_receiver.wait_for_metric(name, timeout=10)
            assert (m.unit, m.type) == (unit, kind), name
            if kind == "sum":
                assert m.is_monotonic is monotonic and m.temporality == "CUMULATIVE", name
            assert m.scope_name == semconv.SCOPE_NAME
            assert m.points and all(p.value >= 0 for p in m.points), name
        cpu = otlp_receiver.wait_for_metric(semconv.METRIC_PROCESS_CPU_TIME)
        assert {p.attributes[semconv.CPU_MODE] for p in cpu.points} == {"user", "system"}
        util = otlp_receiver.wait_for_metric(semconv.METRIC_PROCESS_CPU_UTILIZATION)
        assert {p.attributes[semconv.CPU_MODE] for p in util.points} == {"user", "system"}
        limit = otlp_receiver.wait_for_metric(semconv.METRIC_RESOURCE_LIMIT)
        assert (limit.unit, limit.type) == ("{limit}", "gauge")
        throttle = otlp_receiver.wait_for_metric(
            semconv.METRIC_RESOURCE_THROTTLE_TIME,
            where=lambda m: any(p.value > 0 for p in m.points),
        )
        assert (throttle.unit, throttle.type, throttle.is_monotonic) == ("s", "sum", True)
    finally:
        undo()
        sdk.shutdown()
