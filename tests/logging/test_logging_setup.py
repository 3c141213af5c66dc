"""The contract functions, per-category filtering, and leaving the process as found."""

from __future__ import annotations

import io
import logging
import os
import pathlib
import sys

import pytest
from logging_helpers import logger_state, read_records

import hyperion_otel.logging as hl
from hyperion_otel.errors import HyperionIOError, InvalidInputError
from hyperion_otel.logging import (
    ConsoleHandler,
    LogCategory,
    LogConfig,
    LogFileHandler,
    LogFormat,
    LogLevel,
    LogOutput,
    LogRotationConfig,
    OtlpHandler,
)


def hyperion_handlers() -> list[logging.Handler]:
    return list(logging.getLogger("hyperion").handlers)


def test_importing_changes_nothing() -> None:
    import subprocess

    code = (
        "import logging, threading; before = (logging.getLevelName(5), len(threading.enumerate()));"
        "import hyperion_otel.logging;"
        "lg = logging.getLogger('hyperion');"
        "assert (logging.getLevelName(5), len(threading.enumerate())) == before;"
        "assert lg.handlers == [] and lg.level == 0 and lg.propagate"
    )
    subprocess.run(
        [sys.executable, "-c", code], check=True, cwd=str(pathlib.Path(__file__).parents[2])
    )


def test_set_log_level_sets_the_hyperion_logger_and_registers_trace() -> None:
    hl.set_log_level(LogLevel.TRACE)
    assert logging.getLogger("hyperion").level == 5
    assert logging.getLevelName(5) == "TRACE"
    hl.set_log_level("warn")
    assert logging.getLogger("hyperion").level == logging.WARNING
    with pytest.raises(InvalidInputError, match="'loud'"):
        hl.set_log_level("loud")


def test_configure_logging_installs_exactly_the_requested_outputs(tmp_path: pathlib.Path) -> None:
    hl.set_log_file(tmp_path / "a.log")
    assert [type(h) for h in hyperion_handlers()] == [LogFileHandler]
    hl.configure_logging(LogOutput.CONSOLE | LogOutput.FILE | LogOutput.OTLP)
    assert {type(h) for h in hyperion_handlers()} == {ConsoleHandler, LogFileHandler, OtlpHandler}
    hl.configure_logging(LogOutput.CONSOLE)
    assert [type(h) for h in hyperion_handlers()] == [ConsoleHandler]
    hl.configure_logging("file,otlp")
    assert {type(h) for h in hyperion_handlers()} == {LogFileHandler, OtlpHandler}
    hl.configure_logging(LogOutput(0))
    assert hyperion_handlers() == []
    assert logging.getLogger("hyperion").propagate  # back to as found once nothing is installed


def test_guide_sequence_writes_the_chosen_file_only(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """hyperionSetLogLevel / ConfigureLogging(FILE|CONSOLE) / SetLogFile, as the guide orders them."""
    monkeypatch.chdir(tmp_path)
    console = io.StringIO()
    monkeypatch.setattr(sys, "stderr", console)
    hl.set_log_level(LogLevel.DEBUG)
    hl.configure_logging(LogOutput.FILE | LogOutput.CONSOLE)
    hl.set_log_file("hyperion_debug.log")
    hl.get_logger().debug("debugging %s", "on")
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.endswith(".lock")) == [
        "hyperion_debug.log"
    ]
    assert [r["message"] for r in read_records(str(tmp_path / "hyperion_debug.log"))] == [
        "debugging on"
    ]
    assert "DEBUG hyperion  debugging on" in console.getvalue()


def test_set_log_file_validates(tmp_path: pathlib.Path) -> None:
    with pytest.raises(InvalidInputError, match="is a directory"):
        hl.set_log_file(tmp_path)
    with pytest.raises(InvalidInputError, match="expected a file path"):
        hl.set_log_file("")
    blocker = tmp_path / "plainfile"
    blocker.write_text("")
    with pytest.raises(HyperionIOError, match="cannot create the directory"):
        hl.set_log_file(blocker / "sub" / "x.log")
    hl.set_log_file(tmp_path / "new" / "dir" / "x.log")  # missing directories are created
    assert (tmp_path / "new" / "dir").is_dir()


@pytest.fixture
def file_log(tmp_path: pathlib.Path) -> str:
    path = str(tmp_path / "cat.log")
    hl.set_log_file(path)
    hl.set_log_level("info")
    return path


def test_categories_filter_per_category(file_log: str) -> None:
    hl.enable_memory_logging(True)
    hl.enable_performance_logging(False)
    hl.enable_model_logging(True)
    for cat in LogCategory:
        hl.get_logger(cat).info("from %s", cat.value)
    hl.get_logger("memory").getChild("pool").info("from a child of memory")
    hl.get_logger(LogCategory.PERFORMANCE).critical("even fatal is off")
    hl.get_logger(LogCategory.MODEL).debug("below the level")
    got = [(r["category"], r["message"]) for r in read_records(file_log)]
    assert got == [
        ("general", "from general"),
        ("memory", "from memory"),
        ("model", "from model"),
        ("memory", "from a child of memory"),
    ]


def test_a_category_follows_the_global_level_when_enabled(file_log: str) -> None:
    hl.enable_model_logging(False)
    hl.enable_model_logging(True)
    hl.set_log_level("debug")
    hl.get_logger(LogCategory.MODEL).debug("debug now visible")
    assert [r["message"] for r in read_records(file_log)] == ["debug now visible"]


def test_enable_rejects_non_bool() -> None:
    with pytest.raises(InvalidInputError, match="memory"):
        hl.enable_memory_logging("yes")  # type: ignore[arg-type]


def test_get_logger_names() -> None:
    assert hl.get_logger().name == "hyperion"
    assert hl.get_logger(LogCategory.MEMORY).name == "hyperion.memory"
    assert hl.get_logger("performance").name == "hyperion.performance"
    assert hl.get_logger("network").name == "hyperion.network"


def test_structured_logging_config_applies_to_console_and_file(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    console = io.StringIO()
    monkeypatch.setattr(sys, "stderr", console)
    path = str(tmp_path / "s.log")
    hl.set_log_file(path)
    hl.configure_logging(LogOutput.CONSOLE | LogOutput.FILE)
    hl.configure_structured_logging(
        LogConfig(format=LogFormat.JSON, include_timestamp=False, include_thread_id=True)
    )
    hl.get_logger().info("structured")
    (rec,) = read_records(path)
    assert "timestamp" not in rec and rec["thread_name"] == "MainThread"
    import json

    assert json.loads(console.getvalue())["message"] == "structured"  # console JSON on request
    hl.configure_structured_logging(LogConfig(format=LogFormat.TEXT), outputs=LogOutput.CONSOLE)
    hl.get_logger().info("readable")
    assert console.getvalue().splitlines()[-1].endswith("INFO  hyperion  readable")
    with pytest.raises(InvalidInputError):
        hl.configure_structured_logging({"format": "json"})  # type: ignore[arg-type]


def test_configure_log_rotation_applies_to_the_live_handler(tmp_path: pathlib.Path) -> None:
    path = str(tmp_path / "r.log")
    hl.set_log_file(path)
    hl.configure_log_rotation(LogRotationConfig(max_size_mb=0.002, max_files=2, compress=False))
    (handler,) = hyperion_handlers()
    assert isinstance(handler, LogFileHandler)
    assert (handler.max_bytes, handler.max_files, handler.compress) == (2097, 2, False)
    for i in range(100):
        hl.get_logger().warning("line %d %s", i, "w" * 40)
    assert hl.force_flush_logging(10)
    assert (
        len([f for f in os.listdir(tmp_path) if f.startswith("r.log") and not f.endswith(".lock")])
        == 2
    )
    with pytest.raises(InvalidInputError):
        hl.configure_log_rotation(None)  # type: ignore[arg-type]


def test_log_error_records_attributes_and_the_current_exception(file_log: str) -> None:
    try:
        {}["k"]
    except KeyError:
        hl.log_error("Operation failed: %s", "lookup", request_id=7, name="clash")
    hl.log_error("no exception here")
    first, second = read_records(file_log)
    assert first["severity_text"] == "ERROR" and first["logger"] == "hyperion"
    assert first["message"] == "Operation failed: lookup"
    assert first["attributes"] == {"request_id": 7, "name_": "clash"}
    assert first["exception.type"] == "KeyError"
    assert (
        first["code.function.name"] == "test_log_error_records_attributes_and_the_current_exception"
    )
    assert "exception.type" not in second and "attributes" not in second


def test_apply_logging_settings_from_plain_values(tmp_path: pathlib.Path) -> None:
    path = str(tmp_path / "settings.log")
    hl.apply_logging_settings(
        level="debug",
        outputs={"file", "otlp"},
        file=path,
        file_format="json",
        console_format="text",
        categories={"memory"},
        max_size_mb=1,
        max_files=3,
        compress=True,
    )
    assert {type(h) for h in hyperion_handlers()} == {LogFileHandler, OtlpHandler}
    assert logging.getLogger("hyperion").level == logging.DEBUG
    assert logging.getLogger("hyperion.memory").level == logging.NOTSET
    assert logging.getLogger("hyperion.model").level > logging.CRITICAL
    assert not logging.getLogger("hyperion").propagate
    hl.apply_logging_settings(level="info", outputs="console", categories="all")  # in place
    assert [type(h) for h in hyperion_handlers()] == [ConsoleHandler]
    assert logging.getLogger("hyperion.model").level == logging.NOTSET
    with pytest.raises(InvalidInputError):
        hl.apply_logging_settings(outputs="console,pager")
    assert [type(h) for h in hyperion_handlers()] == [ConsoleHandler]  # bad values change nothing


def test_propagate_opt_in_feeds_root_handlers(
    caplog: pytest.LogCaptureFixture, tmp_path: pathlib.Path
) -> None:
    hl.apply_logging_settings(outputs="file", file=str(tmp_path / "p.log"), propagate=True)
    with caplog.at_level(logging.INFO):
        hl.get_logger().info("seen by root too")
    assert "seen by root too" in caplog.text


def test_shutdown_restores_loggers_exactly_as_found(tmp_path: pathlib.Path) -> None:
    lg = logging.getLogger("hyperion")
    mem = logging.getLogger("hyperion.memory")
    lg.setLevel(logging.ERROR)
    mem.setLevel(logging.INFO)
    mem.propagate = False
    try:
        found = logger_state()
        hl.apply_logging_settings(
            level="trace",
            outputs="console,file,otlp",
            file=str(tmp_path / "x.log"),
            categories="none",
        )
        hl.enable_memory_logging(True)
        assert logger_state() != found
        hl.shutdown_logging()
        assert logger_state() == found
        hl.shutdown_logging()  # twice is fine
        assert logger_state() == found
    finally:
        lg.setLevel(logging.NOTSET)
        mem.setLevel(logging.NOTSET)
        mem.propagate = True


def test_shutdown_leaves_no_thread_and_no_open_file(tmp_path: pathlib.Path) -> None:
    import threading

    threads_before = set(threading.enumerate())
    fds_before = set(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else set()
    hl.apply_logging_settings(
        outputs="file", file=str(tmp_path / "t.log"), max_size_mb=0.001, max_files=3
    )
    for i in range(50):
        hl.get_logger().info("r %d %s", i, "t" * 50)
    hl.shutdown_logging()
    assert set(threading.enumerate()) == threads_before
    if fds_before:
        assert set(os.listdir("/proc/self/fd")) <= fds_before | {str(i) for i in range(3)}


def test_get_logger_takes_any_name_and_routes_it_under_hyperion() -> None:
    from hyperion_otel.logging._record import category_of

    lg = hl.get_logger("myapp.sub")
    assert lg.name == "hyperion.myapp.sub" and category_of(lg.name) == "general"
    assert logging.getLogger("hyperion") in {lg.parent, lg.parent.parent}
    assert hl.get_logger(__name__).name == f"hyperion.{__name__}"
    assert hl.get_logger("hyperion.engine").name == "hyperion.engine"
    assert hl.get_logger("Memory").name == "hyperion.memory"  # a category name wins
    assert category_of("hyperion.memory.pool") == "memory"
    for bad in ("", "  ", 3):
        with pytest.raises(InvalidInputError):
            hl.get_logger(bad)  # type: ignore[arg-type]
