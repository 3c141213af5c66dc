"""Piped into a reader that stops early (``| head``), each command exits quietly."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from hyperion_otel.cli.main import EXIT_BROKEN_PIPE

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize(
    "args",
    [
        [
            "generate",
            "--model",
            "builtin:tiny",
            "--prompt",
            "Hi",
            "--max-new-tokens",
            "200",
            "--stream",
            "--temperature",
            "0",
        ],
        ["info", "builtin:tiny", "--json"],
        ["doctor", "--json", "--no-model", "--timeout", "0.5"],
    ],
    ids=["generate-stream", "info-json", "doctor-json"],
)
def test_a_closed_pipe_ends_the_command_quietly(args: list[str], tmp_path: Path) -> None:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "HYPERION_"))},
        "HYPERION_OUTPUT_DIR": str(tmp_path / "out"),
        "HYPERION_LOG_OUTPUT": "file",
        "PYTHONPATH": str(REPO),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "hyperion_otel", *args],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # the reader is gone before the command writes its first line
    err = proc.stderr.read().decode(errors="replace")
    code = proc.wait(timeout=120)
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
    assert code == EXIT_BROKEN_PIPE, (code, err)
