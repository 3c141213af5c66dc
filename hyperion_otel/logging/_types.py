"""Levels, outputs, categories, formats and the two config dataclasses of the logging system.

Only values and their validation live here; nothing in this module touches a logger.
"""

from __future__ import annotations

import enum
import logging as _stdlib_logging
from collections.abc import Iterable
from dataclasses import dataclass

from hyperion_otel.errors import InvalidInputError, public

__all__ = [
    "CATEGORY_OFF_LEVEL",
    "ROOT_LOGGER_NAME",
    "TRACE",
    "LogCategory",
    "LogConfig",
    "LogFormat",
    "LogLevel",
    "LogOutput",
    "LogRotationConfig",
    "severity_of",
]

TRACE = 5  # stdlib level number used for LogLevel.TRACE (below DEBUG=10)
ROOT_LOGGER_NAME = "hyperion"
# A disabled category logger gets a level no record reaches (records are at most FATAL=50,
# custom levels included in practice).
CATEGORY_OFF_LEVEL = 1_000_000


class LogLevel(enum.Enum):
    """Log level; the value is the OTel severity number, ``.stdlib`` the stdlib level."""

    TRACE = 1
    DEBUG = 5
    INFO = 9
    WARN = 13
    ERROR = 17
    FATAL = 21

    @property
    def severity_number(self) -> int:
        return self.value

    @property
    def stdlib(self) -> int:
        return _STDLIB_OF[self]

    @classmethod
    def parse(cls, value: LogLevel | str) -> LogLevel:
        """``LogLevel`` from itself or a case-insensitive name (``warning``/``critical`` too)."""
        if isinstance(value, LogLevel):
            return value
        if isinstance(value, str):
            found = _BY_NAME.get(value.strip().lower())
            if found is not None:
                return found
        raise InvalidInputError(
            f"log level {value!r} is not valid; expected a LogLevel or one of "
            "trace, debug, info, warn, error, fatal",
            value=repr(value),
        )


_STDLIB_OF = {
    LogLevel.TRACE: TRACE,
    LogLevel.DEBUG: _stdlib_logging.DEBUG,
    LogLevel.INFO: _stdlib_logging.INFO,
    LogLevel.WARN: _stdlib_logging.WARNING,
    LogLevel.ERROR: _stdlib_logging.ERROR,
    LogLevel.FATAL: _stdlib_logging.CRITICAL,
}
_BY_NAME = {lv.name.lower(): lv for lv in LogLevel} | {
    "warning": LogLevel.WARN,
    "critical": LogLevel.FATAL,
}

# OTel severity (number, short text) for every stdlib level number 0..59: a level between
# two stdlib levels maps to the 2nd..4th step of the lower one (15 -> DEBUG4, 25 -> INFO4),
# as the OTel log data model's "displaying severity" table names them.
_BASES = (
    (0, 1, "TRACE"),
    (10, 5, "DEBUG"),
    (20, 9, "INFO"),
    (30, 13, "WARN"),
    (40, 17, "ERROR"),
    (50, 21, "FATAL"),
)


def _severity_row(levelno: int) -> tuple[int, str]:
    start, number, text = next(b for b in reversed(_BASES) if levelno >= b[0])
    anchor = TRACE if start == 0 else start
    step = min(3, max(0, levelno - anchor))
    return number + step, text if step == 0 else f"{text}{step + 1}"


_SEVERITY = tuple(_severity_row(n) for n in range(60))


def severity_of(levelno: int) -> tuple[int, str]:
    """OTel ``(severity_number, severity_text)`` for a stdlib level number."""
    if 0 <= levelno < 60:
        return _SEVERITY[levelno]
    return (21, "FATAL") if levelno >= 60 else (1, "TRACE")


class LogOutput(enum.Flag):
    """Where records go; combine with ``|``."""

    CONSOLE = enum.auto()
    FILE = enum.auto()
    OTLP = enum.auto()

    @classmethod
    def parse(cls, names: LogOutput | str | Iterable[str]) -> LogOutput:
        """Flag from itself, a comma list (``"console,file"``) or an iterable of names."""
        if isinstance(names, LogOutput):
            return names
        items = names.split(",") if isinstance(names, str) else list(names)
        flag = cls(0)
        for raw in items:
            name = str(raw).strip().lower()
            if not name or name == "none":
                continue
            try:
                flag |= cls[name.upper()]
            except KeyError:
                raise InvalidInputError(
                    f"log output {raw!r} is not valid; expected console, file or otlp",
                    value=repr(raw),
                ) from None
        return flag


class LogCategory(enum.Enum):
    """Category of a log record; each is the stdlib logger ``hyperion.<value>``."""

    GENERAL = "general"
    MEMORY = "memory"
    PERFORMANCE = "performance"
    MODEL = "model"

    @property
    def logger_name(self) -> str:
        if self is LogCategory.GENERAL:
            return ROOT_LOGGER_NAME
        return f"{ROOT_LOGGER_NAME}.{self.value}"

    @classmethod
    def parse(cls, value: LogCategory | str) -> LogCategory:
        if isinstance(value, LogCategory):
            return value
        if isinstance(value, str):
            try:
                return cls(value.strip().lower())
            except ValueError:
                pass
        raise InvalidInputError(
            f"log category {value!r} is not valid; expected a LogCategory or one of "
            "general, memory, performance, model",
            value=repr(value),
        )


class LogFormat(enum.Enum):
    TEXT = "text"
    JSON = "json"

    @classmethod
    def parse(cls, value: LogFormat | str) -> LogFormat:
        if isinstance(value, LogFormat):
            return value
        if isinstance(value, str):
            try:
                return cls(value.strip().lower())
            except ValueError:
                pass
        raise InvalidInputError(
            f"log format {value!r} is not valid; expected text or json", value=repr(value)
        )


@public
@dataclass(frozen=True)
class LogConfig:
    """Structured logging: record format and optional fields (guide: Structured Logging)."""

    format: LogFormat = LogFormat.JSON
    include_timestamp: bool = True
    include_thread_id: bool = False

    def __post_init__(self) -> None:
        given: object = self.format
        if not isinstance(given, LogFormat):
            try:
                fmt = LogFormat.parse(given)  # type: ignore[arg-type]
            except InvalidInputError:
                raise InvalidInputError(
                    f"LogConfig.format={self.format!r} is not valid; expected LogFormat.TEXT "
                    "or LogFormat.JSON (or 'text'/'json')"
                ) from None
            object.__setattr__(self, "format", fmt)
        for name in ("include_timestamp", "include_thread_id"):
            if not isinstance(getattr(self, name), bool):
                raise InvalidInputError(
                    f"LogConfig.{name}={getattr(self, name)!r} is not valid; expected True or False"
                )


@public
@dataclass(frozen=True)
class LogRotationConfig:
    """Size-based rotation of the log file (guide: Log Rotation).

    ``max_size_mb`` is in MiB (fractions allowed, 0 turns rotation off); ``max_files``
    counts the live file plus the rotated ones kept; ``compress`` gzips rotated files in
    the background.
    """

    max_size_mb: float = 100.0
    max_files: int = 5
    compress: bool = True

    def __post_init__(self) -> None:
        size = self.max_size_mb
        if isinstance(size, bool) or not isinstance(size, (int, float)) or not size >= 0:
            raise InvalidInputError(
                f"LogRotationConfig.max_size_mb={size!r} is not valid; expected a number >= 0 (MiB)"
            )
        files = self.max_files
        if isinstance(files, bool) or not isinstance(files, int) or files < 1:
            raise InvalidInputError(
                f"LogRotationConfig.max_files={files!r} is not valid; expected an integer >= 1"
            )
        if not isinstance(self.compress, bool):
            raise InvalidInputError(
                f"LogRotationConfig.compress={self.compress!r} is not valid; expected True or False"
            )

    @property
    def max_bytes(self) -> int:
        return int(self.max_size_mb * 1024 * 1024)
