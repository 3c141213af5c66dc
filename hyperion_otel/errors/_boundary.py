"""``record_error``, the ``public`` boundary and ``error_boundary``: where an exception
becomes telemetry, once."""

from __future__ import annotations

import contextlib
import functools
import inspect
import sys
from collections.abc import Callable, Mapping
from contextlib import ContextDecorator
from types import CodeType, FrameType, TracebackType
from typing import Any, Literal, TypeVar, cast

from opentelemetry import trace
from opentelemetry.trace import Span, Status, StatusCode
from opentelemetry.util.types import AttributeValue

from hyperion_otel import semconv
from hyperion_otel.errors import _record as _rec
from hyperion_otel.errors._callbacks import registry
from hyperion_otel.errors._state import set_last_error
from hyperion_otel.errors._types import (
    _MARK,
    HyperionError,
    HyperionIOError,
    HyperionMemoryError,
    InvalidInputError,
)

__all__ = [
    "BOUNDARY_ATTR",
    "BOUNDARY_CODE",
    "call_user",
    "error_boundary",
    "has_boundary",
    "note_error",
    "public",
    "record_error",
]


class _Recorded:
    """Mark left on a recorded exception; it pickles and deep-copies to ``None``."""

    __slots__ = ("error",)

    def __init__(self, error: HyperionError) -> None:
        self.error = error

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(None), ())


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


# Links of a chain followed from the raised error to where it began.
MAX_CHAIN = 8


def _chain(exc: BaseException) -> list[BaseException]:
    """What ``exc`` was raised from (``__cause__``) or while handling (``__context__``,
    unless suppressed), nearest first; bounded and safe against cycles."""
    out: list[BaseException] = []
    seen = {id(exc)}
    cur = exc
    while len(out) < MAX_CHAIN:
        nxt = cur.__cause__
        if nxt is None and not cur.__suppress_context__:
            nxt = cur.__context__
        if nxt is None or id(nxt) in seen:
            break
        seen.add(id(nxt))
        out.append(nxt)
        cur = nxt
    return out


def _cause_attributes(cause: BaseException) -> dict[str, AttributeValue]:
    message = cause.message if isinstance(cause, HyperionError) else _rec.safe_str(cause)
    return {
        semconv.HYPERION_ERROR_CAUSE_TYPE: _rec.qualified_name(type(cause)),
        semconv.HYPERION_ERROR_CAUSE_MESSAGE: _rec.one_line(message)[: _rec.MAX_DETAIL_CHARS],
    }


def _record_of(
    err: HyperionError,
    extra: Mapping[str, AttributeValue] | None,
    chain: list[BaseException],
) -> _rec.ErrorRecord:
    original = err._wrapped if err._wrapped is not None else err
    attrs = _rec.detail_attributes(err.details)
    if chain:
        attrs.update(_cause_attributes(chain[0]))
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
    chain = _chain(err._wrapped if err._wrapped is not None else err) if first else []
    rec = _record_of(err, attributes, chain)
    if mark_span:
        _rec.mark_span(target, rec)
    if not first:
        return err
    exc.__dict__[_MARK] = _Recorded(err)
    # The errors this one was raised from are part of this event (its cause attributes and
    # stack trace), never events of their own: one event per error raised to the caller.
    # One recorded before (it reached a caller, or was recorded by hand) stays an event.
    for linked in chain:
        with contextlib.suppress(AttributeError, TypeError):
            linked.__dict__.setdefault(_MARK, _Recorded(err))
    set_last_error(err)
    if registry.run(err):
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
    """Context manager and decorator for the application's own entry points (a request
    handler, a job): record an escaping exception. hyperion-otel's public calls use
    ``public`` instead, which allocates nothing per call.

    ``with error_boundary(): ...`` or ``@error_boundary()``. Any ``Exception`` leaving the
    block is passed to ``record_error`` (on ``span``, default the current span) and
    re-raised unchanged. Put it *inside* the entry point's own span, and start that span
    with ``record_exception=False, set_status_on_exception=False`` so the SDK does not
    record the exception a second time. For generator functions put the ``with`` inside
    the generator body (the decorator would only cover creating the generator).
    """
    return _ErrorBoundary(span)


# --- the boundary of every public callable -------------------------------------------------

BOUNDARY_ATTR = "__hyperion_boundary__"
# Dunder methods that run code of ours on the user's behalf; other dunders stay unwrapped.
_WRAPPED_DUNDERS = ("__init__", "__enter__", "__exit__", "__next__", "__call__")

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")


def _escaping(exc: Exception) -> None:
    """Error path of a boundary: record ``exc`` unless an outer boundary will see it.

    Only the outermost public call on this thread's stack records, so a public call made
    inside another one records once, and an error of an inner call that the outer one
    catches is not recorded at all. Walking the stack here, on the error path, keeps the
    success path free of any bookkeeping.
    """
    if isinstance(exc, StopIteration):  # ``__next__`` ending an iteration is not an error
        return
    if _inside_public(sys._getframe(2)):  # from the caller of the wrapper handling ``exc``
        return
    # The host must see its own exception, never one from recording it.
    with contextlib.suppress(Exception):
        record_error(exc)


def _inside_public(frame: FrameType | None) -> bool:
    """Whether a public call's boundary is on the stack from ``frame`` outwards (user code
    run by a public call, ``call_user``, starts a stack of its own)."""
    while frame is not None:
        code = frame.f_code
        if code is _USER_CODE:
            return False
        if code in _WRAPPER_CODES:
            return True
        frame = frame.f_back
    return False


def note_error(exc: BaseException, span: Span) -> None:
    """A layer of hyperion-otel saw ``exc`` leave ``span`` (a phase of the call): mark the
    span with status ERROR, ``error.type`` and the category. Inside a public call that is
    all: the error becomes an event where it leaves the call, or where an outer layer
    records it or the error it is turned into (``raise ... from exc``), so a chain is one
    event. Outside any public call it is recorded here. Never raises."""
    try:
        if not isinstance(exc, Exception):  # KeyboardInterrupt and friends: mark only
            if span.is_recording():
                span.set_status(Status(StatusCode.ERROR, type(exc).__name__))
            return
        if not _inside_public(sys._getframe(1)):
            record_error(exc, span=span)
            return
        mark = exc.__dict__.get(_MARK)
        err = mark.error if isinstance(mark, _Recorded) else None
        if err is None:
            err = exc if isinstance(exc, HyperionError) else _wrap(exc)
        _rec.mark_span(span, _record_of(err, None, []))
    except Exception:  # noqa: BLE001 - telemetry must never break the caller
        return


def _wrap_function(fn: F) -> F:
    @functools.wraps(fn)
    def boundary(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except Exception as exc:
            _escaping(exc)
            raise

    setattr(boundary, BOUNDARY_ATTR, True)
    return cast(F, boundary)


def guards_itself(fn: F) -> F:
    """Mark ``fn`` as its own boundary, for hot paths where the wrapper's extra call shows
    (``op_span``'s ``__enter__``/``__exit__``: ~0.15 µs of a ~1 µs op). Its body must
    catch ``Exception`` around all of its work, call ``escaping(exc)`` and re-raise;
    ``public`` on its class then leaves it as it is."""
    global _WRAPPER_CODES
    _WRAPPER_CODES = _WRAPPER_CODES | {fn.__code__}
    setattr(fn, BOUNDARY_ATTR, True)
    return fn


escaping = _escaping  # for the bodies of ``guards_itself`` functions


def _wrap_member(raw: object) -> object | None:
    """The wrapped form of a class attribute, or None when it is not a method of ours."""
    if isinstance(raw, staticmethod):
        return staticmethod(_wrap_function(raw.__func__))
    if isinstance(raw, classmethod):
        return classmethod(_wrap_function(raw.__func__))
    if callable(raw) and isinstance(getattr(raw, "__code__", None), CodeType):
        return _wrap_function(cast(Callable[..., Any], raw))
    return None


def _wrap_class(cls: type[T]) -> type[T]:
    for name, raw in list(vars(cls).items()):
        public_name = not name.startswith("_") or name in _WRAPPED_DUNDERS
        if not public_name or has_boundary(raw):
            continue
        wrapped = _wrap_member(raw)
        if wrapped is not None:
            setattr(cls, name, wrapped)
    setattr(cls, BOUNDARY_ATTR, True)
    return cls


def public(obj: F) -> F:
    """The error boundary of a public function or class, applied where it is defined.

    On a function: an ``Exception`` escaping the call is recorded (``record_error`` on the
    current span) by the outermost public call on the thread's stack, then re-raised
    unchanged. On a class: ``__init__`` (which runs a dataclass's ``__post_init__``),
    ``__enter__``, ``__exit__``, ``__next__``, ``__call__`` and every method, classmethod
    and staticmethod whose name has no leading underscore get that wrapper; properties do
    not. The success path costs one extra Python call (``benchmarks/bench_errors.py``).
    Generator functions and ``@contextmanager`` bodies run after the call returned: give
    them a class with ``__next__``/``__enter__`` instead. Everything wrapped carries
    ``__hyperion_boundary__ = True``, which the test of the public surface checks.
    """
    if isinstance(obj, type):
        return cast(F, _wrap_class(obj))
    if inspect.isgeneratorfunction(obj):
        raise TypeError(f"@public cannot guard the generator function {obj.__qualname__}")
    return _wrap_function(obj)


def call_user(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Call the user's ``fn`` from inside a public call (a registered test, a callback).

    A public call that ``fn`` makes records its errors as if called from the top level,
    although the public call running ``fn`` is still on the stack: ``fn`` is the user's
    code, and what the runner does with ``fn``'s errors is its own business.
    """
    return fn(*args, **kwargs)


_USER_CODE: CodeType = call_user.__code__


def has_boundary(obj: object) -> bool:
    """Whether ``obj`` (a function, a class or a static/class method) went through ``public``."""
    if isinstance(obj, (staticmethod, classmethod)):
        obj = obj.__func__
    return getattr(obj, BOUNDARY_ATTR, False) is True


# The code of every boundary wrapper (one ``def``, so one code object): the stack walk
# above looks for it, and stack captures (allocation sites) step over it.
BOUNDARY_CODE: CodeType = _wrap_function(len).__code__
_WRAPPER_CODES = frozenset({BOUNDARY_CODE})

record_error = public(record_error)
