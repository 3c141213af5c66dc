"""The library API: instrument your own code with the OTel API only.

A library decorates its functions with ``@traced_op`` or wraps blocks in ``op_span(...)``
and leaves the SDK to the application. With no SDK installed and no profiler listening,
a decorated call costs one global read and one extra call (the figure per call is a row
of ``python -m benchmarks --only library_api``). Otherwise each op is a span (kind INTERNAL, status
ERROR and ``error.type`` on failure, through ``record_error``) and an op the profiler sees.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from types import TracebackType
from typing import Any, ParamSpec, TypeVar

from opentelemetry import context, trace

from hyperion_otel import semconv
from hyperion_otel._seams import ops as _ops, otel_private, telemetry as _telemetry
from hyperion_otel.errors import InvalidInputError, record_error

__all__ = ["op_span", "record_allocation", "record_error", "record_tensor", "traced_op"]

P = ParamSpec("P")
R = TypeVar("R")

_AttrValue = str | bool | int | float


_sdk_installed = otel_private.tracer_provider_is_set


class op_span:  # noqa: N801 - used like a function: ``with op_span("tokenize"):``
    """Trace a block as op ``name`` with ``attributes`` (a span plus a profiler op)."""

    __slots__ = ("_attrs", "_name", "_op", "_token", "span")

    def __init__(self, name: str, **attributes: _AttrValue) -> None:
        if not isinstance(name, str) or not name:
            raise InvalidInputError(
                f"op name must be a non-empty string, got {name!r}", field="name"
            )
        self._name = name
        self._attrs = attributes
        self._token: object = None
        self._op: Any = None
        self.span: trace.Span = trace.INVALID_SPAN

    def __enter__(self) -> trace.Span:
        if _sdk_installed():
            attrs: dict[str, _AttrValue] = {semconv.HYPERION_OP_NAME: self._name, **self._attrs}
            # start_span + attach rather than start_as_current_span: the latter's generator
            # context manager costs a third of a span on this path.
            self.span = _telemetry.tracer().start_span(self._name, attributes=attrs)
            self._token = context.attach(trace.set_span_in_context(self.span))
        if _ops.has_listeners():
            self._op = _ops.op(self._name, **self._attrs)
            self._op.__enter__()
        return self.span

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._op is not None:
            self._op.__exit__(t, e, tb)
        if self._token is not None:
            if isinstance(e, Exception):
                record_error(e, span=self.span)
            context.detach(self._token)  # type: ignore[arg-type]
            self.span.end()


def traced_op(
    name: str | None = None, **attributes: _AttrValue
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorator: each call of the function is an op (``name`` defaults to its qualname)."""

    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        op_name = name or fn.__qualname__

        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            if not _sdk_installed() and not _ops._listeners:
                return fn(*args, **kwargs)
            with op_span(op_name, **attributes):
                return fn(*args, **kwargs)

        return wrapper

    return decorate


def record_tensor(
    name: str, array: Any, *, check_finite: bool = False, span: trace.Span | None = None
) -> None:
    """Add a ``hyperion.tensor`` event (name, shape, dtype, bytes) to the current span.

    ``check_finite=True`` also records whether every value is finite (reads the array).
    """
    target = span if span is not None else trace.get_current_span()
    if not target.is_recording():
        return
    import numpy as np  # here, not at import: a library using only spans never loads numpy

    arr = np.asarray(array)
    attrs: dict[str, Any] = {
        semconv.HYPERION_TENSOR_NAME: name,
        semconv.HYPERION_TENSOR_SHAPE: list(arr.shape),
        semconv.HYPERION_TENSOR_DTYPE: str(arr.dtype),
        semconv.HYPERION_TENSOR_BYTES: int(arr.nbytes),
    }
    if check_finite and arr.dtype.kind in "fc":
        attrs[semconv.HYPERION_TENSOR_FINITE] = bool(np.isfinite(arr).all())
    target.add_event(semconv.EVENT_TENSOR, attrs)


def record_allocation(
    nbytes: int, *, site: str | None = None, attributes: Mapping[str, _AttrValue] | None = None
) -> None:
    """Count ``nbytes`` allocated by the library (``hyperion.library.allocated`` counter),
    and add an event to the current span when one is recording."""
    if not isinstance(nbytes, int) or nbytes < 0:
        raise InvalidInputError(f"nbytes must be an int >= 0, got {nbytes!r}", field="nbytes")
    attrs: dict[str, _AttrValue] = dict(attributes or {})
    if site is not None:
        attrs[semconv.HYPERION_ALLOCATION_SITE] = site
    _telemetry.counter(
        semconv.METRIC_LIBRARY_ALLOCATED, "By", "Bytes allocated by instrumented libraries"
    ).add(nbytes, attrs)
    span = trace.get_current_span()
    if span.is_recording():
        span.add_event(
            semconv.EVENT_ALLOCATION, {semconv.HYPERION_ALLOCATION_BYTES: nbytes, **attrs}
        )
