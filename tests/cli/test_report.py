"""``hyperion-otel report``: a real run's local telemetry (made in a subprocess by
``make_run.py``) becomes one self-contained HTML page whose sections and SVG plots hold
that run's data."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from hyperion_otel.cli import main
from hyperion_otel.report import SECTIONS, build_report
from hyperion_otel.report._profile import load_profile

ROOT = Path(__file__).resolve().parents[2]
SVG_NS = "{http://www.w3.org/2000/svg}"


@pytest.fixture(scope="module")
def run_dir(tiny_model: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run") / "out"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "HYPERION_"))}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).with_name("make_run.py")), str(tiny_model), str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return out


def svgs(html: str) -> list[ET.Element]:
    return [ET.fromstring(s) for s in re.findall(r"<svg\b.*?</svg>", html, re.S)]


def section(html: str, sid: str) -> str:
    m = re.search(rf'<section id="{sid}">(.*?)</section>', html, re.S)
    assert m, sid
    return m.group(1)


def test_report_of_a_run(run_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "report.html"
    assert (
        main(
            ["report", str(run_dir), "-o", str(target), "--profile", str(run_dir / "profile.json")]
        )
        == 0
    )
    assert str(target) in capsys.readouterr().out
    html = target.read_text(encoding="utf-8")

    for sid, title in SECTIONS:
        assert f'<section id="{sid}"><h2>{title}</h2>' in html
    # Self-contained: no script, no external resource of any kind.
    assert "<script" not in html and "<link" not in html and "<img" not in html
    assert not re.search(r'(src|href)="(https?:)?//', html)
    for svg in svgs(html):  # each plot is well-formed XML in the SVG namespace
        assert svg.tag == f"{SVG_NS}svg" and svg.get("viewBox")

    timeline = section(html, "timeline")
    assert "#7 tiny" in timeline  # six requests, the failed one, and the profiled one
    assert len(svgs(timeline)) == 1
    assert len(svgs(section(html, "token-latency"))) >= 1
    assert "requests; p50" in section(html, "ttft")
    memory = section(html, "memory")
    assert "hyperion.memory.pool.usage" in memory
    polylines = [e for s in svgs(memory) for e in s.iter(f"{SVG_NS}polyline")]
    assert polylines, "memory over time needs several export points"
    allocations = section(html, "allocations")
    assert "make_run.py:" in allocations and "6" in allocations  # the site of the kept arrays
    hotspots = section(html, "hotspots")
    (flame,) = svgs(hotspots)
    names = {t.text for t in flame.iter(f"{SVG_NS}title")}
    assert any(n and "generate" in n for n in names), names
    errors = section(html, "errors")
    assert "InvalidInputError" in errors and "expected a token id in" in errors


def test_default_directory_comes_from_the_settings(
    run_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HYPERION_OUTPUT_DIR", str(run_dir))
    monkeypatch.delenv("HYPERION_LOG_FILE", raising=False)
    assert main(["report"]) == 0
    html = (run_dir / "report.html").read_text(encoding="utf-8")
    assert str(run_dir / "hyperion.log") in html  # the log file was read too
    # The newest profile is the speedscope copy: its flame chart is drawn as well.
    assert "profile.speedscope.json (speedscope)" in section(html, "hotspots")


def test_speedscope_and_chrome_give_the_same_stacks(run_dir: Path) -> None:
    chrome = load_profile(str(run_dir / "profile.json"))
    speedscope = load_profile(str(run_dir / "profile.speedscope.json"))
    assert chrome.slices and speedscope.slices
    top = {s.name for s in chrome.slices if s.depth == 0}
    assert top == {s.name for s in speedscope.slices if s.depth == 0}
    # Callers above callees: every slice at depth d > 0 lies inside one at depth d - 1.
    for s in chrome.slices:
        if s.depth:
            assert any(
                p.depth == s.depth - 1
                and p.start_us - 0.01 <= s.start_us
                and s.start_us + s.dur_us <= p.start_us + p.dur_us + 0.01
                for p in chrome.slices
            )


def test_empty_directory_explains_each_missing_piece(tmp_path: Path) -> None:
    html = build_report(tmp_path)
    for sid, _ in SECTIONS:
        assert 'class="empty"' in section(html, sid)
    assert "hyperion-otel profile" in section(html, "hotspots")
    assert f"no telemetry files found in {tmp_path}" in html


def test_garbage_lines_are_skipped_and_counted(run_dir: Path, tmp_path: Path) -> None:
    (tmp_path / "traces.jsonl").write_text(
        (run_dir / "traces.jsonl").read_text(encoding="utf-8") + 'not json\n{"half": \n',
        encoding="utf-8",
    )
    html = build_report(tmp_path)
    assert "2 line(s) of traces.jsonl were not OTLP/JSON" in html
    assert "#6 tiny" in section(html, "timeline")


def test_missing_directory_is_a_clean_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["report", str(tmp_path / "nope")]) == 1
    err = capsys.readouterr().err
    assert "does not exist" in err and "Traceback" not in err
