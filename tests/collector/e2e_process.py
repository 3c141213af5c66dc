"""Processes of the end-to-end tests: a backend server in its own session, and a user's
program (``e2e_generate.py``) configured by environment variables only."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest

REPO = Path(__file__).resolve().parents[2]
GENERATE = Path(__file__).with_name("e2e_generate.py")


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@contextlib.contextmanager
def server(
    argv: list[str],
    env: Mapping[str, str],
    log: Path,
    ready: Callable[[], bool],
    startup_timeout_s: float,
) -> Iterator[subprocess.Popen[bytes]]:
    """``argv`` running in a session of its own until ``ready()``; on exit its whole
    process group gets SIGTERM, then SIGKILL if it is still there after 20 s."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv, env=dict(env), stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )
    try:
        deadline = time.monotonic() + startup_timeout_s
        while not ready():
            if proc.poll() is not None:
                pytest.fail(f"{argv[0]} exited with {proc.returncode}:\n{log.read_text()[-3000:]}")
            if time.monotonic() > deadline:
                pytest.fail(
                    f"{argv[0]} not ready after {startup_timeout_s:.0f} s:\n{log.read_text()[-3000:]}"
                )
            time.sleep(0.5)
        yield proc
    finally:
        _stop_group(proc)


def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    for sig, wait_s in ((signal.SIGTERM, 20.0), (signal.SIGKILL, 10.0)):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            continue
        # The leader is gone; workers it forked may not be.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        return


def run_generate(otel_env: Mapping[str, str], out_dir: Path, prompt: str) -> dict[str, Any]:
    """A user's program: telemetry from ``otel_env`` only, one generate, shutdown."""
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "HYPERION_"))},
        **otel_env,
        "HYPERION_OUTPUT_DIR": str(out_dir),
        "HYPERION_LOG_OUTPUT": "file",
        "PYTHONPATH": str(REPO),
    }
    done = subprocess.run(
        [sys.executable, str(GENERATE), prompt],
        env=env,
        cwd=out_dir,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, f"generate failed:\n{done.stdout}\n{done.stderr}"
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result
