"""The report of a folder written by several separate CLI runs (the normal case: each run
appends to the files) covers every run: each headline figure and each section's count is
checked against a count made here directly on the OTLP-JSON files."""

from __future__ import annotations

import json
import math
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from hyperion_otel import semconv
from hyperion_otel.report import build_report
from hyperion_otel.report._svg import fmt_bytes, fmt_seconds

ROOT = Path(__file__).resolve().parents[2]
LONG_PROMPT = "x" * 300  # more tokens than builtin:tiny's context: the request fails


def _cli(out: Path, *args: str) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "HYPERION_"))}
    env |= {"PYTHONPATH": str(ROOT), "HYPERION_OUTPUT_DIR": str(out)}
    subprocess.run(
        [sys.executable, "-m", "hyperion_otel", "generate", "--model", "builtin:tiny", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("runs") / "out"
    _cli(out, "--prompt", "Hello", "--max-new-tokens", "8", "--seed", "1")
    _cli(out, "--prompt", "Hello", "--max-new-tokens", "5", "--seed", "2", "--stream")
    _cli(out, "--prompt", "Hello", "--max-new-tokens", "6", "--debug")
    _cli(out, "--prompt", LONG_PROMPT)
    return out


def _spans(folder: Path) -> list[dict]:
    out = []
    for line in (folder / "traces.jsonl").read_text().splitlines():
        for rs in json.loads(line)["resourceSpans"]:
            for ss in rs["scopeSpans"]:
                for s in ss["spans"]:
                    s["attrs"] = {
                        a["key"]: next(iter(a["value"].values())) for a in s.get("attributes", [])
                    }
                    out.append(s)
    return out


def _logs(folder: Path) -> list[dict]:
    out = []
    for line in (folder / "logs.jsonl").read_text().splitlines():
        for rl in json.loads(line)["resourceLogs"]:
            for sl in rl["scopeLogs"]:
                out += sl["logRecords"]
    return out


def _card(html: str, label: str) -> str:
    m = re.search(rf'<div class="card"><b>([^<]*)</b><span>{re.escape(label)}</span>', html)
    assert m, label
    return m.group(1)


def _section(html: str, sid: str) -> str:
    m = re.search(rf'<section id="{sid}">(.*?)</section>', html, re.S)
    assert m, sid
    return m.group(1)


def _p50(values: list[float]) -> float:
    s = sorted(values)
    return s[max(0, math.ceil(0.5 * len(s)) - 1)]


def test_headline_figures_match_the_raw_files(folder: Path) -> None:
    spans = _spans(folder)
    by_id = {s["spanId"]: s for s in spans}
    requests = [s for s in spans if semconv.GEN_AI_OPERATION_NAME in s["attrs"]]
    assert len({s["traceId"] for s in requests}) == 4  # four processes, four requests
    ok = [s for s in requests if s.get("status", {}).get("code") != 2]
    tokens = sum(int(s["attrs"].get(semconv.GEN_AI_USAGE_OUTPUT_TOKENS, 0)) for s in requests)
    ttfts = [
        (int(d["startTimeUnixNano"]) - int(by_id[d["parentSpanId"]]["startTimeUnixNano"])) / 1e9
        for d in spans
        if d["name"] == semconv.SPAN_DECODE and d.get("parentSpanId") in by_id
    ]
    exceptions = [
        r
        for r in _logs(folder)
        if any(a["key"] == semconv.EXCEPTION_TYPE for a in r.get("attributes", []))
    ]

    html = build_report(folder)
    assert _card(html, "requests") == str(len(requests)) == "4"
    assert _card(html, "output tokens") == str(tokens)
    assert len(ttfts) == len(ok) == 3
    assert _card(html, "TTFT p50") == fmt_seconds(_p50(ttfts))
    assert _card(html, "errors") == str(len(exceptions)) == "1"

    # Token latency covers the tokens of every run, debug or not.
    decode_tokens = sum(int(s["attrs"][semconv.GEN_AI_USAGE_OUTPUT_TOKENS]) - 1 for s in ok)
    latency = _section(html, "token-latency")
    assert f"; {decode_tokens} values;" in latency, latency
    assert "1 request(s) timed per decode step" in latency
    # The TPOT metric: one cumulative series per process, all of them summed.
    with_tpot = sum(1 for s in ok if int(s["attrs"][semconv.GEN_AI_USAGE_OUTPUT_TOKENS]) >= 2)
    assert f"{with_tpot} over every run in the files" in latency

    # Memory: the pool's usage while the work ran, not only the value at shutdown.
    peak = max(
        int(s["attrs"][semconv.HYPERION_MEMORY_PEAK_BYTES])
        for s in spans
        if semconv.HYPERION_MEMORY_PEAK_BYTES in s["attrs"]
    )
    memory = _section(html, "memory")
    assert peak > 0 and f"peak {fmt_bytes(peak)}." in memory, memory
    assert "<svg" in memory and "over 4 run(s)" in memory


def test_one_value_histogram_says_the_value(tmp_path: Path) -> None:
    out = tmp_path / "out"
    _cli(
        out, "--prompt", "Hello", "--max-new-tokens", "2", "--debug"
    )  # one decode step: one latency
    latency = _section(build_report(out), "token-latency")
    assert "All 1 value(s) are" in latency
    assert "token latency histogram" not in latency


def test_coinciding_lines_are_drawn_once_and_said_so() -> None:
    from hyperion_otel.report._html import ReportInput, render
    from hyperion_otel.report._profile import ProfileData
    from hyperion_otel.report._records import RunRecords

    same = [(t * 1000.0, {"used_bytes": 64.0 * t, "live_bytes": 64.0 * t}) for t in range(5)]
    differ = [(t * 1000.0, {"used_bytes": 64.0 * t, "live_bytes": 32.0 * t}) for t in range(5)]
    for counters, merged in ((same, True), (differ, False)):
        prof = ProfileData(path="p.json", format="chrome", counters=counters)
        memory = _section(render(ReportInput(".", RunRecords(), prof)), "memory")
        lines = memory.count("<polyline")
        assert ("used_bytes = live_bytes (the series coincide)" in memory) is merged
        assert lines == (1 if merged else 2), memory
