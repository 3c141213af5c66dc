"""``record_error`` and ``error_boundary``: where an exception becomes telemetry once."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping
from contextlib import ContextDecorator
from types import TracebackType
from typing import Any, Literal

from opentelemetry import trace
from opentelemetry.trace import Span
from opentelemetry.util.types import AttributeValue

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

__all__ = ["error_boundary", "record_error"]


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
    """Context manager and decorator for public entry points: record an escaping exception.

    ``with error_boundary(): ...`` or ``@error_boundary()``. Any ``Exception`` leaving the
    block is passed to ``record_error`` (on ``span``, default the current span) and
    re-raised unchanged. Put it *inside* the entry point's own span, and start that span
    with ``record_exception=False, set_status_on_exception=False`` so the SDK does not
    record the exception a second time. For generator functions put the ``with`` inside
    the generator body (the decorator would only cover creating the generator).
    """
    return _ErrorBoundary(span)
