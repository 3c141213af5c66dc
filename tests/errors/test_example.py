"""examples/errors.py runs standalone, handles every provoked error by its type, exits 0."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "errors.py"


def test_errors_example_runs_and_matches_each_error_type() -> None:
    proc = subprocess.run(
        [sys.executable, str(EXAMPLE)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=EXAMPLE.parents[1],
    )
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for line in (
        "[MODEL]",
        "[INVALID_INPUT] invalid GenerationConfig.temperature: expected a finite number >= 0",
        "[INVALID_INPUT] invalid prompt[2]: expected a token id in [0, 256), got 300",
        "[CONFIG] HYPERION_LOG_LEVEL='loud'",
        "[MEMORY] memory pool budget exceeded",
        "action:   model:",
        "action:   memory:",
        "action:   config:",
        "location: examples/errors.py:",
        "cleanups ran in order: ['report written', 'memory pool released']",
        "{'MODEL': 1, 'INVALID_INPUT': 2, 'CONFIG': 1, 'MEMORY': 1}",
    ):
        assert line in out, f"{line!r} missing from:\n{out}"
    assert "Traceback" not in proc.stderr
