"""Error callbacks: several, removable, able to suppress the log record, never harmful."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.trace import StatusCode

from hyperion_otel import semconv
from hyperion_otel._seams import telemetry as _telemetry
from hyperion_otel.errors import (
    MAX_ERROR_CALLBACKS,
    ErrorType,
    HyperionError,
    InvalidInputError,
    ModelError,
    ResourceLimitError,
    error_boundary,
    get_last_error,
    record_error,
    remove_error_callback,
    set_error_callback,
)

from .conftest import Capture


@pytest.fixture
def registered() -> Iterator[list[Any]]:
    """Callbacks appended here are registered by the test and removed afterwards."""
    fns: list[Any] = []
    yield fns
    for fn in fns:
        remove_error_callback(fn)


def _register(registered: list[Any], fn: Any) -> Any:
    registered.append(fn)
    return set_error_callback(fn)


def _fail_in_span() -> None:
    with (
        _telemetry.tracer().start_as_current_span(
            "generate", record_exception=False, set_status_on_exception=False
        ),
        error_boundary(),
    ):
        raise ModelError("weights truncated at byte 4096", path="/m")


def _exception_logs(capture: Capture) -> list[Any]:
    return [r for r in capture.logs() if semconv.EXCEPTION_TYPE in (r.log_record.attributes or {})]


def test_every_callback_receives_the_error_in_registration_order(
    capture: Capture, registered: list[Any]
) -> None:
    calls: list[tuple[str, HyperionError]] = []
    _register(registered, lambda e: calls.append(("a", e)))
    _register(registered, lambda e: calls.append(("b", e)))
    with pytest.raises(ModelError) as info:
        _fail_in_span()
    assert [name for name, _ in calls] == ["a", "b"]
    assert all(err is info.value for _, err in calls)
    assert calls[0][1].type is ErrorType.MODEL


def test_callback_sees_the_error_already_as_last_error(
    capture: Capture, registered: list[Any]
) -> None:
    seen: list[Any] = []
    _register(registered, lambda e: seen.append(get_last_error() is e))
    record_error(ModelError("x"))
    assert seen == [True]


def test_registering_twice_is_a_no_op_and_remove_stops_delivery(registered: list[Any]) -> None:
    calls: list[HyperionError] = []

    def cb(e: HyperionError) -> None:
        calls.append(e)

    assert set_error_callback(cb) is cb
    set_error_callback(cb)
    record_error(ModelError("one"))
    assert len(calls) == 1
    assert remove_error_callback(cb) is True
    assert remove_error_callback(cb) is False
    record_error(ModelError("two"))
    assert len(calls) == 1


def test_returning_false_suppresses_only_the_exception_record(
    capture: Capture, registered: list[Any]
) -> None:
    _register(registered, lambda e: False)
    with pytest.raises(ModelError):
        _fail_in_span()
    assert _exception_logs(capture) == []
    span = capture.span("generate")
    assert not span.events  # the span event is the same record in another signal
    assert span.status.status_code is StatusCode.ERROR  # the rest is kept
    assert capture.count(semconv.METRIC_ERRORS) == 1
    assert isinstance(get_last_error(), ModelError)


def test_returning_none_or_true_keeps_the_record(capture: Capture, registered: list[Any]) -> None:
    _register(registered, lambda e: None)
    _register(registered, lambda e: True)
    _register(registered, lambda e: 0)  # falsy but not False: kept
    record_error(ModelError("x"))
    assert len(_exception_logs(capture)) == 1


def test_a_raising_callback_changes_nothing_for_the_host_and_is_reported_once(
    capture: Capture, registered: list[Any], caplog: pytest.LogCaptureFixture
) -> None:
    after: list[HyperionError] = []

    def broken(e: HyperionError) -> None:
        raise RuntimeError("callback bug")

    _register(registered, broken)
    _register(registered, after.append)
    caplog.set_level(logging.WARNING, logger="hyperion.errors")
    for _ in range(3):
        with pytest.raises(ModelError):  # the host's own error, not RuntimeError
            _fail_in_span()
    assert len(after) == 3  # later callbacks still ran
    assert len(_exception_logs(capture)) == 3
    assert capture.count(semconv.METRIC_ERRORS) == 3
    reports = [r for r in caplog.records if r.name == "hyperion.errors"]
    assert len(reports) == 1
    assert "broken" in reports[0].getMessage() and reports[0].exc_info is not None
    assert reports[0].exc_info[1].args == ("callback bug",)


def test_raising_callback_reaches_stderr_when_logging_is_unconfigured(tmp_path: Any) -> None:
    import subprocess
    import sys

    code = (
        "from hyperion_otel.errors import ModelError, record_error, set_error_callback\n"
        "def cb(e):\n    raise RuntimeError('callback bug')\n"
        "set_error_callback(cb)\n"
        "record_error(ModelError('x'))\nrecord_error(ModelError('y'))\nprint('host ok')\n"
    )
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "host ok"
    assert proc.stderr.count("error callback") == 1 and "RuntimeError: callback bug" in proc.stderr


def test_a_callback_that_records_an_error_does_not_recurse(
    capture: Capture, registered: list[Any]
) -> None:
    calls: list[str] = []

    def cb(e: HyperionError) -> None:
        calls.append(e.message)
        record_error(ModelError(f"nested from {e.message}"))

    _register(registered, cb)
    record_error(ModelError("outer"))
    assert calls == ["outer"]
    assert capture.count(semconv.METRIC_ERRORS) == 2  # the nested error is still recorded


def test_callbacks_run_on_the_recording_thread(registered: list[Any]) -> None:
    threads: list[str] = []
    _register(registered, lambda e: threads.append(threading.current_thread().name))
    t = threading.Thread(target=lambda: record_error(ModelError("x")), name="worker-7")
    t.start()
    t.join()
    assert threads == ["worker-7"]


def test_bad_callback_and_limit_raise_typed_errors(registered: list[Any]) -> None:
    with pytest.raises(InvalidInputError, match="must be callable, got int"):
        set_error_callback(42)  # type: ignore[arg-type]
    fns = [lambda e, i=i: i for i in range(MAX_ERROR_CALLBACKS)]
    for fn in fns:
        _register(registered, fn)
    with pytest.raises(ResourceLimitError, match=f"{MAX_ERROR_CALLBACKS} are registered already"):
        set_error_callback(lambda e: None)
