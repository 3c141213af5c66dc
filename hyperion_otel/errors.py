"""Typed errors of hyperion-otel, and the one place where errors become telemetry.

**Where an error arose.** Every ``HyperionError`` records ``file``, ``line`` and ``function``:
the frame that constructed it, skipping frames of this module. For errors raised by
hyperion-otel itself that is the line inside hyperion-otel that detected the problem
(``raise ModelError(...)`` in user code points at the user's line); the input validators
(``hyperion_otel.validation``) point at the line that called them. An unexpected exception
wrapped by ``record_error`` points at the line that raised it (innermost traceback frame).
The error also keeps the trace and span ids of the span active when it was built.

**Recording.** ``record_error(exc)`` (called for you by ``error_boundary`` at the public
entry points of the runtime and the facilities) produces, once per exception object:

- on the span (given, else the current one): status ERROR with the message, ``error.type``
  = the exception's qualified class name (``hyperion_otel.errors.ModelError``, ``KeyError``)
  and ``hyperion.error.category`` = the ``ErrorType`` value (``model``);
- an exception log record through the OTel Logs API, severity ERROR, tied to that span,
  with ``exception.type/message/stacktrace``, ``code.function.name/file.path/line.number``
  (the location above), ``error.type``, the category and ``hyperion.error.detail.<key>``
  for each entry of ``details``; plus the ``exception`` span event unless
  ``OTEL_SEMCONV_EXCEPTION_SIGNAL_OPT_IN=logs`` (see ``_error_recording``);
- one increment of the counter ``hyperion.errors`` {error.type, hyperion.error.category};
- the thread's last error (``get_last_error()``), and a call of every error callback.

Recording the same exception again (as it crosses nested boundaries) marks each further
span it escapes but emits no second log record, count or callback round.

**Unexpected exceptions** (not ``HyperionError``) crossing a boundary are re-raised
unchanged; they are recorded with ``error.type`` = their own class name and category
``internal`` (``memory`` for ``MemoryError``, ``io`` for ``OSError``). Callbacks and
``get_last_error()`` see a ``HyperionError`` of that category whose ``__cause__`` is the
original. ``error_boundary`` lets ``KeyboardInterrupt``/``SystemExit`` pass unrecorded.

**Callbacks** run on the thread that records, in registration order. A callback that
returns ``False`` (exactly ``False``; ``None`` keeps everything, so a plain function that
returns nothing filters nothing) suppresses the exception record (log record and span
event); span status, counter and last error are kept. A callback that raises is reported
once (a warning with traceback on the stdlib logger ``hyperion.errors``, which reaches
stderr when logging is unconfigured) and changes nothing else for the host.
"""

from __future__ import annotations

import contextlib
import enum
import sys
import threading
import time
from collections.abc import Callable, Mapping
from contextlib import ContextDecorator
from types import FrameType, TracebackType
from typing import Any, Literal

from opentelemetry import trace
from opentelemetry.trace import Span
from opentelemetry.util.types import AttributeValue

from hyperion_otel import _error_recording as _rec
from hyperion_otel._error_callbacks import CallbackRegistry

__all__ = [
    "MAX_ERROR_CALLBACKS",
    "ConfigError",
    "ErrorCallback",
    "ErrorType",
    "HyperionError",
    "HyperionIOError",
    "HyperionMemoryError",
    "InvalidInputError",
    "ModelError",
    "PerformanceError",
    "ResourceLimitError",
    "clear_last_error",
    "error_boundary",
    "get_error_string",
    "get_last_error",
    "record_error",
    "remove_error_callback",
    "set_error_callback",
]


class ErrorType(enum.Enum):
    """Kind of failure, as in the guide's ``switch (error.type)``."""

    MEMORY = "memory"
    PERFORMANCE = "performance"
    MODEL = "model"
    INVALID_INPUT = "invalid_input"
    IO = "io"
    CONFIG = "config"
    RESOURCE = "resource"
    INTERNAL = "internal"


_DESCRIPTIONS: dict[ErrorType, str] = {
    ErrorType.MEMORY: (
        "memory error: an allocation failed, a budget was exceeded or memory was corrupted"
    ),
    ErrorType.PERFORMANCE: "performance error: an operation missed its time or throughput budget",
    ErrorType.MODEL: (
        "model error: the model file or its configuration is missing, corrupt or unsupported"
    ),
    ErrorType.INVALID_INPUT: (
        "invalid input: an argument or request has a value outside what is allowed"
    ),
    ErrorType.IO: "I/O error: a file or network operation failed",
    ErrorType.CONFIG: "configuration error: a setting or environment variable has an invalid value",
    ErrorType.RESOURCE: "resource limit: a CPU, memory or thread limit was reached",
    ErrorType.INTERNAL: (
        "internal error: an unexpected exception in hyperion-otel or in code it called"
    ),
}


def get_error_string(error_type: ErrorType) -> str:
    """Human description of an error type."""
    if not isinstance(error_type, ErrorType):
        raise InvalidInputError(
            f"get_error_string expects an ErrorType member, got {error_type!r}", field="error_type"
        )
    return _DESCRIPTIONS[error_type]


_THIS_FILE = __file__


class HyperionError(Exception):
    """Base of every error hyperion-otel raises on purpose.

    Attributes: ``type`` (ErrorType), ``message``, ``file``/``line``/``function`` (where the
    error was constructed, see the module doc), ``trace_id``/``span_id`` (hex strings of the
    span active then, or ``None`` outside a span) and ``timestamp`` (Unix seconds).
    Extra keyword arguments are kept in ``details`` and become log/span attributes.
    ``str()`` is one line: ``[TYPE] message``.
    """

    error_type: ErrorType = ErrorType.INTERNAL
    # Set when record_error wrapped an unexpected exception into this error.
    _wrapped: BaseException | None = None

    def __init__(self, message: str, *, stacklevel: int = 1, **details: Any) -> None:
        super().__init__(message)
        self.type: ErrorType = self.error_type
        self.message = message
        self.details: dict[str, Any] = details
        self.timestamp = time.time()
        frame = sys._getframe(1)
        # Skip constructors of subclasses (frames of this module), then `stacklevel - 1`
        # more frames so helpers that build errors for their caller can point past themselves.
        while frame.f_back is not None and frame.f_code.co_filename == _THIS_FILE:
            frame = frame.f_back
        for _ in range(stacklevel - 1):
            if frame.f_back is None:
                break
            frame = frame.f_back
        self._locate(frame, frame.f_lineno)
        ctx = trace.get_current_span().get_span_context()
        self.trace_id: str | None = format(ctx.trace_id, "032x") if ctx.is_valid else None
        self.span_id: str | None = format(ctx.span_id, "016x") if ctx.is_valid else None

    def _locate(self, frame: FrameType, line: int | None) -> None:
        code = frame.f_code
        self.file: str = code.co_filename
        self.line: int = line if line is not None else code.co_firstlineno
        self.function: str = getattr(code, "co_qualname", code.co_name)

    def __str__(self) -> str:
        return f"[{self.type.name}] {_rec.one_line(self.message)}"

    def __repr__(self) -> str:
        where = f"{self.file}:{self.line} in {self.function}"
        return f"{type(self).__name__}({self.message!r}, at {where})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep errors picklable across multiprocessing boundaries. The recording mark is
        # dropped: the receiving process has its own telemetry and records the error anew.
        state = {k: v for k, v in self.__dict__.items() if k != _MARK}
        return (_rebuild, (type(self), self.message, self.details, state))


def _rebuild(
    cls: type[HyperionError], message: str, details: dict[str, Any], state: dict[str, Any]
) -> HyperionError:
    err = cls(message, **details)
    err.__dict__.update(state)
    return err


class HyperionMemoryError(HyperionError):
    """Allocation failure, pool budget exceeded, or memory corruption detected."""

    error_type = ErrorType.MEMORY


class PerformanceError(HyperionError):
    """An operation exceeded its time or throughput budget."""

    error_type = ErrorType.PERFORMANCE


class ModelError(HyperionError):
    """A model file or configuration is missing, corrupt or unsupported."""

    error_type = ErrorType.MODEL


class InvalidInputError(HyperionError, ValueError):
    """An argument has a value outside what is allowed (also a ``ValueError``)."""

    error_type = ErrorType.INVALID_INPUT


class HyperionIOError(HyperionError, OSError):
    """A file or network operation failed (also an ``OSError``)."""

    error_type = ErrorType.IO

    def __str__(self) -> str:  # OSError.__str__ would show errno formatting instead
        return HyperionError.__str__(self)


class ConfigError(HyperionError, ValueError):
    """A setting or environment variable has an invalid value (also a ``ValueError``)."""

    error_type = ErrorType.CONFIG


class ResourceLimitError(HyperionError):
    """A configured CPU, memory or thread limit was reached."""

    error_type = ErrorType.RESOURCE


# --- last error and callbacks ---------------------------------------------------------------

ErrorCallback = Callable[[HyperionError], object]
MAX_ERROR_CALLBACKS = 64  # a bound that catches a callback registered per request


class _ThreadState(threading.local):
    last: HyperionError | None = None


_state = _ThreadState()
_callbacks: CallbackRegistry[HyperionError] = CallbackRegistry(MAX_ERROR_CALLBACKS)


def get_last_error() -> HyperionError | None:
    """The last error recorded on the calling thread (kept until the next one or a clear)."""
    return _state.last


def clear_last_error() -> None:
    """Forget the calling thread's last error."""
    _state.last = None


def set_error_callback(fn: ErrorCallback) -> ErrorCallback:
    """Call ``fn(error)`` for every recorded error; returns ``fn`` (usable as a decorator).

    Several callbacks may be registered (at most ``MAX_ERROR_CALLBACKS``); registering the
    same one again is a no-op. See the module doc for ``False`` and for raising callbacks.
    """
    if not callable(fn):
        raise InvalidInputError(
            f"error callback must be callable, got {type(fn).__name__}", field="fn"
        )
    try:
        _callbacks.add(fn)
    except OverflowError:
        raise ResourceLimitError(
            f"cannot add error callback {fn!r}: {MAX_ERROR_CALLBACKS} are registered already "
            "(the limit); remove one with remove_error_callback",
            limit=MAX_ERROR_CALLBACKS,
        ) from None
    return fn


def remove_error_callback(fn: ErrorCallback) -> bool:
    """Unregister ``fn``; returns whether it was registered."""
    return _callbacks.remove(fn)


# --- recording ------------------------------------------------------------------------------


class _Recorded:
    """Mark left on a recorded exception; it pickles and deep-copies to ``None``."""

    __slots__ = ("error",)

    def __init__(self, error: HyperionError) -> None:
        self.error = error

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(None), ())


_MARK = "_hyperion_recorded"


def _wrap(exc: BaseException) -> HyperionError:
    cls: type[HyperionError] = HyperionError
    if isinstance(exc, MemoryError):
        cls = HyperionMemoryError
    elif isinstance(exc, OSError):
        cls = HyperionIOError
    err = cls(f"unexpected {_rec.qualified_name(type(exc))}: {_rec.safe_str(exc)}")
    tb = exc.__traceback__
    if tb is not None:
        while tb.tb_next is not None:
            tb = tb.tb_next
        err._locate(tb.tb_frame, tb.tb_lineno)
    err._wrapped = exc
    err.__cause__ = exc
    return err


def _record_of(err: HyperionError, extra: Mapping[str, AttributeValue] | None) -> _rec.ErrorRecord:
    original = err._wrapped if err._wrapped is not None else err
    attrs = _rec.detail_attributes(err.details)
    if extra:
        attrs.update(extra)
    return _rec.ErrorRecord(
        exception=original,
        error_type=_rec.qualified_name(type(original)),
        category=err.type.value,
        message=_rec.safe_str(original) if err._wrapped is not None else _rec.one_line(err.message),
        body=str(err),
        file=err.file,
        line=err.line,
        function=err.function,
        timestamp=err.timestamp,
        attributes=attrs,
    )


def record_error(
    exc: BaseException,
    *,
    span: Span | None = None,
    mark_span: bool = True,
    attributes: Mapping[str, AttributeValue] | None = None,
) -> HyperionError:
    """Turn ``exc`` into telemetry (see the module doc) and return it as a HyperionError.

    ``span``: the span to mark and tie the log record to (default: the current span).
    ``mark_span=False`` leaves the span's status alone (a failed cleanup does not fail the
    operation around it). ``attributes`` are added to the exception record.
    Never raises for telemetry trouble; only a non-exception ``exc`` is refused.
    """
    if not isinstance(exc, BaseException):
        raise InvalidInputError(
            f"record_error expects an exception, got {type(exc).__name__}", field="exc"
        )
    mark = exc.__dict__.get(_MARK)
    first = not isinstance(mark, _Recorded)
    if isinstance(exc, HyperionError):
        err = exc
    elif isinstance(mark, _Recorded):
        err = mark.error
    else:
        err = _wrap(exc)
    target = span if span is not None else trace.get_current_span()
    rec = _record_of(err, attributes)
    if mark_span:
        _rec.mark_span(target, rec)
    if not first:
        return err
    exc.__dict__[_MARK] = _Recorded(err)
    _state.last = err
    if _callbacks.run(err):
        _rec.emit_exception(target, rec, _rec.exception_signal())
    _rec.count_error(rec)
    return err


class _ErrorBoundary(ContextDecorator):
    def __init__(self, span: Span | None) -> None:
        self._span = span

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> Literal[False]:
        if isinstance(exc, Exception):
            # The host must see its own exception, never one from recording it.
            with contextlib.suppress(Exception):
                record_error(exc, span=self._span)
        return False


def error_boundary(span: Span | None = None) -> _ErrorBoundary:
    """Context manager and decorator for public entry points: record an escaping exception.

    ``with error_boundary(): ...`` or ``@error_boundary()``. Any ``Exception`` leaving the
    block is passed to ``record_error`` (on ``span``, default the current span) and
    re-raised unchanged. Put it *inside* the entry point's own span, and start that span
    with ``record_exception=False, set_status_on_exception=False`` so the SDK does not
    record the exception a second time. For generator functions put the ``with`` inside
    the generator body (the decorator would only cover creating the generator).
    """
    return _ErrorBoundary(span)
