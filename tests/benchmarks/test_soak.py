"""The soak benchmark, run for a few seconds: every figure of its report is held against
the raw data (the samples it kept, the files on disk, the requests its receiver got).

It runs as ``python benchmarks/bench_soak.py`` in a child process (it installs global
OTel providers), with a tiny log size bound so that the log file rotates several times.
"""

from __future__ import annotations

import gzip
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
MAX_FILES = 3


def _items(signal: str, request: dict[str, Any]) -> int:
    """Spans or log records in one export request, as OTLP JSON."""
    if signal == "traces":
        return sum(
            len(ss.get("spans", []))
            for rs in request.get("resourceSpans", [])
            for ss in rs.get("scopeSpans", [])
        )
    if signal == "logs":
        return sum(
            len(sl.get("logRecords", []))
            for rl in request.get("resourceLogs", [])
            for sl in rl.get("scopeLogs", [])
        )
    return 0


def test_short_soak_report_matches_the_raw_data(tmp_path: Path) -> None:
    out, keep, dump = tmp_path / "soak.json", tmp_path / "out", tmp_path / "requests.jsonl"
    proc = subprocess.run(
        [
            sys.executable,
            "benchmarks/bench_soak.py",
            "--minutes",
            "0.1",
            "--warmup-min",
            "0.03",
            "--sample-s",
            "0.5",
            "--tokens",
            "8",
            "--log-max-size-mb",
            "0.002",
            "--log-max-files",
            str(MAX_FILES),
            "--json",
            str(out),
            "--keep",
            str(keep),
            "--dump",
            str(dump),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    report = json.loads(out.read_text(encoding="utf-8"))

    # Records: what the receiver stored, counted here from its raw requests.
    received = {"traces": 0, "logs": 0}
    for line in dump.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        if row["signal"] in received and row["mode"] == "ok":
            received[row["signal"]] += _items(row["signal"], row["request"])
    assert report["receiver"]["spans"] == received["traces"]
    assert report["receiver"]["logs"] == received["logs"]
    baseline = report["receiver_baseline"]
    assert report["received"] == {
        "spans": received["traces"] - baseline["spans"],
        "logs": received["logs"] - baseline["logs"],
    }
    assert report["emitted"]["spans"] > 0
    assert report["emitted"]["logs"] > 0
    assert report["lost"] == {
        k: report["emitted"][k] - report["received"][k] for k in ("spans", "logs")
    }
    # The exporters' own accounting agrees with the receiver.
    delivered = {s["signal"]: s["delivered"] for s in report["export_stats"]}
    assert delivered["traces"] == received["traces"]
    assert delivered["logs"] == received["logs"]

    # Samples: the figures are computed from them.
    samples = report["samples"]
    after = [s for s in samples if s["t_s"] >= report["warmup_s"]]
    assert len(samples) >= 3 and len(after) >= 2
    t = np.array([s["t_s"] / 60 for s in after])
    rss = np.array([s["rss_mib"] for s in after])
    slope = float(np.polyfit(t, rss, 1)[0])
    assert abs(report["rss_slope_mib_per_min"] - slope) < 1e-6 * max(1.0, abs(slope))
    growth = report["rss_slope_mib_per_min"] * (t[-1] - t[0])
    assert abs(report["rss_growth_mib"] - growth) < 1e-9 * max(1.0, abs(growth))
    for key in ("fds", "threads", "rss_mib"):
        values = [s[key] for s in after]
        assert report[key] == {
            "first": values[0],
            "last": values[-1],
            "min": min(values),
            "max": max(values),
        }
    assert report["generations"] == samples[-1]["generations"] > 0

    # Log files: what is on disk now, listed here; rotation happened and kept its bound.
    pattern = re.compile(r"hyperion\.log\.(\d{8}T\d{6}\.\d{6}Z)(\.gz)?")
    names = os.listdir(keep)
    backups = {m.group(1) for n in names if (m := pattern.fullmatch(n))}
    files = sum(1 for n in names if n == "hyperion.log" or pattern.fullmatch(n))
    assert report["log_files"]["end"]["files"] == files
    assert report["log_files"]["end"]["logs"] == len(backups) + ("hyperion.log" in names)
    assert report["log_files"]["bound"] == MAX_FILES
    assert max(s["logs"] for s in samples) == report["log_files"]["max_logs"]
    assert report["log_files"]["max_logs"] == MAX_FILES  # it rotated past the bound
    assert backups, "the log file never rotated"
    # Every figure the runner shows for the soak is found in the report.
    sys.path.insert(0, str(ROOT))
    try:
        from benchmarks import runner
    finally:
        sys.path.remove(str(ROOT))
    rows = {f["key"]: f for f in runner.figures({"soak": report}) if f["bench"] == "soak"}
    assert len(rows) == 7 and all(f["value"] is not None for f in rows.values()), rows
    assert rows["soak.lost_spans"]["value"] == report["lost"]["spans"]
    assert rows["soak.log_files"]["value"] == report["log_files"]["max_logs"] - MAX_FILES

    gz = [n for n in names if n.endswith(".gz")]
    assert gz, "no rotated file was compressed"
    with gzip.open(keep / gz[0], "rt", encoding="utf-8") as f:
        assert json.loads(f.readline())["message"]
