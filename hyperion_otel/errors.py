"""Typed errors of hyperion-otel: the guide's ``ErrorType`` and the ``HyperionError`` family.

Every error records where it arose (``file``, ``line``, ``function``): the frame that
constructed it, skipping frames of this module. For errors raised by hyperion-otel itself
that is the line inside hyperion-otel that detected the problem; ``raise ModelError(...)``
in user code points at the user's line. It also records the trace and span ids of the span
active at that moment, so an error found in a log can be joined to its request.
"""

from __future__ import annotations

import enum
import sys
import time
from typing import Any

from opentelemetry import trace

__all__ = [
    "ConfigError",
    "ErrorType",
    "HyperionError",
    "HyperionIOError",
    "HyperionMemoryError",
    "InvalidInputError",
    "ModelError",
    "PerformanceError",
    "ResourceLimitError",
    "get_error_string",
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
    ErrorType.MEMORY: "memory error: an allocation failed, a budget was exceeded or memory was corrupted",
    ErrorType.PERFORMANCE: "performance error: an operation missed its time or throughput budget",
    ErrorType.MODEL: "model error: the model file or its configuration is missing, corrupt or unsupported",
    ErrorType.INVALID_INPUT: "invalid input: an argument or request has a value outside what is allowed",
    ErrorType.IO: "I/O error: a file or network operation failed",
    ErrorType.CONFIG: "configuration error: a setting or environment variable has an invalid value",
    ErrorType.RESOURCE: "resource limit: a CPU, memory or thread limit was reached",
    ErrorType.INTERNAL: "internal error: a bug in hyperion-otel; please report it",
}


def get_error_string(error_type: ErrorType) -> str:
    """Human description of an error type."""
    if not isinstance(error_type, ErrorType):
        raise TypeError(f"get_error_string expects an ErrorType, got {error_type!r}")
    return _DESCRIPTIONS[error_type]


_THIS_FILE = __file__


class HyperionError(Exception):
    """Base of every error hyperion-otel raises on purpose.

    Attributes: ``type`` (ErrorType), ``message``, ``file``/``line``/``function`` (where the
    error was constructed, see the module doc), ``trace_id``/``span_id`` (hex strings of the
    span active then, or ``None`` outside a span) and ``timestamp`` (Unix seconds).
    Extra keyword arguments are kept in ``details`` and become log/span attributes.
    """

    error_type: ErrorType = ErrorType.INTERNAL

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
        self.file: str = frame.f_code.co_filename
        self.line: int = frame.f_lineno
        self.function: str = frame.f_code.co_qualname if hasattr(frame.f_code, "co_qualname") else frame.f_code.co_name
        ctx = trace.get_current_span().get_span_context()
        self.trace_id: str | None = format(ctx.trace_id, "032x") if ctx.is_valid else None
        self.span_id: str | None = format(ctx.span_id, "016x") if ctx.is_valid else None

    def __str__(self) -> str:
        return f"[{self.type.name}] {self.message}"

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, at {self.file}:{self.line} in {self.function})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Keep errors picklable across multiprocessing boundaries; location is re-derived.
        return (_rebuild, (type(self), self.message, self.details, self.__dict__))


def _rebuild(cls: type[HyperionError], message: str, details: dict[str, Any], state: dict[str, Any]) -> HyperionError:
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
