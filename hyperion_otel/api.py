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
from hyperion_otel.errors import InvalidInputError, public, record_error
from hyperion_otel.errors._boundary import escaping, guards_itself

__all__ = ["op_span", "record_allocation", "record_error", "record_tensor", "traced_op"]

P = ParamSpec("P")
R = TypeVar("R")

_AttrValue = str | bool | int | float
_ATTR_TYPES = (str, bool, int, float)


def _bad(field: str, expected: str, value: object) -> InvalidInputError:
    return InvalidInputError(
        f"invalid {field}: expected {expected}, got {value!r}", field=field, expected=expected
    )


def _check_name(name: object, field: str = "name") -> None:
    if not isinstance(name, str) or not name:
        raise _bad(field, "a non-empty str", name)


def _check_attributes(attributes: Mapping[str, object]) -> None:
    for key, value in attributes.items():
        if not isinstance(value, _ATTR_TYPES):
            raise _bad(key, "an attribute value (str, bool, int or float)", value)


_sdk_installed = otel_private.tracer_provider_is_set


@public
class op_span:  # noqa: N801 - used like a function: ``with op_span("tokenize"):``
    """Trace a block as op ``name`` with ``attributes`` (a span plus a profiler op).

    A name that is not a non-empty ``str``, or an attribute value that is not a ``str``,
    ``bool``, ``int`` or ``float``, is an ``InvalidInputError``.
    """

    __slots__ = ("_attrs", "_entered", "_name", "_op", "_token", "span")

    # Each method is its own boundary (``guards_itself``): the wrapper ``public`` would
    # put around it costs an extra call per method, ~10% of a whole span here.
    @guards_itself
    def __init__(self, name: str, **attributes: _AttrValue) -> None:
        try:
            _check_name(name)
            if attributes:
                _check_attributes(attributes)
        except Exception as exc:
            escaping(exc)
            raise
        self._name = name
        self._attrs = attributes
        self._token: object = None
        self._op: Any = None
        self._entered = False
        self.span: trace.Span = trace.INVALID_SPAN

    @guards_itself
    def __enter__(self) -> trace.Span:
        try:
            if self._entered:
                raise _bad(
                    "op_span", f"a new op_span for each block; {self._name!r} is entered", self
                )
            self._entered = True
            if _sdk_installed():
                attrs: dict[str, _AttrValue] = {semconv.HYPERION_OP_NAME: self._name, **self._attrs}
                # start_span + attach rather than start_as_current_span: the latter's
                # generator context manager costs a third of a span on this path.
                self.span = _telemetry.tracer().start_span(self._name, attributes=attrs)
                self._token = context.attach(trace.set_span_in_context(self.span))
            if _ops.has_listeners():
                self._op = _ops.op(self._name, **self._attrs)
                self._op.__enter__()
        except Exception as exc:
            escaping(exc)
            raise
        return self.span

    @guards_itself
    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        try:
            if not self._entered:
                raise _bad(
                    "op_span", f"__exit__ after __enter__; {self._name!r} is not entered", self
                )
            self._entered = False
            if self._op is not None:
                self._op.__exit__(t, e, tb)
            if self._token is not None:
                if isinstance(e, Exception):
                    record_error(e, span=self.span)
                context.detach(self._token)  # type: ignore[arg-type]
                self.span.end()
        except Exception as exc:
            escaping(exc)
            raise


@public
def traced_op(
    name: str | None = None, **attributes: _AttrValue
) -> Callable[[Callable[P, R]], Callable[P, R]]:
    """Decorator: each call of the function is an op (``name`` defaults to its qualname).

    Written with parentheses, ``@traced_op()`` or ``@traced_op("name")``: the name and the
    attributes are checked as ``op_span`` checks them, when the decorator is built.
    """
    if name is not None and (not isinstance(name, str) or not name):
        raise _bad("name", "a non-empty str or None (write @traced_op() with parentheses)", name)
    _check_attributes(attributes)

    @public
    def decorate(fn: Callable[P, R]) -> Callable[P, R]:
        if not callable(fn):
            raise _bad("fn", "a callable to trace", fn)
        op_name: str = name or str(getattr(fn, "__qualname__", type(fn).__qualname__))

        @functools.wraps(fn)
        def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
            if not _sdk_installed() and not _ops._listeners:
                return fn(*args, **kwargs)
            with op_span(op_name, **attributes):
                return fn(*args, **kwargs)

        return wrapper

    return decorate


@public
def record_tensor(
    name: str, array: Any, *, check_finite: bool = False, span: trace.Span | None = None
) -> None:
    """Add a ``hyperion.tensor`` event (name, shape, dtype, bytes) to the current span.

    ``check_finite=True`` also records whether every value is finite (reads the array).
    ``name``, ``check_finite`` and ``span`` are checked even when nothing records.
    """
    _check_name(name)
    if not isinstance(check_finite, bool):
        raise _bad("check_finite", "a bool", check_finite)
    if span is not None and not isinstance(span, trace.Span):
        raise _bad("span", "an opentelemetry.trace.Span or None", span)
    target = span if span is not None else trace.get_current_span()
    if not target.is_recording():
        return
    import numpy as np  # here, not at import: a library using only spans never loads numpy

    try:
        arr = np.asarray(array)
    except (TypeError, ValueError) as exc:
        raise _bad("array", f"an array-like numpy can convert ({exc})", type(array)) from exc
    attrs: dict[str, Any] = {
        semconv.HYPERION_TENSOR_NAME: name,
        semconv.HYPERION_TENSOR_SHAPE: list(arr.shape),
        semconv.HYPERION_TENSOR_DTYPE: str(arr.dtype),
        semconv.HYPERION_TENSOR_BYTES: int(arr.nbytes),
    }
    if check_finite and arr.dtype.kind in "fc":
        attrs[semconv.HYPERION_TENSOR_FINITE] = bool(np.isfinite(arr).all())
    target.add_event(semconv.EVENT_TENSOR, attrs)


@public
def record_allocation(
    nbytes: int, *, site: str | None = None, attributes: Mapping[str, _AttrValue] | None = None
) -> None:
    """Count ``nbytes`` allocated by the library (``hyperion.library.allocated`` counter),
    and add an event to the current span when one is recording."""
    if not isinstance(nbytes, int) or isinstance(nbytes, bool) or nbytes < 0:
        raise _bad("nbytes", "an int >= 0", nbytes)
    if site is not None:
        _check_name(site, "site")
    if attributes is not None:
        if not isinstance(attributes, Mapping):
            raise _bad("attributes", "a mapping of attribute values or None", attributes)
        _check_attributes(attributes)
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
