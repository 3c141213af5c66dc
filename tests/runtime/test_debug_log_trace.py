"""``--debug`` step records keep their trace: every "generation step N" record, in the JSON
log file and in the OTLP-JSON logs, carries the trace and span ids of the span its step ran
in (step 0: the generate span, where prefill sampled it; step N >= 1: the decode step span
with ``hyperion.step = N``), streaming or not. Checked on the files of a real CLI run."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from hyperion_otel import semconv

from otlp_decode import flatten, parse_otlp_json

ROOT = Path(__file__).resolve().parents[2]
_STEP = re.compile(r"generation step (\d+):")


def _read(path: Path, signal: str) -> list:
    out = []
    for line in path.read_text().splitlines():
        out += flatten(signal, parse_otlp_json(signal, line))  # type: ignore[arg-type]
    return out


@pytest.mark.parametrize("stream", [False, True])
def test_every_step_record_carries_the_ids_of_its_span(tmp_path: Path, stream: bool) -> None:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "HYPERION_OUTPUT_DIR": str(tmp_path),
        "HYPERION_LOG_OUTPUT": "file,otlp",
    }
    env.pop("OTEL_EXPORTER_OTLP_ENDPOINT", None)
    args = ["generate", "--model", "builtin:tiny", "--prompt", "ab", "--max-new-tokens", "6"]
    args += ["--seed", "3", "--debug", *(["--stream"] if stream else [])]
    proc = subprocess.run(
        [sys.executable, "-m", "hyperion_otel", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    spans = _read(tmp_path / "traces.jsonl", "traces")
    (gen,) = [s for s in spans if s.attributes.get(semconv.GEN_AI_OPERATION_NAME)]
    (prefill,) = [s for s in spans if s.name == semconv.SPAN_PREFILL]
    want = {0: (prefill.trace_id, prefill.span_id)}  # step 0 is sampled in prefill
    for s in spans:
        if s.name == semconv.SPAN_DECODE_STEP:
            want[int(s.attributes[semconv.HYPERION_STEP])] = (s.trace_id, s.span_id)
    output_tokens = gen.attributes[semconv.GEN_AI_USAGE_OUTPUT_TOKENS]
    assert sorted(want) == list(range(output_tokens))

    otlp = {}
    for rec in _read(tmp_path / "logs.jsonl", "logs"):
        m = _STEP.match(str(rec.body))
        if m:
            otlp[int(m.group(1))] = (rec.trace_id, rec.span_id)
    assert otlp == want

    file_records = {}
    for line in (tmp_path / "hyperion.log").read_text().splitlines():
        rec = json.loads(line)
        m = _STEP.match(rec.get("message", rec.get("body", "")))
        if m:
            file_records[int(m.group(1))] = (rec.get("trace_id"), rec.get("span_id"))
    assert file_records == want
