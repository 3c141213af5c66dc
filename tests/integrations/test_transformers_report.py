"""A profiled transformers run shows up in ``hyperion-otel report``: its request in the
timeline and its hotspots in the flame chart (a real run in its own process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hyperion_otel.report import build_report
from integrations.tiny import Tiny

ROOT = Path(__file__).resolve().parents[2]

RUN = """
import sys
import torch
from transformers import AutoModelForCausalLM
from hyperion_otel import sdk
from hyperion_otel.integrations.transformers import TransformersInstrumentor
from hyperion_otel.profiler import profiling

out = sys.argv[2]
sdk.configure(output_dir=out, log_outputs=("file",), traces_exporter=("otlp_file",),
              metrics_exporter=("otlp_file",), logs_exporter=("otlp_file",))
TransformersInstrumentor().instrument()
model = AutoModelForCausalLM.from_pretrained(sys.argv[1])
with profiling() as handle:
    model.generate(torch.tensor([[4, 5, 6]]), max_new_tokens=24, min_new_tokens=24,
                   do_sample=False)
handle.profile.save(out + "/profile.json")
print("profile", handle.profile.profile_id)
sdk.shutdown()
"""


@pytest.mark.slow  # a subprocess that imports torch
def test_a_profiled_transformers_run_is_in_the_report(tiny_gpt2: Tiny, tmp_path: Path) -> None:
    out = tmp_path / "out"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OTEL_", "HYPERION_"))}
    env["PYTHONPATH"] = str(ROOT)
    proc = subprocess.run(
        [sys.executable, "-c", RUN, str(tiny_gpt2.path), str(out)],
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    profile_id = proc.stdout.split()[-1]
    spans = [
        span
        for line in (out / "traces.jsonl").read_text().splitlines()
        for rs in json.loads(line)["resourceSpans"]
        for ss in rs["scopeSpans"]
        for span in ss["spans"]
    ]
    (gen,) = [s for s in spans if s["name"] == "text_completion tiny-gpt2"]
    attrs = {a["key"]: a["value"] for a in gen["attributes"]}
    assert attrs["hyperion.profile.id"] == {"stringValue": profile_id}

    html = build_report(out, profile=out / "profile.json")
    timeline = html.split('<section id="timeline">')[1].split("</section>")[0]
    assert "text_completion tiny-gpt2 (3 in, 24 out" in timeline
    hotspots = html.split('<section id="hotspots">')[1].split("</section>")[0]
    assert "modeling_gpt2.py" in hotspots
