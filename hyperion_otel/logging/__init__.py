"""The logging system of the guide, on stdlib ``logging``, correlated with traces.

Loggers: ``hyperion`` (GENERAL) and its children ``hyperion.memory``,
``hyperion.performance``, ``hyperion.model`` (``get_logger(category)``); facilities may use
deeper children (``hyperion.memory.pool``), whose category is still the second name.
Handlers attach to ``hyperion`` only, never to the root logger, so ``logging.config`` and
third-party handlers keep working; the formatters (:class:`JsonFormatter`,
:class:`TextFormatter`) and handlers (:class:`LogFileHandler`, :class:`ConsoleHandler`,
:class:`OtlpHandler`) are usable on their own too.

Outputs: CONSOLE (readable text on stderr, JSON on request), FILE (JSON lines by default,
rotated by size, rotated files gzipped on a background thread; see ``_file`` for how
threads and processes share one file safely), OTLP (the OTel Logs API through
``_telemetry.logger()``, guarded against exporter recursion).

Importing this package changes nothing; the first configuring call records what it
changes and ``shutdown_logging()`` restores it.
"""

from __future__ import annotations

from hyperion_otel.logging._console import ConsoleHandler
from hyperion_otel.logging._faults import fault_counts
from hyperion_otel.logging._file import LogFileHandler
from hyperion_otel.logging._json import JsonFormatter
from hyperion_otel.logging._otlp import OtlpHandler
from hyperion_otel.logging._setup import (
    DEFAULT_LOG_FILE,
    apply_logging_settings,
    configure_log_rotation,
    configure_logging,
    configure_structured_logging,
    enable_memory_logging,
    enable_model_logging,
    enable_performance_logging,
    force_flush_logging,
    get_logger,
    log_error,
    set_log_file,
    set_log_level,
    shutdown_logging,
)
from hyperion_otel.logging._text import TextFormatter
from hyperion_otel.logging._types import (
    LogCategory,
    LogConfig,
    LogFormat,
    LogLevel,
    LogOutput,
    LogRotationConfig,
)

__all__ = [
    "DEFAULT_LOG_FILE",
    "ConsoleHandler",
    "JsonFormatter",
    "LogCategory",
    "LogConfig",
    "LogFileHandler",
    "LogFormat",
    "LogLevel",
    "LogOutput",
    "LogRotationConfig",
    "OtlpHandler",
    "TextFormatter",
    "apply_logging_settings",
    "configure_log_rotation",
    "configure_logging",
    "configure_structured_logging",
    "enable_memory_logging",
    "enable_model_logging",
    "enable_performance_logging",
    "fault_counts",
    "force_flush_logging",
    "get_logger",
    "log_error",
    "set_log_file",
    "set_log_level",
    "shutdown_logging",
]
