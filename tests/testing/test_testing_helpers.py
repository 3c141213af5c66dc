"""hyperion_otel.testing: isolation and restoration of providers, capture, the test
runner, fault injection, and the pytest plugin."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from opentelemetry import _logs, metrics, trace
from opentelemetry._logs import SeverityNumber
from opentelemetry.sdk.trace import TracerProvider

from hyperion_otel import HyperionMemoryError, InvalidInputError
from hyperion_otel._seams import allocator as _allocator, telemetry as _telemetry
from hyperion_otel.testing import TestConfig, configure_test_env, create_test_context, io_fault

pytest_plugins = ["pytester"]


def _providers() -> tuple[object, object, object]:
    return trace.get_tracer_provider(), metrics.get_meter_provider(), _logs.get_logger_provider()


def test_context_captures_and_restores(reset_otel_globals) -> None:
    app = TracerProvider()
    trace.set_tracer_provider(app)
    before = _providers()
    with create_test_context() as ctx:
        assert trace.get_tracer_provider() is ctx.tracer_provider
        with _telemetry.tracer().start_as_current_span("outer"):
            with _telemetry.tracer().start_as_current_span("inner"):
                _telemetry.logger().emit(body="inside", severity_number=SeverityNumber.WARN)
            _telemetry.counter("hyperion.test.c").add(2, {"kind": "a"})
            _telemetry.counter("hyperion.test.c").add(5, {"kind": "b"})
        assert [s.name for s in ctx.spans] == ["inner", "outer"]
        assert ctx.children_of(ctx.span("outer")) == [ctx.span("inner")]
        assert ctx.logs[0].log_record.body == "inside"
        assert ctx.logs[0].log_record.span_id == ctx.span("inner").context.span_id
        assert ctx.metric_total("hyperion.test.c") == 7
        assert ctx.metric_total("hyperion.test.c", kind="b") == 5
        with pytest.raises(AssertionError, match="expected one span 'missing'"):
            ctx.span("missing")
    assert _providers() == before
    assert trace.get_tracer_provider() is app


def test_nested_contexts_isolate(reset_otel_globals) -> None:
    with create_test_context() as outer:
        with create_test_context() as inner, _telemetry.tracer().start_as_current_span("in-inner"):
            pass
        with _telemetry.tracer().start_as_current_span("in-outer"):
            pass
    assert [s.name for s in inner.spans] == ["in-inner"]
    assert [s.name for s in outer.spans] == ["in-outer"]


def test_add_test_and_run_report_results() -> None:
    ctx = create_test_context()

    def ok() -> None:
        with _telemetry.tracer().start_as_current_span("work"):
            pass

    def broken() -> None:
        raise RuntimeError("boom")

    ctx.add_test("ok", ok)
    ctx.add_test("broken", broken)
    results = ctx.run()
    assert [(r.name, r.passed) for r in results] == [("ok", True), ("broken", False)]
    assert isinstance(results[1].error, RuntimeError) and "boom" in results[1].traceback
    assert {s.name for s in ctx.spans} == {"test ok", "test broken", "work"}
    with pytest.raises(InvalidInputError, match="expected a callable"):
        ctx.add_test("bad", 42)  # type: ignore[arg-type]


def test_mock_memory_budget_and_failure_injection() -> None:
    previous = _allocator.get_allocator()
    with configure_test_env(TestConfig(mock_memory=True, memory_budget_bytes=4096)) as env:
        alloc = _allocator.get_allocator()
        a = alloc.allocate((512,), np.float32)  # 2 KiB
        with pytest.raises(HyperionMemoryError, match="budget of 4096 bytes exceeded"):
            alloc.allocate((1024,), np.float32)
        alloc.free(a)
        alloc.allocate((1024,), np.float32)  # fits again once freed
        assert env.allocator is not None and env.allocator.failures == 1
    assert _allocator.get_allocator() is previous
    with configure_test_env(TestConfig(mock_memory=True, fail_allocation_after=2)):
        alloc = _allocator.get_allocator()
        alloc.allocate(1)
        alloc.allocate(1)
        with pytest.raises(HyperionMemoryError, match="allocation #3 fails by injection"):
            alloc.allocate(1)


def test_io_fault_only_affects_its_directory(tmp_path: Path) -> None:
    faulty, fine = tmp_path / "faulty", tmp_path / "fine"
    faulty.mkdir()
    fine.mkdir()
    with io_fault("disk_full", faulty) as counts:
        fd = os.open(faulty / "f.log", os.O_WRONLY | os.O_CREAT)
        with pytest.raises(OSError, match="No space left"):
            os.write(fd, b"x")
        os.close(fd)
        fd = os.open(fine / "f.log", os.O_WRONLY | os.O_CREAT)
        assert os.write(fd, b"x") == 1
        os.close(fd)
    assert counts["faults"] == 1
    with io_fault("permission_denied", faulty), pytest.raises(PermissionError):
        os.open(faulty / "g.log", os.O_WRONLY | os.O_CREAT)
    fd = os.open(faulty / "g.log", os.O_WRONLY | os.O_CREAT)  # restored
    os.close(fd)


def test_mock_io_fails_exports_of_the_context() -> None:
    with create_test_context() as ctx:
        with (
            configure_test_env(TestConfig(mock_io=True, exporter_fault="failure"), ctx),
            _telemetry.tracer().start_as_current_span("dropped"),
        ):
            pass
        with _telemetry.tracer().start_as_current_span("kept"):
            pass
    assert [s.name for s in ctx.spans] == ["kept"]
    assert ctx.faulted["traces"] == 1
    with pytest.raises(InvalidInputError, match="io_fault_dir"):
        configure_test_env(TestConfig(mock_io=True))


@pytest.mark.parametrize("fault", ["disk_full", "permission_denied"])
def test_mock_io_fails_writes_under_io_fault_dir_only(tmp_path: Path, fault: str) -> None:
    """TestConfig.io_fault_dir and io_fault: writes there fail with that fault, others work."""
    faulty, fine = tmp_path / "faulty", tmp_path / "fine"
    faulty.mkdir()
    fine.mkdir()
    config = TestConfig(mock_io=True, io_fault=fault, io_fault_dir=str(faulty))  # type: ignore[arg-type]
    with configure_test_env(config) as env:
        with pytest.raises(OSError) as info:
            fd = os.open(faulty / "f.log", os.O_WRONLY | os.O_CREAT)
            try:
                os.write(fd, b"x")
            finally:
                os.close(fd)
        assert isinstance(info.value, PermissionError) == (fault == "permission_denied")
        fd = os.open(fine / "f.log", os.O_WRONLY | os.O_CREAT)
        assert os.write(fd, b"x") == 1
        os.close(fd)
        assert env.io_faults["faults"] >= 1
    fd = os.open(faulty / "g.log", os.O_WRONLY | os.O_CREAT)  # undone by close
    os.close(fd)


def test_pytest_plugin_fixture(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        from opentelemetry import trace
        from hyperion_otel._seams import telemetry as _telemetry

        def test_uses_fixture(hyperion_telemetry):
            with _telemetry.tracer().start_as_current_span("from-plugin"):
                pass
            assert [s.name for s in hyperion_telemetry.spans] == ["from-plugin"]
            assert trace.get_tracer_provider() is hyperion_telemetry.tracer_provider

        def test_restored_after():
            assert type(trace.get_tracer_provider()).__name__ == "ProxyTracerProvider"
        """
    )
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_a_registered_test_records_the_errors_of_its_own_calls() -> None:
    """``run()`` is a public call, yet a test's own failing call of hyperion-otel is recorded
    (counted, last error) as when called at the top level; the runner catching it changes
    nothing."""
    import hyperion_otel as h
    from hyperion_otel import semconv

    def bad_level() -> None:
        h.set_log_level("loud")

    with create_test_context() as ctx:
        ctx.add_test("bad level", bad_level)
        [result] = ctx.run()
        assert not result.passed and isinstance(result.error, InvalidInputError)
        assert h.get_last_error() is result.error
        assert ctx.metric_total(semconv.METRIC_ERRORS) == 1
    h.clear_last_error()


def test_the_injectors_check_their_arguments_when_built(tmp_path: Path) -> None:
    from hyperion_otel.testing import allocation_failures

    with pytest.raises(InvalidInputError, match="invalid kind: expected one of 'disk_full'"):
        io_fault("flood", tmp_path)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="invalid budget_bytes: expected an int >= 0"):
        allocation_failures(budget_bytes=-1)
    with pytest.raises(InvalidInputError, match="invalid io_fault_dir"):
        TestConfig(mock_io=True, io_fault_dir="")
    real_open = os.open
    injector = io_fault("read_only", tmp_path)
    with injector, pytest.raises(InvalidInputError, match="entered once at a time"):
        injector.__enter__()
    assert os.open is real_open
