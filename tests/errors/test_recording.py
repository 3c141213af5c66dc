"""record_error / error_boundary: what an error looks like in traces, logs and metrics."""

from __future__ import annotations

import linecache
import pickle
import threading
from typing import Any

import pytest
from opentelemetry import _logs, trace
from opentelemetry._logs import NoOpLoggerProvider
from opentelemetry.trace import StatusCode

from hyperion_otel import errors, semconv
from hyperion_otel._seams import telemetry as _telemetry
from hyperion_otel.errors import (
    ErrorType,
    HyperionError,
    HyperionIOError,
    HyperionMemoryError,
    InvalidInputError,
    ModelError,
    error_boundary,
    get_last_error,
    record_error,
)

from .conftest import Capture

MODEL_ERROR = "hyperion_otel.errors.ModelError"


def _span(name: str) -> Any:
    return _telemetry.tracer().start_as_current_span(
        name, record_exception=False, set_status_on_exception=False
    )


def _load(path: str) -> None:
    """A public entry point written the way the runtime writes them."""
    with _span("load"), error_boundary():
        raise ModelError(f"model file not found: {path}", path=path)


def _exception_logs(capture: Capture) -> list[Any]:
    return [
        r.log_record
        for r in capture.logs()
        if semconv.EXCEPTION_TYPE in (r.log_record.attributes or {})
    ]


def test_error_crossing_a_boundary_becomes_span_status_log_record_and_count(
    capture: Capture,
) -> None:
    with pytest.raises(ModelError) as info:
        _load("/no/such/model")
    err = info.value

    span = capture.span("load")
    assert span.status.status_code is StatusCode.ERROR
    assert span.status.description == "model file not found: /no/such/model"
    assert span.attributes[semconv.ERROR_TYPE] == MODEL_ERROR
    assert span.attributes[semconv.HYPERION_ERROR_CATEGORY] == "model"

    (log,) = _exception_logs(capture)
    assert log.severity_number.value == 17 and log.severity_text == "ERROR"
    assert log.body == "[MODEL] model file not found: /no/such/model"
    attrs = log.attributes
    assert attrs[semconv.EXCEPTION_TYPE] == MODEL_ERROR
    assert attrs[semconv.EXCEPTION_MESSAGE] == "model file not found: /no/such/model"
    assert "raise ModelError" in attrs[semconv.EXCEPTION_STACKTRACE]
    assert attrs[semconv.ERROR_TYPE] == MODEL_ERROR
    assert attrs[semconv.HYPERION_ERROR_CATEGORY] == "model"
    assert attrs[semconv.CODE_FILE_PATH] == __file__
    assert attrs[semconv.CODE_FUNCTION_NAME] == "_load"
    assert attrs[semconv.CODE_LINE_NUMBER] == err.line
    assert attrs["hyperion.error.detail.path"] == "/no/such/model"
    # tied to the span: a backend joins the log to the trace
    assert log.trace_id == span.context.trace_id and log.span_id == span.context.span_id
    assert err.trace_id == format(span.context.trace_id, "032x")
    assert err.span_id == format(span.context.span_id, "016x")

    assert capture.count(semconv.METRIC_ERRORS, **{semconv.ERROR_TYPE: MODEL_ERROR}) == 1
    (point,) = capture.points(semconv.METRIC_ERRORS)
    assert dict(point.attributes) == {
        semconv.ERROR_TYPE: MODEL_ERROR,
        semconv.HYPERION_ERROR_CATEGORY: "model",
    }
    assert get_last_error() is err


def test_location_points_at_the_line_that_built_the_error(capture: Capture) -> None:
    with pytest.raises(ModelError) as info:
        _load("/x")
    err = info.value
    assert err.file == __file__ and err.function == "_load"
    assert "raise ModelError" in linecache.getline(err.file, err.line)


@pytest.mark.parametrize(
    ("env", "events"),
    [(None, 1), ("logs/dup", 1), ("logs", 0), ("LOGS", 0), ("something-else", 1)],
)
def test_exception_signal_opt_in_decides_the_span_event(
    capture: Capture, monkeypatch: pytest.MonkeyPatch, env: str | None, events: int
) -> None:
    if env is not None:
        monkeypatch.setenv(semconv.ENV_EXCEPTION_SIGNAL_OPT_IN, env)
    with pytest.raises(ModelError):
        _load("/x")
    span = capture.span("load")
    exception_events = [e for e in span.events if e.name == "exception"]
    assert len(exception_events) == events
    assert len(_exception_logs(capture)) == 1  # the log record is always there
    if events:
        ev = exception_events[0].attributes
        assert ev[semconv.EXCEPTION_TYPE] == MODEL_ERROR
        assert ev[semconv.CODE_FUNCTION_NAME] == "_load"


def test_env_is_read_at_call_time_and_a_pinned_value_wins(
    capture: Capture, monkeypatch: pytest.MonkeyPatch
) -> None:
    from hyperion_otel.errors import _record as _error_recording

    monkeypatch.setenv(semconv.ENV_EXCEPTION_SIGNAL_OPT_IN, "logs")
    with pytest.raises(ModelError):
        _load("/a")
    _error_recording.set_exception_signal("logs/dup")
    with pytest.raises(ModelError):
        _load("/b")
    a, b = sorted(capture.spans(), key=lambda s: s.start_time or 0)
    assert [len(a.events), len(b.events)] == [0, 1]


def test_nested_boundaries_record_once_but_mark_every_span(capture: Capture) -> None:
    def inner() -> None:
        with _span("inner"), error_boundary():
            raise InvalidInputError("invalid prompt: expected str, got int", field="prompt")

    with pytest.raises(InvalidInputError), _span("outer"), error_boundary():
        inner()

    for name in ("inner", "outer"):
        span = capture.span(name)
        assert span.status.status_code is StatusCode.ERROR
        assert span.attributes[semconv.ERROR_TYPE] == "hyperion_otel.errors.InvalidInputError"
    assert len(_exception_logs(capture)) == 1
    assert len(capture.span("inner").events) == 1 and not capture.span("outer").events
    assert capture.count(semconv.METRIC_ERRORS) == 1


def test_record_error_twice_on_the_same_object_counts_once(capture: Capture) -> None:
    err = ModelError("corrupt header")
    assert record_error(err) is err
    assert record_error(err) is err
    assert capture.count(semconv.METRIC_ERRORS) == 1
    assert len(_exception_logs(capture)) == 1


@errors.public
def _limited(fill: int) -> None:
    """A public call shaped like generate under a memory limit: a phase notes the pool's
    error on its span, the unit turns it into a ResourceLimitError (``raise ... from``), the
    request records what leaves it."""
    from hyperion_otel.errors import ResourceLimitError
    from hyperion_otel.errors._boundary import note_error

    with _span("request") as request:
        try:
            try:
                with _span("phase") as phase:
                    try:
                        raise HyperionMemoryError(
                            f"pool refused {fill} bytes", requested_bytes=fill
                        )
                    except HyperionMemoryError as exc:
                        note_error(exc, phase)
                        raise
            except HyperionMemoryError as exc:
                raise ResourceLimitError("memory limit reached", when="during") from exc
        except ResourceLimitError as exc:
            record_error(exc, span=request)
            raise


def test_a_chain_raised_to_the_caller_is_one_event_with_its_cause(capture: Capture) -> None:
    from hyperion_otel.errors import ResourceLimitError

    seen: list[HyperionError] = []
    errors.set_error_callback(seen.append)
    try:
        with pytest.raises(ResourceLimitError) as info:
            _limited(4096)
    finally:
        errors.remove_error_callback(seen.append)
    err = info.value
    cause = err.__cause__
    assert isinstance(cause, HyperionMemoryError)
    assert seen == [err] and get_last_error() is err
    assert capture.count(semconv.METRIC_ERRORS) == 1
    assert capture.count(semconv.METRIC_ERRORS, **{semconv.ERROR_TYPE: qualified(err)}) == 1
    [log] = _exception_logs(capture)
    assert log.attributes[semconv.EXCEPTION_TYPE] == qualified(err)
    assert log.attributes[semconv.HYPERION_ERROR_CAUSE_TYPE] == qualified(cause)
    assert log.attributes[semconv.HYPERION_ERROR_CAUSE_MESSAGE] == "pool refused 4096 bytes"
    assert (
        "The above exception was the direct cause" in log.attributes[semconv.EXCEPTION_STACKTRACE]
    )
    phase = capture.span("phase")  # where it began: marked, with no record of its own
    assert phase.status.status_code is StatusCode.ERROR and not phase.events
    assert phase.attributes[semconv.ERROR_TYPE] == qualified(cause)
    assert [e.name for e in capture.span("request").events] == [semconv.EVENT_EXCEPTION]
    # The cause is part of that event: recording it again adds nothing.
    record_error(cause)
    assert capture.count(semconv.METRIC_ERRORS) == 1 and len(seen) == 1


def test_an_error_already_recorded_stays_an_event_when_a_new_one_is_raised_from_it(
    capture: Capture,
) -> None:
    """Recorded by hand (or after reaching a caller), then re-raised as another error that
    reaches a caller: two errors reached callers, two events."""
    first = ModelError("weights truncated")
    record_error(first)
    try:
        raise InvalidInputError("invalid model: expected a readable file", field="model") from first
    except InvalidInputError as second:
        record_error(second)
    assert capture.count(semconv.METRIC_ERRORS) == 2


def test_note_error_outside_any_public_call_records_at_once(capture: Capture) -> None:
    from hyperion_otel.errors._boundary import note_error

    with _span("phase") as phase:
        note_error(ModelError("bad header"), phase)
    assert capture.count(semconv.METRIC_ERRORS) == 1
    assert len(capture.span("phase").events) == 1


def qualified(exc: BaseException) -> str:
    return f"{type(exc).__module__}.{type(exc).__qualname__}"


def test_unexpected_exception_is_reraised_unchanged_and_recorded_as_internal(
    capture: Capture,
) -> None:
    def entry() -> None:
        with _span("entry"), error_boundary():
            {}["missing"]  # raises KeyError on this line

    with pytest.raises(KeyError) as info:
        entry()
    span = capture.span("entry")
    assert span.attributes[semconv.ERROR_TYPE] == "KeyError"
    assert span.attributes[semconv.HYPERION_ERROR_CATEGORY] == "internal"
    (log,) = _exception_logs(capture)
    assert log.attributes[semconv.EXCEPTION_TYPE] == "KeyError"
    assert log.attributes[semconv.CODE_FUNCTION_NAME].endswith("entry")
    assert '{}["missing"]' in linecache.getline(__file__, log.attributes[semconv.CODE_LINE_NUMBER])
    last = get_last_error()
    assert isinstance(last, HyperionError) and last.type is ErrorType.INTERNAL
    assert last.__cause__ is info.value
    assert str(last) == "[INTERNAL] unexpected KeyError: 'missing'"
    assert capture.count(semconv.METRIC_ERRORS, **{semconv.ERROR_TYPE: "KeyError"}) == 1


@pytest.mark.parametrize(
    ("exc", "cls", "category"),
    [
        (MemoryError("oom"), HyperionMemoryError, "memory"),
        (FileNotFoundError(2, "gone"), HyperionIOError, "io"),
    ],
)
def test_builtin_memory_and_os_errors_map_to_their_category(
    capture: Capture, exc: BaseException, cls: type[HyperionError], category: str
) -> None:
    err = record_error(exc)
    assert type(err) is cls and err.type.value == category
    assert capture.count(semconv.METRIC_ERRORS, **{semconv.HYPERION_ERROR_CATEGORY: category}) == 1


def test_keyboard_interrupt_is_not_an_error(capture: Capture) -> None:
    with pytest.raises(KeyboardInterrupt), error_boundary():
        raise KeyboardInterrupt
    assert get_last_error() is None and capture.count(semconv.METRIC_ERRORS) == 0


def test_error_boundary_works_as_a_decorator(capture: Capture) -> None:
    @error_boundary()
    def verify(path: str) -> None:
        raise ModelError(f"{path}: bad magic bytes", path=path)

    with pytest.raises(ModelError):
        verify("/m.gguf")
    assert get_last_error() is not None and get_last_error().function.endswith("verify")  # type: ignore[union-attr]


def test_explicit_span_is_marked_instead_of_the_current_one(capture: Capture) -> None:
    tracer = _telemetry.tracer()
    target = tracer.start_span("target")
    with _span("current"):
        record_error(ModelError("x"), span=target)
    target.end()
    assert capture.span("target").status.status_code is StatusCode.ERROR
    assert capture.span("current").status.status_code is StatusCode.UNSET
    (log,) = _exception_logs(capture)
    assert log.span_id == capture.span("target").context.span_id


def test_mark_span_false_leaves_status_alone(capture: Capture) -> None:
    with _span("op"):
        record_error(
            OSError("disk full"), mark_span=False, attributes={"hyperion.cleanup.resource": "f"}
        )
    assert capture.span("op").status.status_code is StatusCode.UNSET
    (log,) = _exception_logs(capture)
    assert log.attributes["hyperion.cleanup.resource"] == "f"


def test_last_error_is_per_thread(capture: Capture) -> None:
    seen: dict[str, Any] = {}

    def worker() -> None:
        seen["before"] = get_last_error()
        with pytest.raises(ModelError):
            _load("/thread")
        seen["after"] = get_last_error()

    with pytest.raises(ModelError):
        _load("/main")
    main_err = get_last_error()
    t = threading.Thread(target=worker)
    t.start()
    t.join()
    assert seen["before"] is None
    assert seen["after"] is not None and seen["after"].message.endswith("/thread")
    assert get_last_error() is main_err  # the worker's error did not leak here
    errors.clear_last_error()
    assert get_last_error() is None


def test_str_is_one_line_and_repr_names_the_location() -> None:
    err = ModelError("bad tensor 'wte.weight':\n  shape (3,)\n  expected (50257, 768)")
    assert str(err) == "[MODEL] bad tensor 'wte.weight': shape (3,) expected (50257, 768)"
    assert "\n" not in str(err)
    assert f"{__file__}:{err.line}" in repr(err)


def test_get_error_string_describes_every_type() -> None:
    for t in ErrorType:
        assert t.value.split("_")[0] in errors.get_error_string(t).lower().replace("i/o", "io")
    with pytest.raises(InvalidInputError, match="expects an ErrorType member, got 'model'"):
        errors.get_error_string("model")  # type: ignore[arg-type]


def test_record_error_refuses_a_non_exception() -> None:
    with pytest.raises(InvalidInputError, match="got str"):
        record_error("boom")  # type: ignore[arg-type]


def test_pickled_error_keeps_fields_and_is_recorded_again_in_the_receiver(capture: Capture) -> None:
    err = ModelError("truncated file", path="/m")
    record_error(err)
    copy = pickle.loads(pickle.dumps(err))
    assert (copy.message, copy.file, copy.line, copy.details) == (
        err.message,
        err.file,
        err.line,
        err.details,
    )
    record_error(copy)
    assert capture.count(semconv.METRIC_ERRORS) == 2


def test_details_are_bounded_and_unprintable_values_survive(capture: Capture) -> None:
    class Ugly:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    record_error(ModelError("x", big="y" * 10_000, ugly=Ugly(), n=3, ratio=0.5))
    (log,) = _exception_logs(capture)
    a = log.attributes
    assert len(a["hyperion.error.detail.big"]) == 256
    assert a["hyperion.error.detail.ugly"] == "<unprintable>"
    assert (a["hyperion.error.detail.n"], a["hyperion.error.detail.ratio"]) == (3, 0.5)


def test_without_an_sdk_recording_is_a_quiet_no_op(reset_otel_globals: Any) -> None:
    # The global providers are the API's proxies: every signal is a no-op.
    with pytest.raises(ModelError):
        _load("/x")
    assert isinstance(get_last_error(), ModelError)


class _BrokenLogger(_logs.Logger):
    def emit(self, record: Any = None, **kwargs: Any) -> None:
        raise RuntimeError("log pipeline is broken")


class _BrokenLoggerProvider(NoOpLoggerProvider):
    def get_logger(self, *args: Any, **kwargs: Any) -> _logs.Logger:
        return _BrokenLogger("broken")


def test_a_failing_log_pipeline_is_counted_and_never_reaches_the_host(capture: Capture) -> None:
    from hyperion_otel._seams import otel_private

    saved = otel_private.snapshot()
    otel_private.clear(("logs",))
    _logs.set_logger_provider(_BrokenLoggerProvider())
    _telemetry.refresh()
    try:
        with pytest.raises(ModelError):  # the host sees its own error, not RuntimeError
            _load("/x")
    finally:
        saved.restore(("logs",))
        _telemetry.refresh()
    assert capture.count(semconv.METRIC_TELEMETRY_DROPPED, **{semconv.HYPERION_SIGNAL: "logs"}) == 1
    assert capture.count(semconv.METRIC_ERRORS) == 1
    assert capture.span("load").status.status_code is StatusCode.ERROR


def test_span_outside_any_trace_gets_no_ids() -> None:
    assert trace.get_current_span().get_span_context().is_valid is False
    err = ModelError("x")
    assert err.trace_id is None and err.span_id is None
