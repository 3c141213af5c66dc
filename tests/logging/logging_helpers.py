"""Reading back everything a rotating log file left on disk."""

from __future__ import annotations

import gzip
import json
import logging
import os
import re
from typing import Any

from hyperion_otel.logging._rotlock import lock_path

_BACKUP = r"\.\d{8}T\d{6}\.\d{6}Z(\.gz)?"


def log_files(path: str) -> list[str]:
    """The live file and every rotated (plain or .gz) file of ``path``."""
    directory, base = os.path.split(path)
    pattern = re.compile(re.escape(base) + f"({_BACKUP})?")
    return sorted(os.path.join(directory, f) for f in os.listdir(directory) if pattern.fullmatch(f))


def read_lines(path: str) -> list[bytes]:
    """Every line of every log file of ``path`` (each .gz must decompress)."""
    lines: list[bytes] = []
    for f in log_files(path):
        if f.endswith(".gz"):
            with gzip.open(f, "rb") as fh:
                data = fh.read()
        else:
            with open(f, "rb") as fh:
                data = fh.read()
        assert not data or data.endswith(b"\n"), f"{f} ends with a torn line"
        lines.extend(data.splitlines())
    return lines


def read_records(path: str) -> list[dict[str, Any]]:
    """Every record of every log file, each line parsed as JSON (fails on a torn line)."""
    return [json.loads(line) for line in read_lines(path)]


def stray_files(path: str) -> list[str]:
    """Files next to the log that are neither log files nor the lock (temporaries, trash)."""
    directory, base = os.path.split(path)
    keep = set(log_files(path)) | {lock_path(path)}
    return sorted(
        os.path.join(directory, f)
        for f in os.listdir(directory)
        if f.startswith(base) and os.path.join(directory, f) not in keep
    )


_WATCHED = ("", "hyperion", "hyperion.memory", "hyperion.performance", "hyperion.model")


def logger_state() -> dict[str, object]:
    """What a test must not change: handlers, levels, propagate flags, TRACE's name."""
    state: dict[str, object] = {}
    for name in _WATCHED:
        lg = logging.getLogger(name)
        # pytest's own capture handlers come and go around each test (pytest >= 9.2 also puts
        # them on loggers that do not propagate); they are not ours to restore.
        ours = [h for h in lg.handlers if type(h).__module__ != "_pytest.logging"]
        state[name] = (ours, lg.level, lg.propagate, list(lg.filters), lg.disabled)
    state["level 5"] = logging.getLevelName(5)
    state["TRACE"] = logging.getLevelName("TRACE")
    return state
