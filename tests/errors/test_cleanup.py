"""CleanupHandler: LIFO order, failure isolation, idempotent close, an atexit hook with undo."""

from __future__ import annotations

import io
import subprocess
import sys
import textwrap
import threading
import weakref
from typing import Any

import pytest
from opentelemetry.trace import StatusCode

from hyperion_otel import semconv
from hyperion_otel._seams import telemetry as _telemetry
from hyperion_otel.cleanup import CleanupHandler
from hyperion_otel.errors import (
    HyperionIOError,
    InvalidInputError,
    ResourceLimitError,
    get_last_error,
)

from .conftest import Capture


def test_cleanups_run_lifo_on_close() -> None:
    order: list[str] = []
    handler = CleanupHandler(at_exit=False)
    for name in ("pool", "file", "socket"):
        handler.add_cleanup(name, order.append)
    assert len(handler) == 3
    assert handler.close() == []
    assert order == ["socket", "file", "pool"]
    assert len(handler) == 0


def test_with_exit_runs_them_even_when_the_body_raises() -> None:
    order: list[int] = []
    with pytest.raises(RuntimeError, match="body failed"), CleanupHandler(at_exit=False) as handler:
        handler.add_cleanup(1, order.append)
        handler.add_cleanup(2, order.append)
        raise RuntimeError("body failed")
    assert order == [2, 1]


def test_add_cleanup_returns_the_resource_and_defaults_to_close() -> None:
    with CleanupHandler(at_exit=False) as handler:
        f = handler.add_cleanup(io.BytesIO(b"weights"))
        assert not f.closed
    assert f.closed


def test_a_failing_cleanup_is_recorded_and_the_others_still_run(capture: Capture) -> None:
    order: list[str] = []

    def explode(name: str) -> None:
        order.append(name)
        raise OSError(28, "No space left on device")

    handler = CleanupHandler(at_exit=False)
    handler.add_cleanup("first", order.append)
    handler.add_cleanup("flaky", explode)
    handler.add_cleanup("last", order.append)
    with _telemetry.tracer().start_as_current_span("request"):
        failures = handler.close()
    assert order == ["last", "flaky", "first"]

    (failure,) = failures
    assert isinstance(failure, HyperionIOError) and isinstance(failure.__cause__, OSError)
    assert get_last_error() is failure
    assert failure.function.endswith("explode")  # where the cleanup raised

    logs = [r.log_record for r in capture.logs()]
    (log,) = logs
    assert log.attributes[semconv.EXCEPTION_TYPE] == "OSError"
    assert log.attributes[semconv.HYPERION_CLEANUP_RESOURCE] == "'flaky'"
    assert log.attributes[semconv.HYPERION_CLEANUP_FUNCTION].endswith("explode")
    assert capture.count(semconv.METRIC_ERRORS, **{semconv.ERROR_TYPE: "OSError"}) == 1
    # a failed cleanup does not fail the operation around it
    assert capture.span("request").status.status_code is StatusCode.UNSET


def test_close_is_idempotent_and_the_handler_reusable() -> None:
    calls: list[int] = []
    handler = CleanupHandler(at_exit=False)
    handler.add_cleanup(1, calls.append)
    handler.close()
    handler.close()
    assert calls == [1]
    handler.add_cleanup(2, calls.append)
    handler.close()
    assert calls == [1, 2]


def test_cleanups_added_while_closing_run_too() -> None:
    calls: list[str] = []
    handler = CleanupHandler(at_exit=False)

    def adds_another(_: object) -> None:
        calls.append("outer")
        handler.add_cleanup("inner", calls.append)

    handler.add_cleanup("x", adds_another)
    handler.close()
    assert calls == ["outer", "inner"]


def test_remove_cleanup_forgets_without_running() -> None:
    calls: list[str] = []
    handler = CleanupHandler(at_exit=False)
    handler.add_cleanup("a", calls.append)
    kept = "b"
    handler.add_cleanup(kept, calls.append)
    assert handler.remove_cleanup(kept) is True
    assert handler.remove_cleanup(kept) is False
    handler.close()
    assert calls == ["a"]


def test_keyboard_interrupt_in_a_cleanup_is_reraised_after_the_rest_ran() -> None:
    calls: list[str] = []

    def interrupt(_: object) -> None:
        raise KeyboardInterrupt

    handler = CleanupHandler(at_exit=False)
    handler.add_cleanup("a", calls.append)
    handler.add_cleanup("b", interrupt)
    handler.add_cleanup("c", calls.append)
    with pytest.raises(KeyboardInterrupt):
        handler.close()
    assert calls == ["c", "a"]


def test_atexit_hook_is_added_on_first_add_and_undone_by_close() -> None:
    # atexit offers no listing (and _ncallbacks() keeps counting unregistered slots), so
    # the hook is observed through what it holds: a hooked handler is kept alive by it.
    # (CleanupHandler holds no reference cycle, so dropping the last reference frees it.)
    handler = CleanupHandler()
    ref = weakref.ref(handler)
    del handler
    assert ref() is None  # nothing registered before the first add

    handler = CleanupHandler()
    handler.add_cleanup("a", lambda _: None)
    ref = weakref.ref(handler)
    del handler
    hooked = ref()
    assert hooked is not None  # the atexit hook holds it, so exit will run its cleanups
    hooked.close()
    del hooked
    assert ref() is None  # close() unregistered the hook


def test_at_exit_false_never_registers() -> None:
    handler = CleanupHandler(at_exit=False)
    handler.add_cleanup("a", lambda _: None)
    ref = weakref.ref(handler)
    del handler
    assert ref() is None


def _run(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_pending_cleanups_run_lifo_at_interpreter_exit_and_failures_do_not_change_the_exit_code() -> (
    None
):
    proc = _run(
        """
        from hyperion_otel.cleanup import CleanupHandler
        h = CleanupHandler()
        h.add_cleanup("first", lambda r: print("cleanup", r, flush=True))
        def bad(r):
            raise ValueError("cannot release " + r)
        h.add_cleanup("second", bad)
        h.add_cleanup("third", lambda r: print("cleanup", r, flush=True))
        closed = CleanupHandler()
        closed.add_cleanup("already", lambda r: print("cleanup", r, flush=True))
        closed.close()
        print("main done", flush=True)
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "cleanup already",
        "main done",
        "cleanup third",
        "cleanup first",
    ]


def test_concurrent_adds_and_closes_run_each_cleanup_exactly_once() -> None:
    handler = CleanupHandler(at_exit=False)
    ran: list[int] = []
    lock = threading.Lock()

    def record(i: int) -> None:
        with lock:
            ran.append(i)

    def worker(base: int) -> None:
        for i in range(base, base + 200):
            handler.add_cleanup(i, record)
            if i % 50 == 0:
                handler.close()

    threads = [threading.Thread(target=worker, args=(k * 1000,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    handler.close()
    assert sorted(ran) == sorted(k * 1000 + i for k in range(4) for i in range(200))


def test_bad_arguments_and_the_bound_raise_typed_errors() -> None:
    handler = CleanupHandler(at_exit=False, max_entries=2)
    with pytest.raises(InvalidInputError, match="has no close"):
        handler.add_cleanup(object())
    with pytest.raises(InvalidInputError, match="expected a callable, got str"):
        handler.add_cleanup(1, "close")  # type: ignore[arg-type]
    handler.add_cleanup(1, lambda _: None)
    handler.add_cleanup(2, lambda _: None)
    with pytest.raises(ResourceLimitError, match="2 are pending already"):
        handler.add_cleanup(3, lambda _: None)
    with pytest.raises(InvalidInputError, match="max_entries"):
        CleanupHandler(max_entries=0)
    handler.close()


def test_cleanup_failure_without_sdk_is_silent_for_the_host(reset_otel_globals: Any) -> None:
    handler = CleanupHandler(at_exit=False)
    handler.add_cleanup("r", lambda _: 1 / 0)
    (failure,) = handler.close()
    assert isinstance(failure.__cause__, ZeroDivisionError)
