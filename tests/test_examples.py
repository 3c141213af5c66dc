"""Every program in examples/ runs to completion (each is also a piece of documentation)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.py"))


def test_examples_exist() -> None:
    assert EXAMPLES


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_example_runs(example: Path, tmp_path: Path) -> None:
    env = {**os.environ, "HYPERION_OUTPUT_DIR": str(tmp_path / "out")}
    for var in [v for v in env if v.startswith("OTEL_EXPORTER_OTLP")]:
        del env[var]  # examples must work with no backend
    out = subprocess.run(
        [sys.executable, str(example)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert out.returncode == 0, f"{example.name} failed:\n{out.stdout}\n{out.stderr}"
