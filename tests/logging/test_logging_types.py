"""Levels, outputs, categories, formats and config validation."""

from __future__ import annotations

import logging

import pytest

from hyperion_otel.errors import InvalidInputError
from hyperion_otel.logging import (
    LogCategory,
    LogConfig,
    LogFormat,
    LogLevel,
    LogOutput,
    LogRotationConfig,
)
from hyperion_otel.logging._types import severity_of


def test_levels_carry_otel_severity_numbers_and_stdlib_levels() -> None:
    assert [(lv.name, lv.value, lv.stdlib) for lv in LogLevel] == [
        ("TRACE", 1, 5),
        ("DEBUG", 5, logging.DEBUG),
        ("INFO", 9, logging.INFO),
        ("WARN", 13, logging.WARNING),
        ("ERROR", 17, logging.ERROR),
        ("FATAL", 21, logging.CRITICAL),
    ]
    assert LogLevel.WARN.severity_number == 13


@pytest.mark.parametrize(
    ("text", "level"),
    [
        ("trace", LogLevel.TRACE),
        ("DEBUG", LogLevel.DEBUG),
        (" Info ", LogLevel.INFO),
        ("warn", LogLevel.WARN),
        ("warning", LogLevel.WARN),
        ("error", LogLevel.ERROR),
        ("fatal", LogLevel.FATAL),
        ("critical", LogLevel.FATAL),
        (LogLevel.INFO, LogLevel.INFO),
    ],
)
def test_level_parse(text: str, level: LogLevel) -> None:
    assert LogLevel.parse(text) is level


@pytest.mark.parametrize("bad", ["verbose", "", 20, None])
def test_level_parse_rejects_with_the_allowed_names(bad: object) -> None:
    with pytest.raises(InvalidInputError, match="trace, debug, info, warn, error, fatal"):
        LogLevel.parse(bad)  # type: ignore[arg-type]


def test_severity_of_stdlib_levels_follows_the_otel_table() -> None:
    assert severity_of(5) == (1, "TRACE")
    assert severity_of(logging.DEBUG) == (5, "DEBUG")
    assert severity_of(logging.INFO) == (9, "INFO")
    assert severity_of(25) == (12, "INFO4")
    assert severity_of(21) == (10, "INFO2")
    assert severity_of(logging.WARNING) == (13, "WARN")
    assert severity_of(logging.ERROR) == (17, "ERROR")
    assert severity_of(logging.CRITICAL) == (21, "FATAL")
    assert severity_of(99) == (21, "FATAL")


def test_output_flag_parses_names_and_lists() -> None:
    both = LogOutput.CONSOLE | LogOutput.FILE
    assert LogOutput.parse("console,file") == both
    assert LogOutput.parse({"file", "console"}) == both
    assert LogOutput.parse("otlp") == LogOutput.OTLP
    assert LogOutput.parse("none") == LogOutput(0)
    assert LogOutput.parse(both) is both
    with pytest.raises(InvalidInputError, match=r"'syslog'.*console, file or otlp"):
        LogOutput.parse("console,syslog")


def test_category_logger_names() -> None:
    assert LogCategory.GENERAL.logger_name == "hyperion"
    assert LogCategory.MEMORY.logger_name == "hyperion.memory"
    assert LogCategory.PERFORMANCE.logger_name == "hyperion.performance"
    assert LogCategory.MODEL.logger_name == "hyperion.model"
    assert LogCategory.parse("Model") is LogCategory.MODEL
    with pytest.raises(InvalidInputError, match="'gpu'"):
        LogCategory.parse("gpu")


def test_log_config_defaults_and_validation() -> None:
    cfg = LogConfig()
    assert (cfg.format, cfg.include_timestamp, cfg.include_thread_id) == (
        LogFormat.JSON,
        True,
        False,
    )
    assert LogConfig(format="text").format is LogFormat.TEXT  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match=r"LogConfig\.format='xml'"):
        LogConfig(format="xml")  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="include_thread_id"):
        LogConfig(include_thread_id="yes")  # type: ignore[arg-type]


def test_rotation_config_defaults_and_validation() -> None:
    cfg = LogRotationConfig()
    assert (cfg.max_size_mb, cfg.max_files, cfg.compress) == (100.0, 5, True)
    assert LogRotationConfig(max_size_mb=0.5).max_bytes == 512 * 1024
    assert LogRotationConfig(max_size_mb=0).max_bytes == 0
    with pytest.raises(InvalidInputError, match="max_size_mb=-1"):
        LogRotationConfig(max_size_mb=-1)
    with pytest.raises(InvalidInputError, match="max_size_mb=nan"):
        LogRotationConfig(max_size_mb=float("nan"))
    with pytest.raises(InvalidInputError, match="max_files=0"):
        LogRotationConfig(max_files=0)
    with pytest.raises(InvalidInputError, match=r"max_files=2\.5"):
        LogRotationConfig(max_files=2.5)  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="compress"):
        LogRotationConfig(compress=1)  # type: ignore[arg-type]
