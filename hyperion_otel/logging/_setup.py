"""The contract functions: they configure the ``hyperion`` logger tree, and undo it all.

State lives in one module-level object guarded by one lock. The first call that changes
anything records how it found the loggers it touches (level, propagate) and the TRACE
level name; ``shutdown_logging()`` removes every handler installed here, closes them
(joining the compression thread) and restores exactly that.

``propagate``: while any hyperion output is installed the ``hyperion`` logger does not
propagate to the root logger, so an application whose root logger has its own console
or OTel handler does not get every hyperion record twice. Pass ``propagate=True`` to
``apply_logging_settings`` to also feed root handlers (pytest's ``caplog`` for one).
"""

from __future__ import annotations

import logging as _stdlib_logging
import os
import sys
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field

from hyperion_otel._seams.files import make_parent_dirs
from hyperion_otel.errors import HyperionIOError, InvalidInputError, public
from hyperion_otel.logging._console import ConsoleHandler
from hyperion_otel.logging._file import LogFileHandler
from hyperion_otel.logging._json import JsonFormatter
from hyperion_otel.logging._otlp import OtlpHandler
from hyperion_otel.logging._record import STANDARD_ATTRS
from hyperion_otel.logging._text import TextFormatter
from hyperion_otel.logging._types import (
    CATEGORY_OFF_LEVEL,
    ROOT_LOGGER_NAME,
    TRACE,
    LogCategory,
    LogConfig,
    LogFormat,
    LogLevel,
    LogOutput,
    LogRotationConfig,
)

__all__ = [
    "DEFAULT_LOG_FILE",
    "apply_logging_settings",
    "configure_log_rotation",
    "configure_logging",
    "configure_structured_logging",
    "enable_memory_logging",
    "enable_model_logging",
    "enable_performance_logging",
    "force_flush_logging",
    "get_logger",
    "log_error",
    "set_log_file",
    "set_log_level",
    "shutdown_logging",
]

DEFAULT_LOG_FILE = "hyperion.log"
_SWITCHABLE = (LogCategory.MEMORY, LogCategory.PERFORMANCE, LogCategory.MODEL)
_OUTPUTS = (LogOutput.CONSOLE, LogOutput.FILE, LogOutput.OTLP)


@dataclass
class _State:
    found_loggers: dict[str, tuple[int, bool]] = field(default_factory=dict)
    found_trace_names: tuple[str | None, int | None] | None = None
    outputs: LogOutput = field(default_factory=lambda: LogOutput(0))
    file_path: str | None = None
    structured: LogConfig = field(default_factory=LogConfig)
    file_format: LogFormat = LogFormat.JSON
    console_format: LogFormat = LogFormat.TEXT
    rotation: LogRotationConfig = field(default_factory=LogRotationConfig)
    propagate: bool = False
    handlers: dict[LogOutput, _stdlib_logging.Handler] = field(default_factory=dict)
    formatter_keys: dict[LogOutput, tuple[object, ...]] = field(default_factory=dict)


_lock = threading.RLock()
_state = _State()


# --- remembering and restoring what we found ----------------------------------------------
def _touch(*names: str) -> None:
    """Record the as-found state of loggers ``names`` (and TRACE) before changing them."""
    if _state.found_trace_names is None:
        level_to_name: dict[int, str] = getattr(_stdlib_logging, "_levelToName")  # noqa: B009
        name_to_level: dict[str, int] = getattr(_stdlib_logging, "_nameToLevel")  # noqa: B009
        _state.found_trace_names = (level_to_name.get(TRACE), name_to_level.get("TRACE"))
        _stdlib_logging.addLevelName(TRACE, "TRACE")
    for name in names:
        if name not in _state.found_loggers:
            lg = _stdlib_logging.getLogger(name)
            _state.found_loggers[name] = (lg.level, lg.propagate)


def _restore_found() -> None:
    for name, (level, propagate) in _state.found_loggers.items():
        lg = _stdlib_logging.getLogger(name)
        lg.setLevel(level)
        lg.propagate = propagate
    if _state.found_trace_names is not None:
        # The stdlib has no removeLevelName: restore its two registries under its lock.
        old_name, old_level = _state.found_trace_names
        level_to_name: dict[int, str] = getattr(_stdlib_logging, "_levelToName")  # noqa: B009
        name_to_level: dict[str, int] = getattr(_stdlib_logging, "_nameToLevel")  # noqa: B009
        with getattr(_stdlib_logging, "_lock"):  # noqa: B009
            if old_name is None:
                level_to_name.pop(TRACE, None)
            else:
                level_to_name[TRACE] = old_name
            if old_level is None:
                name_to_level.pop("TRACE", None)
            else:
                name_to_level["TRACE"] = old_level


# --- handlers ------------------------------------------------------------------------------
def _formatter(fmt: LogFormat, cfg: LogConfig) -> _stdlib_logging.Formatter:
    cls = JsonFormatter if fmt is LogFormat.JSON else TextFormatter
    return cls(include_timestamp=cfg.include_timestamp, include_thread_id=cfg.include_thread_id)


def _file_path() -> str:
    return _state.file_path or os.path.abspath(DEFAULT_LOG_FILE)


def _set_formatter(out: LogOutput, handler: _stdlib_logging.Handler, fmt: LogFormat) -> None:
    key = (fmt, _state.structured.include_timestamp, _state.structured.include_thread_id)
    if _state.formatter_keys.get(out) != key:
        handler.setFormatter(_formatter(fmt, _state.structured))
        _state.formatter_keys[out] = key


def _new_handler(out: LogOutput) -> _stdlib_logging.Handler:
    if out is LogOutput.CONSOLE:
        return ConsoleHandler()
    if out is LogOutput.FILE:
        rot = _state.rotation
        return LogFileHandler(
            _file_path(), max_bytes=rot.max_bytes, max_files=rot.max_files, compress=rot.compress
        )
    return OtlpHandler()


def _sync() -> None:
    """Make the installed handlers match ``_state`` (in place where possible)."""
    root = _stdlib_logging.getLogger(ROOT_LOGGER_NAME)
    _touch(ROOT_LOGGER_NAME)
    for out in _OUTPUTS:
        handler = _state.handlers.get(out)
        if out in _state.outputs:
            if isinstance(handler, LogFileHandler) and handler.path != _file_path():
                _remove(out)
                handler = None
            if handler is None:
                handler = _new_handler(out)
                _state.formatter_keys.pop(out, None)
                _state.handlers[out] = handler
                root.addHandler(handler)
            if out is LogOutput.CONSOLE:
                _set_formatter(out, handler, _state.console_format)
            elif isinstance(handler, LogFileHandler):
                _set_formatter(out, handler, _state.file_format)
                rot = _state.rotation
                handler.set_rotation(rot.max_bytes, rot.max_files, rot.compress)
        elif handler is not None:
            _remove(out)
    found_propagate = _state.found_loggers[ROOT_LOGGER_NAME][1]
    if _state.handlers:
        root.propagate = _state.propagate
        if root.level == _stdlib_logging.NOTSET:
            root.setLevel(_stdlib_logging.INFO)  # outputs on but no level chosen: INFO
    else:
        root.propagate = found_propagate


def _remove(out: LogOutput, timeout_s: float | None = None) -> None:
    handler = _state.handlers.pop(out)
    _state.formatter_keys.pop(out, None)
    _stdlib_logging.getLogger(ROOT_LOGGER_NAME).removeHandler(handler)
    if timeout_s is not None and isinstance(handler, LogFileHandler):
        handler.close_timeout_s = timeout_s
    handler.close()


# --- the contract ----------------------------------------------------------------------------
@public
def set_log_level(level: LogLevel | str) -> None:
    """Level of the ``hyperion`` logger (categories inherit it unless disabled)."""
    lv = LogLevel.parse(level)
    with _lock:
        _touch(ROOT_LOGGER_NAME)
        _stdlib_logging.getLogger(ROOT_LOGGER_NAME).setLevel(lv.stdlib)


@public
def configure_logging(outputs: LogOutput | str | Iterable[str]) -> None:
    """Send hyperion records to exactly ``outputs`` (``LogOutput.FILE | LogOutput.CONSOLE``)."""
    flag = LogOutput.parse(outputs)
    with _lock:
        _state.outputs = flag
        _sync()


@public
def set_log_file(path: str | os.PathLike[str]) -> None:
    """Write the FILE output to ``path`` (creating its directory) and turn FILE output on."""
    full = _check_log_path(path)
    with _lock:
        _state.file_path = full
        _state.outputs |= LogOutput.FILE
        _sync()


def _check_log_path(path: object) -> str:
    if not isinstance(path, (str, os.PathLike)) or not os.fspath(path):
        raise InvalidInputError(f"log file {path!r} is not valid; expected a file path")
    full = os.path.abspath(os.fspath(path))
    if not isinstance(full, str):
        raise InvalidInputError(f"log file {path!r} is not valid; expected a str path")
    if os.path.isdir(full):
        raise InvalidInputError(f"log file {full!r} is a directory; expected a file path")
    try:
        make_parent_dirs(full)
    except OSError as exc:
        raise HyperionIOError(
            f"cannot create the directory of log file {full!r}: {exc.strerror or exc}"
        ) from exc
    return full


def _enable(category: LogCategory, on: bool) -> None:
    if not isinstance(on, bool):
        raise InvalidInputError(
            f"expected True or False to switch {category.value} logging, got {on!r}"
        )
    with _lock:
        _touch(category.logger_name)
        level = _stdlib_logging.NOTSET if on else CATEGORY_OFF_LEVEL
        _stdlib_logging.getLogger(category.logger_name).setLevel(level)


@public
def enable_memory_logging(on: bool = True) -> None:
    """Turn ``hyperion.memory`` records on (inherit the hyperion level) or off."""
    _enable(LogCategory.MEMORY, on)


@public
def enable_performance_logging(on: bool = True) -> None:
    """Turn ``hyperion.performance`` records on (inherit the hyperion level) or off."""
    _enable(LogCategory.PERFORMANCE, on)


@public
def enable_model_logging(on: bool = True) -> None:
    """Turn ``hyperion.model`` records on (inherit the hyperion level) or off."""
    _enable(LogCategory.MODEL, on)


@public
def configure_structured_logging(
    config: LogConfig, outputs: LogOutput = LogOutput.CONSOLE | LogOutput.FILE
) -> None:
    """Format and optional fields of records; ``config.format`` applies to ``outputs``."""
    if not isinstance(config, LogConfig):
        raise InvalidInputError(f"expected a LogConfig, got {config!r}")
    with _lock:
        _state.structured = config
        if LogOutput.CONSOLE in outputs:
            _state.console_format = config.format
        if LogOutput.FILE in outputs:
            _state.file_format = config.format
        _state.formatter_keys.clear()
        _sync()


@public
def configure_log_rotation(config: LogRotationConfig) -> None:
    """Size, number and compression of log files; applies to the FILE output now and later."""
    if not isinstance(config, LogRotationConfig):
        raise InvalidInputError(f"expected a LogRotationConfig, got {config!r}")
    with _lock:
        _state.rotation = config
        _sync()


@public
def get_logger(category: LogCategory | str = LogCategory.GENERAL) -> _stdlib_logging.Logger:
    """Stdlib logger of a category, or of any name, such as ``get_logger(__name__)``.

    A category (a ``LogCategory`` or its name: general, memory, performance, model) gives
    ``hyperion`` (GENERAL) or ``hyperion.<category>``, switched by the category settings. Any
    other name ``n`` gives ``hyperion.<n>`` (a name already under ``hyperion`` is kept): it
    reaches every configured output at the configured level, with category ``general``.
    """
    if isinstance(category, LogCategory):
        return _stdlib_logging.getLogger(category.logger_name)
    if not isinstance(category, str) or not category.strip():
        raise InvalidInputError(
            f"get_logger expects a LogCategory or a non-empty logger name, got {category!r}",
            field="category",
        )
    try:
        return _stdlib_logging.getLogger(LogCategory(category.strip().lower()).logger_name)
    except ValueError:
        pass
    name = category.strip()
    if name != ROOT_LOGGER_NAME and not name.startswith(ROOT_LOGGER_NAME + "."):
        name = f"{ROOT_LOGGER_NAME}.{name}"
    return _stdlib_logging.getLogger(name)


@public
def log_error(message: str, *args: object, **attributes: object) -> None:
    """ERROR record on ``hyperion`` with ``attributes`` as fields; inside ``except`` the
    exception being handled is attached. Attribute names that clash with LogRecord
    fields get a trailing ``_``."""
    lg = _stdlib_logging.getLogger(ROOT_LOGGER_NAME)
    if not lg.isEnabledFor(_stdlib_logging.ERROR):
        return
    exc = sys.exc_info()
    extra = {(k + "_" if k in STANDARD_ATTRS else k): v for k, v in attributes.items()}
    lg.error(
        message,
        *args,
        exc_info=exc if exc[0] is not None else None,
        stacklevel=3,  # the caller's line: past this function and its public boundary
        extra=extra or None,
    )


def apply_logging_settings(
    *,
    level: LogLevel | str = LogLevel.INFO,
    outputs: LogOutput | str | Iterable[str] = LogOutput.CONSOLE,
    file: str | os.PathLike[str] | None = None,
    file_format: LogFormat | str = LogFormat.JSON,
    console_format: LogFormat | str = LogFormat.TEXT,
    categories: str | Iterable[LogCategory | str] | None = None,
    max_size_mb: float = 100.0,
    max_files: int = 5,
    compress: bool = True,
    include_timestamp: bool = True,
    include_thread_id: bool = False,
    propagate: bool = False,
) -> None:
    """Everything at once from plain values (what ``configure()`` passes from Settings).

    ``categories``: names among memory/performance/model, or ``"all"``/``"none"``; those
    not named are turned off; ``None`` leaves them as they are. Invalid values raise
    before anything changes. Calling it again reconfigures in place.
    """
    lv = LogLevel.parse(level)
    flag = LogOutput.parse(outputs)
    ffmt, cfmt = LogFormat.parse(file_format), LogFormat.parse(console_format)
    rotation = LogRotationConfig(max_size_mb, max_files, compress)
    structured = LogConfig(ffmt, include_timestamp, include_thread_id)
    enabled = _parse_categories(categories)
    path = _check_log_path(file) if file is not None and LogOutput.FILE in flag else None
    with _lock:
        _touch(ROOT_LOGGER_NAME, *(c.logger_name for c in _SWITCHABLE))
        _stdlib_logging.getLogger(ROOT_LOGGER_NAME).setLevel(lv.stdlib)
        if enabled is not None:
            for cat in _SWITCHABLE:
                _enable(cat, cat in enabled)
        _state.outputs, _state.rotation, _state.structured = flag, rotation, structured
        _state.file_format, _state.console_format = ffmt, cfmt
        _state.propagate = bool(propagate)
        if path is not None:
            _state.file_path = path
        _sync()


def _parse_categories(
    categories: str | Iterable[LogCategory | str] | None,
) -> set[LogCategory] | None:
    if categories is None:
        return None
    items = categories.split(",") if isinstance(categories, str) else list(categories)
    names = {c.value if isinstance(c, LogCategory) else str(c).strip().lower() for c in items}
    names.discard("")
    if "all" in names:
        return set(_SWITCHABLE)
    if "none" in names:
        return set()
    return {LogCategory.parse(n) for n in names} - {LogCategory.GENERAL}


def force_flush_logging(timeout_s: float = 10.0) -> bool:
    """Wait until rotated files are compressed; records themselves are never buffered."""
    with _lock:
        handler = _state.handlers.get(LogOutput.FILE)
    return handler.wait_archived(timeout_s) if isinstance(handler, LogFileHandler) else True


def shutdown_logging(timeout_s: float = 5.0) -> None:
    """Remove and close every handler installed here (the compression thread gets up to
    ``timeout_s``) and restore the loggers and the TRACE level name as they were found."""
    global _state
    with _lock:
        for out in list(_state.handlers):
            _remove(out, timeout_s)
        _restore_found()
        _state = _State()
