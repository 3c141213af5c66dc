"""Normalising the ``shape`` and ``dtype`` arguments of ``MemoryPool.allocate``."""

from __future__ import annotations

import contextlib
import operator
from typing import Any

import numpy as np

from hyperion_otel.errors import InvalidInputError

__all__ = ["DTYPES", "as_dtype", "as_shape"]

# dtype spec (np.float32, "f4", np.dtype(...)) -> np.dtype; bounded, filled on first use.
DTYPES: dict[Any, np.dtype[Any]] = {}
_MAX_DTYPES = 256


def as_dtype(dtype: Any) -> np.dtype[Any]:
    """The numpy dtype for ``dtype``; plain numeric data only (no Python objects)."""
    try:
        cached = DTYPES.get(dtype)
    except TypeError:  # unhashable dtype spec
        cached = None
    if cached is not None:
        return cached
    try:
        dt: np.dtype[Any] = np.dtype(dtype)
    except TypeError as exc:
        raise InvalidInputError(
            f"dtype {dtype!r} is not a numpy dtype", stacklevel=3, value=repr(dtype)
        ) from exc
    if dt.hasobject:
        raise InvalidInputError(
            f"dtype {dt} holds Python objects; the pool only holds plain numeric data",
            stacklevel=3,
            value=str(dt),
        )
    if len(DTYPES) < _MAX_DTYPES:
        with contextlib.suppress(TypeError):
            DTYPES[dtype] = dt
    return dt


def as_shape(shape: Any) -> tuple[int, ...]:
    """``shape`` as a tuple of Python ints (numpy ints accepted, floats refused)."""
    if isinstance(shape, (int, np.integer)) and not isinstance(shape, bool):
        return (operator.index(shape),)
    try:
        return tuple(operator.index(d) for d in shape)
    except TypeError:
        raise InvalidInputError(
            f"shape must be an int or a sequence of ints, got {shape!r}",
            stacklevel=3,
            value=repr(shape),
        ) from None
