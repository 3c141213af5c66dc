"""The error model: ``ErrorType`` and the ``HyperionError`` family. Imports nothing of ours.

Every class here reports ``hyperion_otel.errors`` as its module: that is the name users
import it by, the name in ``error.type`` attributes, and the one pickle looks up.
"""

from __future__ import annotations

import enum
import os
import re
import sys
import time
from types import FrameType
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
    "one_line",
    "skip_frames_of",
]

# Frames inside this package (constructors, record_error, the boundary wrappers of public
# calls) are skipped when an error names where it arose; so are frames of the files that
# ``skip_frames_of`` registered (helpers that build errors for their caller).
_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__)) + os.sep
_HELPER_FILES: set[str] = set()


def skip_frames_of(file: str) -> None:
    """Let errors built in ``file`` (a helper such as the input validators) point past it."""
    _HELPER_FILES.add(file)


def _skipped(frame: FrameType) -> bool:
    name = frame.f_code.co_filename
    return name.startswith(_PACKAGE_DIR) or name in _HELPER_FILES


# Attribute that record_error leaves on a recorded exception; dropped when pickling.
_MARK = "_hyperion_recorded"
_NEWLINES = re.compile(r"\s*[\r\n]+\s*")


def one_line(text: str) -> str:
    """``text`` with line breaks folded to single spaces."""
    return _NEWLINES.sub(" ", text).strip()


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
        while frame.f_back is not None and _skipped(frame):
            frame = frame.f_back
        # `stacklevel - 1` frames further out, not counting boundary wrappers of public calls.
        for _ in range(stacklevel - 1):
            if frame.f_back is None:
                break
            frame = frame.f_back
            while frame.f_back is not None and frame.f_code.co_filename.startswith(_PACKAGE_DIR):
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
        return f"[{self.type.name}] {one_line(self.message)}"

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


for _cls in (
    HyperionError,
    HyperionMemoryError,
    PerformanceError,
    ModelError,
    InvalidInputError,
    HyperionIOError,
    ConfigError,
    ResourceLimitError,
    ErrorType,
):
    _cls.__module__ = "hyperion_otel.errors"
