"""Smoke tests of the benchmark runner (``python -m benchmarks``) at its tiny scale.

The figures of a tiny run mean nothing and nothing here asserts on timings: these tests
check that the runner runs benchmarks in child processes, prints one table of figures
against their goals, writes the same as JSON, and that every figure it promises is
actually found in what the benchmarks return (so a renamed result key shows up here,
not as an empty cell in the README table).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


def run_runner(*args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "benchmarks", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def figures_of(report: dict[str, Any], bench: str) -> list[dict[str, Any]]:
    return [f for f in report["figures"] if f["bench"] == bench]


def test_tiny_run_prints_table_and_writes_json(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = run_runner("--tiny", "--only", "library_api,errors", "--json", str(out))
    assert proc.returncode == 0, proc.stdout + proc.stderr

    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["scale"] == "tiny"
    assert set(report["results"]) == {"library_api", "errors"}
    assert report["errors"] == {}
    assert report["machine"]["nproc"] >= 1
    assert report["machine"]["blas"], "threadpoolctl found no BLAS behind numpy"

    lines = proc.stdout.splitlines()
    assert lines[0] == "| figure | value | goal | met? |"
    for bench in ("library_api", "errors"):
        figs = figures_of(report, bench)
        assert figs
        for fig in figs:
            assert isinstance(fig["value"], float), fig
            assert fig["met"] in ((True, False) if fig["goal"] else (None,)), fig
            row = next(line for line in lines if line.startswith(f"| {fig['label']} |"))
            assert fig["shown"] in row
    # Figures of benchmarks that were not selected are left out of the table.
    assert not any("shutdown" in line for line in lines)
    assert "Machine:" in proc.stdout
    assert "[1/2] library_api" in proc.stderr


def test_unknown_benchmark_is_a_usage_error() -> None:
    proc = run_runner("--tiny", "--only", "no_such_bench", timeout=60)
    assert proc.returncode == 2
    assert "no_such_bench" in proc.stderr


@pytest.mark.slow
def test_every_figure_is_found_in_a_tiny_run_of_every_benchmark(tmp_path: Path) -> None:
    out = tmp_path / "bench.json"
    proc = run_runner("--tiny", "--json", str(out), timeout=480)
    report = json.loads(out.read_text(encoding="utf-8"))
    assert proc.returncode == 0, report["errors"]
    # decode and llama_cpp have no tiny scale (they need the full GPT-2-small shape).
    assert report["skipped"] == ["decode", "llama_cpp"]
    for fig in report["figures"]:
        if fig["bench"] not in report["selected"]:
            continue  # the soak runs only when asked for (test_soak.py checks its figures)
        if fig["bench"] in report["skipped"]:
            assert "| " + fig["label"] + " | not run |" in proc.stdout
            continue
        assert fig["value"] is not None, f"{fig['key']}: not in the {fig['bench']} results"


def test_readme_table_lists_exactly_the_runner_figures() -> None:
    """The README's performance table has one row per figure the runner prints, by label
    (so a renamed or redefined figure cannot keep an old row)."""
    from benchmarks.runner import FIGURES

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = text.split("## Performance", 1)[1].split("\n\n| figure | value | goal | met? |", 1)
    rows = [
        line.split(" | ")[0].removeprefix("| ")
        for line in table[1].split("\n\n", 1)[0].splitlines()
        if line.startswith("| ") and not line.startswith("|---")
    ]
    assert sorted(rows) == sorted(f.label for f in FIGURES)
