"""examples/resource_limits.py runs standalone on the built-in model and exits 0."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "resource_limits.py"


@pytest.mark.parametrize("model", ["builtin", "checkpoint"])
def test_example_shows_limits_usage_and_a_refusal(model: str, small_path: Path) -> None:
    args = [] if model == "builtin" else [str(small_path)]
    out = subprocess.run(
        [sys.executable, str(EXAMPLE), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    text = out.stdout
    assert "limits:   cpu 50 %" in text and "threads 1" in text
    assert "blas threads 1" in text
    assert "refused:  [RESOURCE] memory limit exceeded before a unit of work" in text
